package load

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

func testConfig(url string) Config {
	c := DefaultConfig()
	c.URL = url
	c.Domains = 1000
	c.Progress = 0
	c.Duration = 30 * time.Second
	return c
}

func TestAppendBody(t *testing.T) {
	tests := []struct {
		name     string
		batch    int
		perCtr   int
		domains  int
		wantJSON string // first byte
	}{
		{name: "single object", batch: 1, perCtr: 1, domains: 100, wantJSON: "{"},
		{name: "single object many domains", batch: 1, perCtr: 10, domains: 100, wantJSON: "{"},
		{name: "array", batch: 5, perCtr: 10, domains: 1000, wantJSON: "["},
		// Ten domains out of ten force redraws, and duplicates once they run out.
		{name: "tiny domain set", batch: 3, perCtr: 10, domains: 10, wantJSON: "["},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig("http://127.0.0.1:1")
			c.Batch, c.DomainsPerCounter, c.Domains = tc.batch, tc.perCtr, tc.domains
			g := newBodyGen(c, 7)
			body, records := g.appendBody(nil, 1608102631)
			if !strings.HasPrefix(string(body), tc.wantJSON) {
				t.Fatalf("body starts %q, want %q", body[:1], tc.wantJSON)
			}
			var counters []map[string]json.Number
			if tc.batch == 1 {
				var one map[string]json.Number
				if err := json.Unmarshal(body, &one); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, body)
				}
				counters = append(counters, one)
			} else if err := json.Unmarshal(body, &counters); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			if len(counters) != tc.batch {
				t.Fatalf("got %d counters, want %d", len(counters), tc.batch)
			}
			distinct := 0
			for _, ctr := range counters {
				if ctr["timestamp"] != "1608102631" {
					t.Errorf("timestamp %q, want 1608102631", ctr["timestamp"])
				}
				// Unmarshalling into a map folds duplicate keys, leaving the distinct ones.
				distinct += len(ctr) - 1
			}
			if distinct != records {
				t.Errorf("appendBody reported %d records, body holds %d distinct", records,
					distinct)
			}
			if tc.domains >= 10*tc.perCtr && records != tc.batch*tc.perCtr {
				t.Errorf("got %d records, want %d", records, tc.batch*tc.perCtr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "localhost", mutate: func(c *Config) { c.URL = "http://localhost:3000" }},
		{name: "not loopback", mutate: func(c *Config) { c.URL = "http://10.0.0.1:3000" },
			wantErr: "url"},
		{name: "stats not loopback",
			mutate:  func(c *Config) { c.StatsURL = "http://example.com" },
			wantErr: "stats-url"},
		{name: "https", mutate: func(c *Config) { c.URL = "https://127.0.0.1" }, wantErr: "url"},
		{name: "no duration", mutate: func(c *Config) { c.Duration = 0 }, wantErr: "duration"},
		{name: "endless", mutate: func(c *Config) { c.Duration = 24 * time.Hour },
			wantErr: "duration"},
		{name: "zipf s", mutate: func(c *Config) { c.ZipfS = 1 }, wantErr: "zipf-s"},
		{name: "too few domains", mutate: func(c *Config) { c.Domains = 3 },
			wantErr: "domains"},
		{name: "marker timeout past the minute",
			mutate: func(c *Config) {
				c.MarkerInterval = time.Second
				c.MarkerTimeout = time.Minute
			},
			wantErr: "marker-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr+":") {
				t.Fatalf("Validate: %v, want an ErrConfig naming %s", err, tc.wantErr)
			}
		})
	}
}

// gateway is a stand-in for the ingest gateway: it answers POSTs like the real one, refuses
// every fourth with 503, and serves the statistics with every marker posted so far.
type gateway struct {
	posts   atomic.Int64
	mu      sync.Mutex
	markers []string
	minute  string
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == countersPath:
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "-marker-") {
			var m map[string]json.Number
			_ = json.Unmarshal(body, &m)
			g.mu.Lock()
			for k := range m {
				if k != "timestamp" {
					g.markers = append(g.markers, k)
				}
			}
			g.mu.Unlock()
			_, _ = io.WriteString(w, `{"accepted":1}`)
			return
		}
		if g.posts.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"accepted":3,"dropped":0}`)
	case r.Method == http.MethodGet && r.URL.Path == lastMinutePath:
		g.mu.Lock()
		defer g.mu.Unlock()
		w.Header().Set("X-Window-Start", g.minute)
		entries := make([]map[string]any, 0, len(g.markers))
		for _, m := range g.markers {
			entries = append(entries, map[string]any{"domain": m, "count": markerBase})
		}
		_ = json.NewEncoder(w).Encode(entries)
	default:
		http.NotFound(w, r)
	}
}

func TestRunCountsOutcomes(t *testing.T) {
	tests := []struct {
		name string
		rate float64
	}{
		{name: "as fast as possible", rate: 0},
		{name: "paced", rate: 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&gateway{})
			defer srv.Close()
			c := testConfig(srv.URL)
			c.Rate = tc.rate
			c.MaxRequests = 40
			c.Concurrency = 4
			c.GetRate = 0
			r, err := New(c, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			res, err := r.Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Posts.Requests != 40 || res.Posts.OK != 30 {
				t.Errorf("requests %d ok %d, want 40 and 30", res.Posts.Requests, res.Posts.OK)
			}
			if res.Posts.Outcomes["200"] != 30 || res.Posts.Outcomes["503"] != 10 {
				t.Errorf("outcomes %v, want 200: 30, 503: 10", res.Posts.Outcomes)
			}
			if res.Accepted != 30*3 {
				t.Errorf("accepted %d, want the gateway's 3 per ok POST", res.Accepted)
			}
			if res.Posts.Latency.Count != 40 || res.Posts.Latency.P99Ms <= 0 {
				t.Errorf("latency %+v, want 40 samples", res.Posts.Latency)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	out := make(chan time.Time)
	go schedule(context.Background(), 1e6, 5, out)
	var got []time.Time
	for at := range out {
		got = append(got, at)
	}
	if len(got) != 5 {
		t.Fatalf("got %d tickets, want 5", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Sub(got[i-1]) != time.Microsecond {
			t.Errorf("ticket %d is %v after the one before, want 1µs", i, got[i].Sub(got[i-1]))
		}
	}
}

func TestMarkerFor(t *testing.T) {
	tests := []struct {
		name       string
		now        time.Time
		wantOK     bool
		wantMinute int64
	}{
		{name: "early in the minute", now: time.Unix(1608102610, 0), wantOK: true,
			wantMinute: 1608102540},
		{name: "too close to the end", now: time.Unix(1608102656, 0), wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig("http://127.0.0.1:1")
			c.MarkerInterval, c.MarkerTimeout = time.Second, 5*time.Second
			r, err := New(c, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			r.now = func() time.Time { return tc.now }
			p := newVisibilityProbe(r)
			domain, minute, body, ok := p.markerFor(3)
			if ok != tc.wantOK {
				t.Fatalf("ok %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if minute != tc.wantMinute {
				t.Errorf("minute %d, want %d", minute, tc.wantMinute)
			}
			var m map[string]json.Number
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("marker body %s: %v", body, err)
			}
			if string(m[domain]) != "4503599627370499" {
				t.Errorf("marker count %s, want 2^52+3", m[domain])
			}
		})
	}
}

func TestVisibility(t *testing.T) {
	// A fixed clock early in a minute, so no marker slot is skipped.
	now := time.Unix(1608102610, 0)
	gw := &gateway{minute: time.Unix(1608102540, 0).UTC().Format(time.RFC3339)}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	c := testConfig(srv.URL)
	c.MaxRequests = 1
	c.Concurrency = 1
	c.Duration = 300 * time.Millisecond
	c.MarkerInterval = 20 * time.Millisecond
	c.MarkerPoll = time.Millisecond
	r, err := New(c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.now = func() time.Time { return now }

	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	v := res.Visibility
	if v == nil || v.Posted == 0 {
		t.Fatalf("visibility %+v, want markers posted", v)
	}
	if v.Seen != v.Posted || v.TimedOut != 0 || v.Failed != 0 {
		t.Errorf("visibility %+v, want every marker seen", *v)
	}
	if v.Latency.Count != v.Seen {
		t.Errorf("latency samples %d, want %d", v.Latency.Count, v.Seen)
	}
}
