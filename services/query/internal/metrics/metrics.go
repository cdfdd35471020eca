// Package metrics exposes the query service's Prometheus metrics on a registry of its own:
// HTTP requests and their latency by route, what became of every snapshots-topic record,
// and, read from the store at scrape time, the windows held, the freshness of the last full
// minute and hour, and whether the initial load is done.
//
// Values that describe the store are computed when Prometheus scrapes, on the injected clock,
// so they are never stale and tests can pin them to the millisecond.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"toptraffic/libs/clock"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/consumer"
	"toptraffic/services/query/internal/store"
)

// namespace prefixes every metric of the service.
const namespace = "toptraffic_query"

// latencyBuckets span 100µs to 1s: answers come from memory and take well under a
// millisecond, so the default buckets, which start at 5ms, would put them all in one.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

// Store is what the scrape-time metrics read; *store.Store implements it.
type Store interface {
	Windows(size window.Size) []window.Window
	Info(w window.Window) (store.Info, bool)
	CaughtUp() bool
}

// Metrics holds the service's registry and the metrics updated as things happen. It is safe
// for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	records  *prometheus.CounterVec
}

// New returns the metrics of a query service that serves st, with the Go runtime and process
// collectors registered next to them.
func New(st Store, clk clock.Clock) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "http_requests_total",
			Help:      "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Time from receiving an HTTP request to finishing its answer, by route.",
			Buckets:   latencyBuckets,
		}, []string{"route"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "snapshot_records_total",
			Help: "Snapshots-topic records read, by result: applied, stale (a newer " +
				"snapshot of the window and partition is held), expired (past " +
				"retention), malformed, tombstone.",
		}, []string{"result"}),
	}
	// Every result shows from the start, so a rate over a counter that never moved is 0
	// rather than missing.
	for _, o := range consumer.Outcomes {
		m.records.WithLabelValues(o.String())
	}

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests,
		m.latency,
		m.records,
		newStoreCollector(st, clk),
	)
	return m
}

// Handler serves the registry in the Prometheus text (or negotiated OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A failing collector should not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveRequest counts one answered request. route is the route pattern, never the raw
// path, so that clients cannot grow the number of series; the API passes "unmatched" for
// paths it does not serve.
func (m *Metrics) ObserveRequest(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// RecordRead counts one snapshots-topic record; it makes Metrics a consumer.Observer.
func (m *Metrics) RecordRead(o consumer.Outcome) {
	m.records.WithLabelValues(o.String()).Inc()
}

// storeCollector reads the store when Prometheus scrapes.
type storeCollector struct {
	store Store
	clock clock.Clock

	windows  *prometheus.Desc
	age      *prometheus.Desc
	caughtUp *prometheus.Desc
}

func newStoreCollector(st Store, clk clock.Clock) *storeCollector {
	return &storeCollector{
		store: st,
		clock: clk,
		windows: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "", "windows"),
			"Windows held in memory, by size.",
			[]string{"size"}, nil,
		),
		age: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "", "snapshot_age_seconds"),
			"Seconds since the newest snapshot of the last full window of each size was "+
				"published; absent while no snapshot of that window is held.",
			[]string{"size"}, nil,
		),
		caughtUp: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "", "caught_up"),
			"1 once the initial load of the snapshots topic is done and statistics are "+
				"served, else 0.",
			nil, nil,
		),
	}
}

// Describe sends the descriptors of every metric Collect may send.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.windows
	ch <- c.age
	ch <- c.caughtUp
}

// Collect reads the store once per size, with one reading of the clock for the whole scrape
// so that the minute and the hour are judged at the same instant.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock.Now()
	for _, size := range window.Sizes {
		ch <- prometheus.MustNewConstMetric(c.windows, prometheus.GaugeValue,
			float64(len(c.store.Windows(size))), size.String())

		info, ok := c.store.Info(window.LastFull(size, now))
		if ok && info.Partitions > 0 {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue,
				now.Sub(info.PublishedAt).Seconds(), size.String())
		}
	}
	caughtUp := 0.0
	if c.store.CaughtUp() {
		caughtUp = 1
	}
	ch <- prometheus.MustNewConstMetric(c.caughtUp, prometheus.GaugeValue, caughtUp)
}
