package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"toptraffic/libs/clock"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/api"
	"toptraffic/services/query/internal/metrics"
	"toptraffic/services/query/internal/store"
)

// at returns 2020-12-16 at the given time of day, UTC.
func at(hh, mm, ss, ms int) time.Time {
	return time.Date(2020, 12, 16, hh, mm, ss, ms*int(time.Millisecond), time.UTC)
}

// publish stores one final snapshot of w from partition 0; args alternate domain and count.
func publish(t *testing.T, st *store.Store, w window.Window, args ...any) {
	t.Helper()
	top := make([]topk.Entry, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		top = append(top, topk.Entry{
			Domain: args[i].(string),
			Count:  topk.CountOf(uint64(args[i+1].(int))),
		})
	}
	topk.Sort(top)
	res := st.Apply(&snapshot.Snapshot{
		Size: w.Size, Start: w.Start, Partition: 0, Partitions: 1, Offset: 1, Final: true,
		Domains: len(top), Top: top,
	})
	if res != store.Applied {
		t.Fatalf("snapshot of %s not stored: %v", w, res)
	}
}

// newHandler returns the service's handler over st, with metrics and a debug logger.
func newHandler(t *testing.T, st *store.Store, clk clock.Clock) http.Handler {
	t.Helper()
	return api.New(api.Deps{
		Store:   st,
		Clock:   clk,
		Logger:  zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel)),
		Metrics: metrics.New(st, clk),
	})
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	Parameter string `json:"parameter"`
}

// decodeError parses an error answer strictly: no field beyond the documented ones.
func decodeError(t *testing.T, b []byte) errorBody {
	t.Helper()
	var body errorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode error body %s: %v", b, err)
	}
	if body.Error == "" || body.Code == "" {
		t.Errorf("error body %s lacks error or code", b)
	}
	return body
}

// serve runs one request through the handler.
func serve(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// fixture is a caught-up store with distinct data in four windows around 10:21-10:22.
func fixture(t *testing.T, now time.Time) (http.Handler, *store.Store) {
	t.Helper()
	clk := clock.NewFake(now)
	st := store.New(clk, 25*time.Hour)
	publish(t, st, window.At(window.Minute, at(10, 20, 0, 0)), "ten-twenty.com", 4)
	publish(t, st, window.At(window.Minute, at(10, 21, 0, 0)),
		"sitec.com", 7, "sitea.com", 3, "siteb.com", 3)
	publish(t, st, window.At(window.Hour, at(9, 0, 0, 0)), "nine.com", 40)
	publish(t, st, window.At(window.Hour, at(8, 0, 0, 0)), "eight.com", 80)
	st.MarkCaughtUp()
	return newHandler(t, st, clk), st
}

// minute1021 is the body for the minute 10:21-10:22 of the fixture.
const minute1021 = `[{"domain":"sitec.com","count":7},` +
	`{"domain":"sitea.com","count":3},{"domain":"siteb.com","count":3}]`

func TestLastFullWindowAtTheEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		now       time.Time
		path      string
		wantBody  string
		wantStart string
		wantEnd   string
	}{
		{
			name:      "minute at exactly 10:22:00.000 is 10:21",
			now:       at(10, 22, 0, 0),
			path:      "/api/stats/lastMinute",
			wantBody:  minute1021,
			wantStart: "2020-12-16T10:21:00Z",
			wantEnd:   "2020-12-16T10:22:00Z",
		},
		{
			name:      "minute at 10:21:59.999 is still 10:20",
			now:       at(10, 21, 59, 999),
			path:      "/api/stats/lastMinute",
			wantBody:  `[{"domain":"ten-twenty.com","count":4}]`,
			wantStart: "2020-12-16T10:20:00Z",
			wantEnd:   "2020-12-16T10:21:00Z",
		},
		{
			name:      "minute at 10:22:05",
			now:       at(10, 22, 5, 0),
			path:      "/api/stats/lastMinute",
			wantBody:  minute1021,
			wantStart: "2020-12-16T10:21:00Z",
			wantEnd:   "2020-12-16T10:22:00Z",
		},
		{
			name:      "hour at 10:22:05 is 09:00-10:00",
			now:       at(10, 22, 5, 0),
			path:      "/api/stats/lastHour",
			wantBody:  `[{"domain":"nine.com","count":40}]`,
			wantStart: "2020-12-16T09:00:00Z",
			wantEnd:   "2020-12-16T10:00:00Z",
		},
		{
			name:      "hour at exactly 10:00:00.000 is 09:00",
			now:       at(10, 0, 0, 0),
			path:      "/api/stats/lastHour",
			wantBody:  `[{"domain":"nine.com","count":40}]`,
			wantStart: "2020-12-16T09:00:00Z",
			wantEnd:   "2020-12-16T10:00:00Z",
		},
		{
			name:      "hour at 09:59:59.999 is still 08:00",
			now:       at(9, 59, 59, 999),
			path:      "/api/stats/lastHour",
			wantBody:  `[{"domain":"eight.com","count":80}]`,
			wantStart: "2020-12-16T08:00:00Z",
			wantEnd:   "2020-12-16T09:00:00Z",
		},
		{
			name:      "window without data is an empty array",
			now:       at(10, 40, 0, 0),
			path:      "/api/stats/lastMinute",
			wantBody:  `[]`,
			wantStart: "2020-12-16T10:39:00Z",
			wantEnd:   "2020-12-16T10:40:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _ := fixture(t, tt.now)
			rec := serve(t, h, http.MethodGet, tt.path)

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := rec.Header().Get(api.HeaderWindowStart); got != tt.wantStart {
				t.Errorf("%s = %q, want %q", api.HeaderWindowStart, got, tt.wantStart)
			}
			if got := rec.Header().Get(api.HeaderWindowEnd); got != tt.wantEnd {
				t.Errorf("%s = %q, want %q", api.HeaderWindowEnd, got, tt.wantEnd)
			}
		})
	}
}

func TestAtMostTenEntries(t *testing.T) {
	t.Parallel()
	now := at(10, 22, 5, 0)
	clk := clock.NewFake(now)
	st := store.New(clk, 25*time.Hour)
	args := make([]any, 0, 30)
	for i := range 15 {
		// Counts 1..15 with two domains tied at 6 around the cut.
		args = append(args, fmt.Sprintf("d%02d.com", i), i+1)
	}
	args = append(args, "a-tie.com", 6)
	publish(t, st, window.LastFull(window.Minute, now), args...)
	st.MarkCaughtUp()

	rec := serve(t, newHandler(t, st, clk), http.MethodGet, "/api/stats/lastMinute")
	want := `[{"domain":"d14.com","count":15},{"domain":"d13.com","count":14},` +
		`{"domain":"d12.com","count":13},{"domain":"d11.com","count":12},` +
		`{"domain":"d10.com","count":11},{"domain":"d09.com","count":10},` +
		`{"domain":"d08.com","count":9},{"domain":"d07.com","count":8},` +
		`{"domain":"d06.com","count":7},{"domain":"a-tie.com","count":6}]`
	if got := rec.Body.String(); got != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
}

func TestWarmingUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
	}{
		{name: "last minute", path: "/api/stats/lastMinute"},
		{name: "last hour", path: "/api/stats/lastHour"},
		{name: "readiness", path: "/readyz"},
		{name: "minute history", path: "/api/stats/minute"},
		{name: "hour history", path: "/api/stats/hour?at=1608080400&limit=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(at(10, 22, 5, 0))
			st := store.New(clk, 25*time.Hour)
			h := newHandler(t, st, clk)

			rec := serve(t, h, http.MethodGet, tt.path)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", rec.Code)
			}
			want := `{"error":"query service is still loading snapshots; retry shortly",` +
				`"code":"warming_up"}`
			if got := rec.Body.String(); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if got := rec.Header().Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}

			// Once caught up, the same request succeeds.
			st.MarkCaughtUp()
			if rec := serve(t, h, http.MethodGet, tt.path); rec.Code != http.StatusOK {
				t.Errorf("status after catch-up = %d, want 200", rec.Code)
			}
		})
	}
}

func TestProbesAndErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		path      string
		wantCode  int
		wantBody  string
		wantAllow string
	}{
		{
			name:     "liveness",
			method:   http.MethodGet,
			path:     "/healthz",
			wantCode: http.StatusOK,
			wantBody: `{"status":"ok"}`,
		},
		{
			name:     "readiness",
			method:   http.MethodGet,
			path:     "/readyz",
			wantCode: http.StatusOK,
			wantBody: `{"status":"ready"}`,
		},
		{
			name:     "unknown path",
			method:   http.MethodGet,
			path:     "/api/stats/lastDay",
			wantCode: http.StatusNotFound,
			wantBody: `{"error":"no endpoint at /api/stats/lastDay","code":"not_found"}`,
		},
		{
			name:     "trailing slash is not redirected",
			method:   http.MethodGet,
			path:     "/api/stats/lastMinute/",
			wantCode: http.StatusNotFound,
			wantBody: `{"error":"no endpoint at /api/stats/lastMinute/","code":"not_found"}`,
		},
		{
			name:     "wrong method",
			method:   http.MethodPost,
			path:     "/api/stats/lastMinute",
			wantCode: http.StatusMethodNotAllowed,
			wantBody: `{"error":"method POST not allowed; allowed: GET",` +
				`"code":"method_not_allowed"}`,
			wantAllow: "GET",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _ := fixture(t, at(10, 22, 5, 0))
			rec := serve(t, h, tt.method, tt.path)
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want JSON", got)
			}
		})
	}
}

// panicStore fails every read, to exercise the recovery middleware.
type panicStore struct{}

func (panicStore) Top(window.Window, int) []topk.Entry   { panic("store exploded") }
func (panicStore) Info(window.Window) (store.Info, bool) { panic("store exploded") }
func (panicStore) Expired(window.Window) bool            { return false }
func (panicStore) Retention() time.Duration              { return time.Hour }
func (panicStore) CaughtUp() bool                        { return true }

func TestPanicAnswersJSON500(t *testing.T) {
	t.Parallel()
	h := api.New(api.Deps{
		Store:  panicStore{},
		Clock:  clock.NewFake(at(10, 22, 5, 0)),
		Logger: zap.NewNop(),
	})
	rec := serve(t, h, http.MethodGet, "/api/stats/lastHour")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if got, want := rec.Body.String(), `{"error":"internal error","code":"internal"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

// BenchmarkLastMinute measures one cached answer through the whole gin handler chain.
func BenchmarkLastMinute(b *testing.B) {
	clk := clock.NewFake(at(10, 22, 5, 0))
	st := store.New(clk, 25*time.Hour)
	w := window.LastFull(window.Minute, clk.Now())
	for p := range 12 {
		top := make([]topk.Entry, 0, 100)
		for i := range 100 {
			top = append(top, topk.Entry{
				Domain: fmt.Sprintf("site-%d-%d.com", p, i),
				Count:  topk.CountOf(uint64(1000 - i*p%97)),
			})
		}
		topk.Sort(top)
		st.Apply(&snapshot.Snapshot{
			Size: w.Size, Start: w.Start, Partition: p, Partitions: 12, Offset: 1, Top: top,
		})
	}
	st.MarkCaughtUp()
	h := api.New(api.Deps{
		Store:   st,
		Clock:   clk,
		Logger:  zap.NewNop(),
		Metrics: metrics.New(st, clk),
	})
	req := httptest.NewRequest(http.MethodGet, "/api/stats/lastMinute", nil)

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status = %d", rec.Code)
			}
		}
	})
}
