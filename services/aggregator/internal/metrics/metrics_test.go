package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"toptraffic/services/aggregator/internal/rollup"
)

func TestOutcomeCountsBySizeAndOutcome(t *testing.T) {
	tests := []struct {
		name      string
		sizeIndex int
		outcome   rollup.Outcome
		window    string
		label     string
	}{
		{name: "counted in the minute", sizeIndex: 0, outcome: rollup.Counted,
			window: "minute", label: "counted"},
		{name: "late for the minute", sizeIndex: 0, outcome: rollup.Late,
			window: "minute", label: "late"},
		{name: "hour already closed", sizeIndex: 1, outcome: rollup.Closed,
			window: "hour", label: "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			hooks := m.Hooks()

			hooks.Outcome(3, tt.sizeIndex, tt.outcome)
			hooks.Outcome(7, tt.sizeIndex, tt.outcome)
			// Out of range, as a future window size or outcome would be: ignored, no panic.
			hooks.Outcome(3, 5, tt.outcome)
			hooks.Outcome(3, tt.sizeIndex, rollup.Outcome(9))

			want := `
# HELP toptraffic_aggregator_records_total Records read, by window size and outcome: ` +
				`counted, late (arrived after the window's end plus the allowed lateness) or ` +
				`closed (the window had closed).
# TYPE toptraffic_aggregator_records_total counter
`
			for _, w := range []string{"hour", "minute"} {
				for _, o := range []string{"closed", "counted", "late"} {
					v := "0"
					if w == tt.window && o == tt.label {
						v = "2"
					}
					want += `toptraffic_aggregator_records_total{outcome="` + o +
						`",window="` + w + `"} ` + v + "\n"
				}
			}
			err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
				"toptraffic_aggregator_records_total")
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPartitionSeriesUntilReleased(t *testing.T) {
	m := New()
	hooks := m.Hooks()

	hooks.Lag(0, 12)
	hooks.Lag(11, 400)
	hooks.Lag(11, 250)
	hooks.OpenWindows(11, 4)
	hooks.OpenWindows(0, 2)

	checkPartitionSeries(t, m, map[string]float64{
		`lag{partition="0"}`:           12,
		`lag{partition="11"}`:          250,
		`open_windows{partition="0"}`:  2,
		`open_windows{partition="11"}`: 4,
	})

	hooks.Released(11)
	checkPartitionSeries(t, m, map[string]float64{
		`lag{partition="0"}`:          12,
		`open_windows{partition="0"}`: 2,
	})

	// The partition comes back, to this worker or after a runner restart: fresh series,
	// both of them, and no windows open until its first flush says otherwise.
	hooks.Lag(11, 7)
	checkPartitionSeries(t, m, map[string]float64{
		`lag{partition="0"}`:           12,
		`lag{partition="11"}`:          7,
		`open_windows{partition="0"}`:  2,
		`open_windows{partition="11"}`: 0,
	})
}

func TestPartitionBeyondTheCache(t *testing.T) {
	m := New()
	hooks := m.Hooks()

	hooks.Lag(cachedPartitions+1, 5)
	hooks.Lag(cachedPartitions+1, 6)
	checkPartitionSeries(t, m, map[string]float64{
		`lag{partition="1025"}`:          6,
		`open_windows{partition="1025"}`: 0,
	})

	hooks.Released(cachedPartitions + 1)
	checkPartitionSeries(t, m, map[string]float64{})
}

// checkPartitionSeries compares the per-partition gauges with want, keyed by the name without
// its namespace and the partition label.
func checkPartitionSeries(t *testing.T, m *Metrics, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		name, ok := strings.CutPrefix(f.GetName(), namespace+"_")
		if !ok || (name != "consumer_lag_records" && name != "open_windows") {
			continue
		}
		short := strings.TrimSuffix(strings.TrimPrefix(name, "consumer_"), "_records")
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "partition" {
					got[short+`{partition="`+l.GetValue()+`"}`] = s.GetGauge().GetValue()
				}
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("series = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestPublishedAndAssigned(t *testing.T) {
	m := New()
	hooks := m.Hooks()

	hooks.Published(2, 5, 30*time.Millisecond)
	hooks.Published(4, 3, 2*time.Second)

	if got := testutil.ToFloat64(m.snapshots); got != 8 {
		t.Errorf("snapshots_published_total = %v, want 8", got)
	}
	if got := testutil.CollectAndCount(m.publishTook); got != 1 {
		t.Errorf("%d publish duration series, want 1", got)
	}
	want := `
# HELP toptraffic_aggregator_assigned_partitions Partitions of the counters topic assigned ` +
		`to this worker.
# TYPE toptraffic_aggregator_assigned_partitions gauge
toptraffic_aggregator_assigned_partitions 0
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"toptraffic_aggregator_assigned_partitions")
	if err != nil {
		t.Errorf("before the group exists: %v", err)
	}

	m.TrackAssignment(func() []int { return []int{1, 5, 9} })
	err = testutil.GatherAndCompare(m.Registry(),
		strings.NewReader(strings.Replace(want, "partitions 0", "partitions 3", 1)),
		"toptraffic_aggregator_assigned_partitions")
	if err != nil {
		t.Errorf("with three partitions: %v", err)
	}
}

func TestHandlerServesRuntimeAndOwnSeries(t *testing.T) {
	m := New()
	m.Hooks().Lag(3, 9)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	body := rec.Body.String()
	for _, want := range []string{
		`toptraffic_aggregator_consumer_lag_records{partition="3"} 9`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// The Outcome hook runs twice per record (minute and hour) on every partition's goroutine.
func BenchmarkOutcome(b *testing.B) {
	m := New()
	hook := m.Hooks().Outcome
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hook(3, i&1, rollup.Outcome(i%3))
	}
}

// BenchmarkOutcomeParallel is the same with every core adding at once, as twelve busy
// partitions would.
func BenchmarkOutcomeParallel(b *testing.B) {
	m := New()
	hook := m.Hooks().Outcome
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			hook(3, i&1, rollup.Counted)
			i++
		}
	})
}

// BenchmarkRecordHooks is everything the runner calls per record: two outcomes and a lag.
func BenchmarkRecordHooks(b *testing.B) {
	m := New()
	h := m.Hooks()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Outcome(3, 0, rollup.Counted)
		h.Outcome(3, 1, rollup.Counted)
		h.Lag(3, int64(i))
	}
}
