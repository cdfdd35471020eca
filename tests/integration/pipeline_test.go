package integration

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"toptraffic/tests/harness"
)

// avoidMinuteEdge waits out the last seconds of a minute, so the counters a test posts into the
// last full minute are still in it when the test reads the statistics.
func avoidMinuteEdge(t *testing.T, margin time.Duration) {
	t.Helper()
	for {
		now := time.Now().UTC()
		if now.Sub(now.Truncate(time.Minute)) < time.Minute-margin {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPipelineEndToEnd(t *testing.T) {
	s := harness.NewStack(t, harness.Options{Env: []string{"ALLOWED_LATENESS=3h"}})
	avoidMinuteEdge(t, 15*time.Second)

	now := time.Now().UTC()
	lastMinute := now.Truncate(time.Minute).Add(-time.Minute)
	lastHour := now.Truncate(time.Hour).Add(-time.Hour)
	var counters []harness.Counter
	add := func(ts time.Time, counts map[string]uint64) {
		counters = append(counters, harness.Counter{Timestamp: ts.Unix(), Counts: counts})
	}
	// Twelve domains in the last full minute, repeated across sources so sums matter.
	for i := range 12 {
		for src := range 3 {
			add(lastMinute.Add(time.Duration(i*4+src)*time.Second), map[string]uint64{
				fmt.Sprintf("site%02d.com", i): uint64(10*(12-i) + src),
				"shared.com":                   1,
			})
		}
	}
	// site09.com sums to 93 as well: the tenth place is a three-way tie the domain name breaks.
	add(lastMinute.Add(59*time.Second), map[string]uint64{"tie-a.com": 93, "Tie-B.com": 93})
	// Decoys: the current minute and an older minute must not show up in lastMinute.
	add(now, map[string]uint64{"current.com": 100000})
	add(lastMinute.Add(-time.Second), map[string]uint64{"older.com": 100000})
	// The last full hour, plus a decoy from the hour before it.
	for i := range 15 {
		add(lastHour.Add(time.Duration(i)*4*time.Minute), map[string]uint64{
			fmt.Sprintf("hourly%02d.com", i): uint64(1000 + 37*i),
			"site00.com":                     5,
		})
	}
	add(lastHour.Add(-time.Second), map[string]uint64{"previous-hour.com": 1 << 40})

	var worst time.Duration
	for _, c := range counters {
		began := time.Now()
		status, body, err := s.Post(c.JSON())
		if err != nil || status != http.StatusOK {
			t.Fatalf("POST %s = %d %s, %v; want 200", c.JSON(), status, body, err)
		}
		worst = max(worst, time.Since(began))
	}
	posted := time.Now()
	t.Logf("posted %d counters, slowest POST %v", len(counters), worst)

	tests := []struct {
		name  string
		path  string
		start time.Time
		size  time.Duration
	}{
		{name: "last full minute", path: "lastMinute", start: lastMinute, size: time.Minute},
		{name: "last full hour", path: "lastHour", start: lastHour, size: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := harness.TopTen(harness.Expected(counters, tt.start, tt.size))
			if len(want) != 10 {
				t.Fatalf("test data gives %d domains for %s, want a full top ten", len(want), tt.path)
			}
			var got harness.Stats
			harness.Eventually(t, 10*time.Second, func() error {
				var err error
				got, err = s.GetStats(tt.path)
				if err != nil {
					return err
				}
				if got.Status != http.StatusOK {
					return fmt.Errorf("GET %s: %d %s", tt.path, got.Status, got.Raw)
				}
				if !reflect.DeepEqual(got.Top, want) {
					return fmt.Errorf("GET %s = %v, want %v", tt.path, got.Top, want)
				}
				return nil
			})
			t.Logf("%s visible %v after the last POST", tt.path, time.Since(posted))
			if !got.WindowStart.Equal(tt.start) {
				t.Errorf("X-Window-Start = %v, want %v", got.WindowStart, tt.start)
			}
		})
	}
}
