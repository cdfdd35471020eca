// Package metrics is the ingest gateway's Prometheus instrumentation: HTTP requests by route
// and status, records produced and dropped, and how long the broker takes to acknowledge a
// request's records.
//
// Every series lives in a registry of the gateway's own rather than the global default one, so
// tests can build as many gateways as they like and a library that registers into the default
// registry cannot add series to /metrics behind the gateway's back.
package metrics

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"toptraffic/libs/clock"
	"toptraffic/services/ingest/internal/publisher"
)

const namespace = "toptraffic_ingest"

// Reasons a record is dropped by the time policy, as label values.
const (
	ReasonFuture = "future"
	ReasonTooOld = "too_old"
)

// Reasons a Publish call fails, as label values of produce_errors_total.
const (
	errNotReady    = "not_ready"
	errClosed      = "closed"
	errTimeout     = "timeout"
	errUnavailable = "unavailable"
	errCanceled    = "canceled"
	errOther       = "other"
)

// unmatched is the route label of requests no route matched, so that arbitrary client paths
// never become label values.
const unmatched = "unmatched"

// latencyBuckets span a lone request's few milliseconds up to the 5 s produce timeout.
var latencyBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Metrics holds the gateway's series. Build it with New; its methods are safe for concurrent
// use.
type Metrics struct {
	registry *prometheus.Registry
	clock    clock.Clock

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	produced      prometheus.Counter
	droppedFuture prometheus.Counter
	droppedTooOld prometheus.Counter
	produceTook   prometheus.Histogram
	produceErrors *prometheus.CounterVec

	// series holds the request counter and duration histogram of every (route, status)
	// seen so far. Looking a child up by label values hashes and checks the strings on
	// every request; this map is read without a lock and copied on the rare new pair. Both
	// label values are bounded: route patterns and the statuses the handlers answer.
	series   atomic.Pointer[map[routeStatus]requestSeries]
	seriesMu sync.Mutex
}

type routeStatus struct {
	route  string
	status int
}

type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New registers the gateway's series, with the Go runtime and process collectors, in a
// registry of its own. clk times HTTP requests.
func New(clk clock.Clock) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := promauto.With(reg)
	m := &Metrics{
		registry: reg,
		clock:    clk,
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "http_requests_total",
			Help:      "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Time from receiving a request to the end of the handler, by route pattern.",
			Buckets:   latencyBuckets,
		}, []string{"route"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "http_requests_in_flight",
			Help:      "HTTP requests being handled.",
		}),
		produced: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "records_produced_total",
			Help:      "Domain records the broker acknowledged.",
		}),
		produceTook: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "produce_duration_seconds",
			Help: "Per request, time from handing its records to the producer to the last " +
				"acknowledgement; successful requests only.",
			Buckets: latencyBuckets,
		}),
		produceErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "produce_errors_total",
			Help:      "Requests whose records were not all acknowledged, by reason.",
		}, []string{"reason"}),
	}
	dropped := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "records_dropped_total",
		Help:      "Domain records the time policy left out, by reason.",
	}, []string{"reason"})
	m.droppedFuture = dropped.WithLabelValues(ReasonFuture)
	m.droppedTooOld = dropped.WithLabelValues(ReasonTooOld)
	// Every reason shows up as 0 from the start, so rate() and alerts see a series at once.
	for _, r := range []string{errNotReady, errClosed, errTimeout, errUnavailable, errCanceled} {
		m.produceErrors.WithLabelValues(r)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// Counts failed scrapes in the registry itself instead of failing silently.
		Registry: m.registry,
	})
}

// Registry is where the series live, for tests and for collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Middleware counts and times every request by route pattern and final status. Install it
// first, outside any panic recovery, so that it sees the status a recovered panic answered.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		m.inFlight.Inc()
		start := m.clock.Now()
		defer m.inFlight.Dec()
		c.Next()

		route := c.FullPath()
		if route == "" {
			route = unmatched
		}
		s := m.seriesFor(route, c.Writer.Status())
		s.requests.Inc()
		s.duration.Observe(m.clock.Now().Sub(start).Seconds())
	}
}

// seriesFor returns the series of requests to route answered with status.
func (m *Metrics) seriesFor(route string, status int) requestSeries {
	key := routeStatus{route: route, status: status}
	if cur := m.series.Load(); cur != nil {
		if s, ok := (*cur)[key]; ok {
			return s
		}
	}

	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	// Another request may have added the pair meanwhile.
	var next map[routeStatus]requestSeries
	if cur := m.series.Load(); cur != nil {
		if s, ok := (*cur)[key]; ok {
			return s
		}
		next = maps.Clone(*cur)
	} else {
		next = map[routeStatus]requestSeries{}
	}
	s := requestSeries{
		requests: m.requests.WithLabelValues(route, strconv.Itoa(status)),
		duration: m.duration.WithLabelValues(route),
	}
	next[key] = s
	m.series.Store(&next)
	return s
}

// Dropped counts the records of one request that the time policy left out.
func (m *Metrics) Dropped(future, tooOld int) {
	if future > 0 {
		m.droppedFuture.Add(float64(future))
	}
	if tooOld > 0 {
		m.droppedTooOld.Add(float64(tooOld))
	}
}

// Acked records a request whose records were all acknowledged. It has the signature of
// publisher.Hooks.Acked.
func (m *Metrics) Acked(records int, took time.Duration) {
	m.produced.Add(float64(records))
	m.produceTook.Observe(took.Seconds())
}

// PublishFailed counts a request whose records were not all acknowledged. It has the
// signature of publisher.Hooks.Failed.
func (m *Metrics) PublishFailed(err error) {
	m.produceErrors.WithLabelValues(failureReason(err)).Inc()
}

// PublisherHooks returns the hooks that feed the produce series.
func (m *Metrics) PublisherHooks() publisher.Hooks {
	return publisher.Hooks{Acked: m.Acked, Failed: m.PublishFailed}
}

// failureReason maps a Publish error to a label value, most specific first.
func failureReason(err error) string {
	switch {
	case errors.Is(err, publisher.ErrNotReady):
		return errNotReady
	case errors.Is(err, publisher.ErrClosed):
		return errClosed
	case errors.Is(err, publisher.ErrAckTimeout):
		return errTimeout
	case errors.Is(err, publisher.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, context.Canceled):
		// The client went away before its records were acknowledged.
		return errCanceled
	}
	return errOther
}
