// Package metrics is the aggregator's Prometheus instrumentation, fed by the partition
// runners' hooks: what happened to each record per window size, how far each owned partition
// lags, how many windows it holds open, and how long publishing snapshots takes.
//
// The record hooks run for every record, at hundreds of thousands a second, so their series are
// resolved once and kept: an outcome is one atomic add, a lag one atomic store, and neither
// allocates. Per-partition series exist only while this worker owns the partition; Released
// removes them so that a partition that moved to another worker leaves no stale lag behind.
//
// The series live in a registry of the aggregator's own, not in the global default one.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"toptraffic/libs/window"
	"toptraffic/services/aggregator/internal/partition"
	"toptraffic/services/aggregator/internal/rollup"
)

const namespace = "toptraffic_aggregator"

// cachedPartitions is how many partitions get their series kept in a slot for the record
// hooks; a partition numbered higher still works, looking its series up on every call.
const cachedPartitions = 1024

// outcomeNames are the outcome label values, indexed by rollup.Outcome.
var outcomeNames = [...]string{
	rollup.Counted: "counted",
	rollup.Late:    "late",
	rollup.Closed:  "closed",
}

// publishBuckets span a quick acknowledgement to a broker that needs retries.
var publishBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Metrics holds the aggregator's series. Build it with New; its methods are safe for
// concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	// outcomes is indexed by window size (the order of window.Sizes), then rollup.Outcome.
	outcomes    [][len(outcomeNames)]prometheus.Counter
	lag         *prometheus.GaugeVec
	openWindows *prometheus.GaugeVec
	publishTook prometheus.Histogram
	snapshots   prometheus.Counter

	// parts[p] holds partition p's series while they exist. Readers load without locking;
	// mu orders creating them against deleting them.
	parts [cachedPartitions]atomic.Pointer[partitionSeries]
	mu    sync.Mutex

	// assigned reports the partitions of the current generation, once the group exists.
	assigned atomic.Pointer[func() []int]
}

// partitionSeries are one partition's resolved series.
type partitionSeries struct {
	lag         prometheus.Gauge
	openWindows prometheus.Gauge
}

// New registers the aggregator's series, with the Go runtime and process collectors, in a
// registry of its own.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := promauto.With(reg)
	m := &Metrics{
		registry: reg,
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "consumer_lag_records",
			Help: "Records between the last one read and the end of the partition, per " +
				"partition this worker owns.",
		}, []string{"partition"}),
		openWindows: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "open_windows",
			Help:      "Windows held open, per partition this worker owns.",
		}, []string{"partition"}),
		publishTook: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "snapshot_publish_duration_seconds",
			Help:      "Time to publish one flush's snapshots until the broker acknowledged them.",
			Buckets:   publishBuckets,
		}),
		snapshots: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "snapshots_published_total",
			Help:      "Snapshots the broker acknowledged.",
		}),
	}
	records := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "records_total",
		Help: "Records read, by window size and outcome: counted, late (arrived after the " +
			"window's end plus the allowed lateness) or closed (the window had closed).",
	}, []string{"window", "outcome"})
	m.outcomes = make([][len(outcomeNames)]prometheus.Counter, len(window.Sizes))
	for i, size := range window.Sizes {
		for o, name := range outcomeNames {
			m.outcomes[i][o] = records.WithLabelValues(size.String(), name)
		}
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "assigned_partitions",
		Help:      "Partitions of the counters topic assigned to this worker.",
	}, m.assignedCount)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// Counts failed scrapes in the registry itself instead of failing silently.
		Registry: m.registry,
	})
}

// Registry is where the series live, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Hooks returns the partition runner hooks that feed the series.
func (m *Metrics) Hooks() partition.Hooks {
	return partition.Hooks{
		Outcome:     m.Outcome,
		Published:   m.Published,
		Lag:         m.Lag,
		OpenWindows: m.OpenWindows,
		Released:    m.Released,
	}
}

// TrackAssignment makes assigned_partitions report len(assigned()) from now on.
func (m *Metrics) TrackAssignment(assigned func() []int) {
	m.assigned.Store(&assigned)
}

func (m *Metrics) assignedCount() float64 {
	f := m.assigned.Load()
	if f == nil {
		return 0
	}
	return float64(len((*f)()))
}

// Outcome counts what happened to one record in one window size. It is called for every
// record and size, so it only indexes an array and adds.
func (m *Metrics) Outcome(_ int, sizeIndex int, o rollup.Outcome) {
	if uint(sizeIndex) < uint(len(m.outcomes)) && uint(o) < uint(len(outcomeNames)) {
		m.outcomes[sizeIndex][o].Inc()
	}
}

// Lag sets a partition's consumer lag. It is called for every record.
func (m *Metrics) Lag(p int, lag int64) {
	m.series(p).lag.Set(float64(lag))
}

// OpenWindows sets how many windows a partition holds open.
func (m *Metrics) OpenWindows(p int, n int) {
	m.series(p).openWindows.Set(float64(n))
}

// Published records one successful publish of n snapshots.
func (m *Metrics) Published(_ int, n int, took time.Duration) {
	m.snapshots.Add(float64(n))
	m.publishTook.Observe(took.Seconds())
}

// Released deletes a partition's series: the worker no longer owns it, and its last lag would
// otherwise be reported for as long as the process lives.
func (m *Metrics) Released(p int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uint(p) < cachedPartitions {
		m.parts[p].Store(nil)
	}
	label := strconv.Itoa(p)
	m.lag.DeleteLabelValues(label)
	m.openWindows.DeleteLabelValues(label)
}

// series returns partition p's series, creating them on the partition's first record.
func (m *Metrics) series(p int) *partitionSeries {
	if uint(p) < cachedPartitions {
		if s := m.parts[p].Load(); s != nil {
			return s
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if uint(p) < cachedPartitions {
		// Another hook of the same partition may have created them meanwhile.
		if s := m.parts[p].Load(); s != nil {
			return s
		}
	}
	label := strconv.Itoa(p)
	s := &partitionSeries{
		lag:         m.lag.WithLabelValues(label),
		openWindows: m.openWindows.WithLabelValues(label),
	}
	if uint(p) < cachedPartitions {
		m.parts[p].Store(s)
	}
	return s
}
