package api_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/services/query/internal/api"
	"toptraffic/services/query/internal/store"
)

func TestDashboardServesItsFiles(t *testing.T) {
	t.Parallel()
	h, _ := fixture(t, at(10, 22, 5, 0))
	page := serve(t, h, http.MethodGet, api.RouteDashboard)
	if page.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", page.Code)
	}

	// Every local file the page refers to is served, with a type the browser will accept
	// under nosniff.
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(
		page.Body.String(), -1)
	if len(refs) < 3 {
		t.Fatalf("page refers to %d local files, want its icon, script and stylesheet",
			len(refs))
	}
	tests := []struct {
		name     string
		path     string
		wantType string
	}{
		{name: "page", path: api.RouteDashboard, wantType: "text/html; charset=utf-8"},
	}
	for _, ref := range refs {
		want := "text/css; charset=utf-8"
		switch {
		case strings.HasSuffix(ref[1], ".js"):
			want = "text/javascript; charset=utf-8"
		case strings.HasSuffix(ref[1], ".svg"):
			want = "image/svg+xml"
		}
		tests = append(tests, struct {
			name     string
			path     string
			wantType string
		}{name: ref[1], path: ref[1], wantType: want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, http.MethodGet, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", tt.path, rec.Code)
			}
			if rec.Body.Len() == 0 {
				t.Errorf("GET %s has an empty body", tt.path)
			}
			checkHeaders(t, rec.Header(), map[string]string{
				"Content-Type":           tt.wantType,
				"Cache-Control":          "no-cache",
				"X-Content-Type-Options": "nosniff",
			})
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp,
				"script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want scripts from self only", csp)
			}
		})
	}
}

func TestDashboardScriptCallsServedRoutes(t *testing.T) {
	t.Parallel()
	h, _ := fixture(t, at(10, 22, 5, 0))
	rec := serve(t, h, http.MethodGet, "/assets/dashboard.js")
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	// The script builds '/api/stats/' + size for both sizes and reads the freshness header.
	for _, want := range []string{"'/api/stats/'", "'minute'", "'hour'", api.HeaderSnapshotAge} {
		if !strings.Contains(script, want) {
			t.Errorf("dashboard.js does not contain %s", want)
		}
	}
	for _, route := range []string{api.RouteMinute, api.RouteHour} {
		if rec := serve(t, h, http.MethodGet, route); rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", route, rec.Code)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	h, _ := historyFixture(t)
	serve(t, h, http.MethodGet, api.RouteMinute)
	serve(t, h, http.MethodGet, api.RouteMinute+"?limit=0")
	serve(t, h, http.MethodGet, "/no/such/path")

	rec := serve(t, h, http.MethodGet, api.RouteMetrics)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`toptraffic_query_http_requests_total{route="/api/stats/minute",status="200"} 1`,
		`toptraffic_query_http_requests_total{route="/api/stats/minute",status="400"} 1`,
		`toptraffic_query_http_requests_total{route="unmatched",status="404"} 1`,
		`toptraffic_query_http_request_duration_seconds_count{route="/api/stats/minute"} 2`,
		`toptraffic_query_windows{size="minute"} 2`,
		`toptraffic_query_windows{size="hour"} 1`,
		`toptraffic_query_snapshot_age_seconds{size="minute"} 2.5`,
		`toptraffic_query_snapshot_age_seconds{size="hour"} 1264.75`,
		`toptraffic_query_caught_up 1`,
		`toptraffic_query_snapshot_records_total{result="malformed"} 0`,
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestMetricsWithoutMetrics(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(at(10, 22, 5, 0))
	h := api.New(api.Deps{Store: store.New(clk, time.Hour), Clock: clk, Logger: zap.NewNop()})
	if rec := serve(t, h, http.MethodGet, api.RouteMetrics); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics = %d, want 404", rec.Code)
	}
	// Requests are still answered without anything to count them.
	if rec := serve(t, h, http.MethodGet, api.RouteHealth); rec.Code != http.StatusOK {
		t.Errorf("GET /healthz without metrics = %d, want 200", rec.Code)
	}
}
