package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// unavailable is the ErrorFunc the tests give the proxy.
func unavailable(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, "down")
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

func TestProxy(t *testing.T) {
	// release unblocks the slow query service when the test ends, so its server can close.
	release := make(chan struct{})
	query := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/base/api/stats/slow" {
			<-release
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery+
			" auth="+r.Header.Get("Authorization")+
			" xff="+r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(query.Close)
	t.Cleanup(func() { close(release) })

	// A port that was free a moment ago and is closed now refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	tests := []struct {
		name       string
		target     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "forwards path and query without the token", target: query.URL + "/base",
			path: "/api/stats/lastMinute?x=1", wantStatus: http.StatusOK,
			wantBody: "/base/api/stats/lastMinute?x=1 auth= xff=192.0.2.1"},
		{name: "query service down", target: "http://" + closedAddr,
			path: "/api/stats/lastHour", wantStatus: http.StatusServiceUnavailable,
			wantBody: "down"},
		{name: "query service too slow", target: query.URL + "/base",
			path: "/api/stats/slow", wantStatus: http.StatusServiceUnavailable,
			wantBody: "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 200 * time.Millisecond
			p := New(Config{Target: mustParse(t, tt.target), Timeout: timeout}, zap.NewNop(),
				unavailable)
			t.Cleanup(p.Close)

			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("Authorization", "Bearer gateway-token")
			rec := httptest.NewRecorder()

			start := time.Now()
			p.ServeHTTP(rec, req)
			took := time.Since(start)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			// Generous against a loaded CI machine, far below a hang.
			if took > timeout+2*time.Second {
				t.Errorf("took %s with a %s timeout", took, timeout)
			}
		})
	}
}
