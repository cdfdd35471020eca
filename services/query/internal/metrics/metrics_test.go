package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"toptraffic/libs/clock"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/consumer"
	"toptraffic/services/query/internal/metrics"
	"toptraffic/services/query/internal/store"
)

// base is 10:22:05 UTC; the last full minute is 10:21 and the last full hour 09:00.
var base = time.Date(2020, 12, 16, 10, 22, 5, 0, time.UTC)

// apply stores a snapshot of w from partition p, published at the given time.
// The HELP and TYPE lines of each metric, as the registry writes them; the cases below add the
// samples.
const (
	caughtUpHeader = "# HELP toptraffic_query_caught_up 1 once the initial load of the " +
		"snapshots topic is done and statistics are served, else 0.\n" +
		"# TYPE toptraffic_query_caught_up gauge\n"
	snapshotAgeHeader = "# HELP toptraffic_query_snapshot_age_seconds Seconds since the newest " +
		"snapshot of the last full window of each size was published; absent while no " +
		"snapshot of that window is held.\n" +
		"# TYPE toptraffic_query_snapshot_age_seconds gauge\n"
	windowsHeader = "# HELP toptraffic_query_windows Windows held in memory, by size.\n" +
		"# TYPE toptraffic_query_windows gauge\n"
	recordsHeader = "# HELP toptraffic_query_snapshot_records_total Snapshots-topic records " +
		"read, by result: applied, stale (a newer snapshot of the window and partition is " +
		"held), expired (past retention), malformed, tombstone.\n" +
		"# TYPE toptraffic_query_snapshot_records_total counter\n"
)

func apply(t *testing.T, st *store.Store, w window.Window, p int, published time.Time) {
	t.Helper()
	res := st.Apply(&snapshot.Snapshot{
		Size: w.Size, Start: w.Start, Partition: p, Partitions: 2, Offset: 1,
		Top:         []topk.Entry{{Domain: "a.com", Count: topk.CountOf(1)}},
		PublishedAt: published.UnixMilli(),
	})
	if res != store.Applied {
		t.Fatalf("apply %s/%d: %v", w, p, res)
	}
}

func TestStoreMetricsAtScrapeTime(t *testing.T) {
	t.Parallel()
	minute := window.LastFull(window.Minute, base)
	hour := window.LastFull(window.Hour, base)
	tests := []struct {
		name     string
		now      time.Time
		caughtUp bool
		want     string
	}{
		{
			name: "ages measured from the newest snapshot of each last full window",
			now:  base, caughtUp: true,
			want: "\n" + caughtUpHeader + `toptraffic_query_caught_up 1
` + snapshotAgeHeader + `toptraffic_query_snapshot_age_seconds{size="hour"} 1500.5
toptraffic_query_snapshot_age_seconds{size="minute"} 3
` + windowsHeader + `toptraffic_query_windows{size="hour"} 1
toptraffic_query_windows{size="minute"} 3
`,
		},
		{
			name: "the clock is read at scrape time",
			now:  base.Add(10 * time.Second), caughtUp: true,
			want: "\n" + caughtUpHeader + `toptraffic_query_caught_up 1
` + snapshotAgeHeader + `toptraffic_query_snapshot_age_seconds{size="hour"} 1510.5
toptraffic_query_snapshot_age_seconds{size="minute"} 13
` + windowsHeader + `toptraffic_query_windows{size="hour"} 1
toptraffic_query_windows{size="minute"} 3
`,
		},
		{
			name: "the next minute turns last full at its edge, before the catch-up",
			now:  base.Add(time.Minute), caughtUp: false,
			want: "\n" + caughtUpHeader + `toptraffic_query_caught_up 0
` + snapshotAgeHeader + `toptraffic_query_snapshot_age_seconds{size="minute"} 5
toptraffic_query_snapshot_age_seconds{size="hour"} 1560.5
` + windowsHeader + `toptraffic_query_windows{size="hour"} 1
toptraffic_query_windows{size="minute"} 3
`,
		},
		{
			name: "no age while the last full minute has no snapshot",
			now:  base.Add(2 * time.Minute), caughtUp: true,
			want: "\n" + caughtUpHeader + `toptraffic_query_caught_up 1
` + snapshotAgeHeader + `toptraffic_query_snapshot_age_seconds{size="hour"} 1620.5
` + windowsHeader + `toptraffic_query_windows{size="hour"} 1
toptraffic_query_windows{size="minute"} 3
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(base)
			st := store.New(clk, 25*time.Hour)
			// Minute 10:21 from two partitions (the newer publication counts), the current
			// minute 10:22, the minute 10:20 and the hour 09:00.
			apply(t, st, minute, 0, base.Add(-5*time.Second))
			apply(t, st, minute, 1, base.Add(-3*time.Second))
			apply(t, st, window.At(window.Minute, base), 0, base.Add(55*time.Second))
			apply(t, st, window.At(window.Minute, base.Add(-2*time.Minute)), 0, base)
			apply(t, st, hour, 0, base.Add(-1500*time.Second-500*time.Millisecond))
			if tt.caughtUp {
				st.MarkCaughtUp()
			}
			m := metrics.New(st, clk)
			clk.Set(tt.now)

			err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(tt.want),
				"toptraffic_query_caught_up",
				"toptraffic_query_snapshot_age_seconds",
				"toptraffic_query_windows",
			)
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEventMetrics(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(base)
	m := metrics.New(store.New(clk, time.Hour), clk)
	m.RecordRead(consumer.OutcomeApplied)
	m.RecordRead(consumer.OutcomeApplied)
	m.RecordRead(consumer.OutcomeStale)
	m.RecordRead(consumer.OutcomeMalformed)
	m.ObserveRequest("/api/stats/minute", 200, 300*time.Microsecond)
	m.ObserveRequest("/api/stats/minute", 400, 2*time.Millisecond)
	m.ObserveRequest("unmatched", 404, 50*time.Microsecond)

	want := "\n" + recordsHeader + `toptraffic_query_snapshot_records_total{result="applied"} 2
toptraffic_query_snapshot_records_total{result="expired"} 0
toptraffic_query_snapshot_records_total{result="malformed"} 1
toptraffic_query_snapshot_records_total{result="stale"} 1
toptraffic_query_snapshot_records_total{result="tombstone"} 0
# HELP toptraffic_query_http_requests_total HTTP requests answered, by route pattern and status code.
# TYPE toptraffic_query_http_requests_total counter
toptraffic_query_http_requests_total{route="/api/stats/minute",status="200"} 1
toptraffic_query_http_requests_total{route="/api/stats/minute",status="400"} 1
toptraffic_query_http_requests_total{route="unmatched",status="404"} 1
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"toptraffic_query_snapshot_records_total",
		"toptraffic_query_http_requests_total",
	)
	if err != nil {
		t.Error(err)
	}

	// The latency buckets resolve sub-millisecond answers: 300µs and 2ms fall in different
	// buckets, which the default buckets (from 5ms) would not tell apart.
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	buckets := map[float64]uint64{}
	for _, f := range families {
		if f.GetName() != "toptraffic_query_http_request_duration_seconds" {
			continue
		}
		for _, metric := range f.GetMetric() {
			if metric.GetLabel()[0].GetValue() != "/api/stats/minute" {
				continue
			}
			for _, b := range metric.GetHistogram().GetBucket() {
				buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
		}
	}
	for bound, want := range map[float64]uint64{0.00025: 0, 0.0005: 1, 0.001: 1, 0.0025: 2} {
		if got := buckets[bound]; got != want {
			t.Errorf("requests up to %gs = %d, want %d", bound, got, want)
		}
	}
}

func TestMetricNamesFollowTheConventions(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(base)
	m := metrics.New(store.New(clk, time.Hour), clk)
	m.ObserveRequest("/healthz", 200, time.Millisecond)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "toptraffic_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
