package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/services/ingest/internal/api"
	"toptraffic/services/ingest/internal/metrics"
	"toptraffic/services/ingest/internal/publisher"
	"toptraffic/services/ingest/internal/timepolicy"
)

// scrape GETs /metrics from h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, api.RouteMetrics, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", api.RouteMetrics, rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// sample returns the value of the series of family name whose labels include labels: a
// counter's or gauge's value, a histogram's sample count. ok is false when there is none.
func sample(
	fams map[string]*dto.MetricFamily,
	name string,
	labels map[string]string,
) (v float64, ok bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startGateway wires the API, a publisher on an in-process broker and the metrics as main
// does, and returns the handler once the counters topic is confirmed.
func startGateway(t *testing.T) http.Handler {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)

	m := metrics.New(clock.System{})
	pub := publisher.New(publisher.Config{
		Brokers:           cluster.ListenAddrs(),
		ClientID:          "metrics-test",
		Topic:             "counters",
		Partitions:        4,
		ReplicationFactor: 1,
		ProduceTimeout:    3 * time.Second,
		BatchTimeout:      time.Millisecond,
		BatchSize:         1000,
		CloseTimeout:      3 * time.Second,
		SetupBackoff:      50 * time.Millisecond,
		Hooks:             m.PublisherHooks(),
	}, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	g.Go(func() error { return pub.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("publisher Run = %v", err)
		}
		if err := pub.Close(); err != nil {
			t.Errorf("publisher Close = %v", err)
		}
	})
	waitFor(t, 10*time.Second, "publisher ready", pub.Ready)

	return api.New(api.Config{
		MaxBodyBytes: 1 << 20,
		Limits:       counter.Limits{MaxDomainsPerCounter: 100, MaxCountersPerRequest: 100},
		Policy: timepolicy.Policy{
			AllowedLateness: time.Minute,
			MaxFutureSkew:   5 * time.Minute,
		},
	}, api.Deps{
		Publisher: pub,
		Stats:     http.NotFoundHandler(),
		Clock:     clock.System{},
		Metrics:   m,
		Logger:    zap.NewNop(),
	})
}

func TestPostShowsInMetrics(t *testing.T) {
	h := startGateway(t)
	now := time.Now().Unix()
	// Three records on time, two from three hours ago (too old) and one from the future.
	body := fmt.Sprintf(`[{"timestamp": %d, "a.com": 1, "b.com": 2, "c.com": 3},
		{"timestamp": %d, "old.com": 1, "older.com": 1},
		{"timestamp": %d, "soon.com": 1}]`, now, now-3*3600, now+3600)
	req := httptest.NewRequest(http.MethodPost, api.RouteCounters, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST = %d: %s", rec.Code, rec.Body)
	}

	fams := scrape(t, h)

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{name: "the post is counted by route and code",
			metric: "toptraffic_ingest_http_requests_total",
			labels: map[string]string{"route": api.RouteCounters, "code": "200"}, want: 1},
		{name: "the post is timed",
			metric: "toptraffic_ingest_http_request_duration_seconds",
			labels: map[string]string{"route": api.RouteCounters}, want: 1},
		{name: "the scrape itself is in flight",
			metric: "toptraffic_ingest_http_requests_in_flight", want: 1},
		{name: "acknowledged records", metric: "toptraffic_ingest_records_produced_total",
			want: 3},
		{name: "one produce latency per request",
			metric: "toptraffic_ingest_produce_duration_seconds", want: 1},
		{name: "dropped as too old", metric: "toptraffic_ingest_records_dropped_total",
			labels: map[string]string{"reason": "too_old"}, want: 2},
		{name: "dropped as future", metric: "toptraffic_ingest_records_dropped_total",
			labels: map[string]string{"reason": "future"}, want: 1},
		{name: "no produce errors", metric: "toptraffic_ingest_produce_errors_total",
			labels: map[string]string{"reason": "unavailable"}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(fams, tt.metric, tt.labels)
			if !ok {
				t.Fatalf("no series %s%v", tt.metric, tt.labels)
			}
			if got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("no %s: the runtime and process collectors are missing", name)
		}
	}
}

func TestMiddlewareLabels(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		wantRoute string
		wantCode  string
	}{
		{name: "matched route is its pattern", method: http.MethodGet, path: "/items/42",
			wantRoute: "/items/:id", wantCode: "200"},
		{name: "handler status", method: http.MethodPost, path: "/fail",
			wantRoute: "/fail", wantCode: "503"},
		{name: "recovered panic", method: http.MethodGet, path: "/panic",
			wantRoute: "/panic", wantCode: "500"},
		{name: "unknown path never becomes a label", method: http.MethodGet,
			path: "/anything/a-client/sends", wantRoute: "unmatched", wantCode: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New(clock.System{})
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.Use(m.Middleware(), gin.CustomRecovery(func(c *gin.Context, _ any) {
				c.AbortWithStatus(http.StatusInternalServerError)
			}))
			r.GET("/items/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
			r.POST("/fail", func(c *gin.Context) { c.Status(http.StatusServiceUnavailable) })
			r.GET("/panic", func(*gin.Context) { panic("boom") })
			r.GET(api.RouteMetrics, gin.WrapH(m.Handler()))

			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))

			fams := scrape(t, r)
			labels := map[string]string{"route": tt.wantRoute, "code": tt.wantCode}
			if got, _ := sample(fams, "toptraffic_ingest_http_requests_total", labels); got != 1 {
				t.Errorf("requests%v = %v, want 1", labels, got)
			}
		})
	}
}

func TestPublishFailedReasons(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "not ready", err: publisher.ErrNotReady, want: "not_ready"},
		{name: "closed", err: publisher.ErrClosed, want: "closed"},
		{name: "ack timeout",
			err: fmt.Errorf("wait for acks: %w", publisher.ErrAckTimeout), want: "timeout"},
		{name: "unavailable", err: fmt.Errorf("write: %w: %w", publisher.ErrUnavailable,
			errors.New("broken pipe")), want: "unavailable"},
		{name: "client left", err: fmt.Errorf("wait: %w", context.Canceled), want: "canceled"},
		{name: "anything else", err: errors.New("surprise"), want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New(clock.System{})

			m.PublishFailed(tt.err)

			fams, err := m.Registry().Gather()
			if err != nil {
				t.Fatalf("gather: %v", err)
			}
			byName := map[string]*dto.MetricFamily{}
			for _, f := range fams {
				byName[f.GetName()] = f
			}
			labels := map[string]string{"reason": tt.want}
			if got, _ := sample(byName, "toptraffic_ingest_produce_errors_total", labels); got != 1 {
				t.Errorf("produce_errors_total%v = %v, want 1", labels, got)
			}
		})
	}
}

// TestMiddlewareCountsConcurrentRequests sends requests of two statuses to one route from
// many goroutines: each (route, status) series counts every request, and the route's
// duration histogram all of them.
func TestMiddlewareCountsConcurrentRequests(t *testing.T) {
	const goroutines, each = 8, 25
	m := metrics.New(clock.System{})
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(m.Middleware())
	r.GET("/items/:id", func(c *gin.Context) {
		if c.Param("id") == "missing" {
			c.Status(http.StatusNotFound)
			return
		}
		c.Status(http.StatusOK)
	})
	r.GET(api.RouteMetrics, gin.WrapH(m.Handler()))

	var g errgroup.Group
	for i := range goroutines {
		g.Go(func() error {
			for j := range each {
				path := "/items/42"
				if (i+j)%2 == 1 {
					path = "/items/missing"
				}
				r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
			}
			return nil
		})
	}
	_ = g.Wait()

	fams := scrape(t, r)
	half := float64(goroutines * each / 2)
	for _, code := range []string{"200", "404"} {
		labels := map[string]string{"route": "/items/:id", "code": code}
		if got, _ := sample(fams, "toptraffic_ingest_http_requests_total", labels); got != half {
			t.Errorf("requests%v = %v, want %v", labels, got, half)
		}
	}
	labels := map[string]string{"route": "/items/:id"}
	got, _ := sample(fams, "toptraffic_ingest_http_request_duration_seconds", labels)
	if got != 2*half {
		t.Errorf("durations%v = %v, want %v", labels, got, 2*half)
	}
}
