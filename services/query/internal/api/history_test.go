package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/api"
	"toptraffic/services/query/internal/metrics"
	"toptraffic/services/query/internal/store"
)

// part is one source partition's snapshot of a window for the history fixture.
type part struct {
	w         window.Window
	partition int
	final     bool
	published time.Time
	// args alternate domain and count.
	args []any
}

// historyFixture is a caught-up store at 10:22:05 holding:
//   - minute 10:21 from two partitions, one still open;
//   - minute 10:20 from one partition, final;
//   - hour 09:00 from three partitions, all final.
func historyFixture(t *testing.T) (http.Handler, *clock.Fake) {
	t.Helper()
	now := at(10, 22, 5, 0)
	clk := clock.NewFake(now)
	st := store.New(clk, 25*time.Hour)
	m1021 := window.At(window.Minute, at(10, 21, 0, 0))
	m1020 := window.At(window.Minute, at(10, 20, 0, 0))
	h09 := window.At(window.Hour, at(9, 0, 0, 0))
	for _, p := range []part{
		{m1021, 0, true, at(10, 22, 1, 500), []any{"a.com", 5, "c.com", 2}},
		{m1021, 1, false, at(10, 22, 2, 500), []any{"b.com", 7, "d.com", 2}},
		{m1020, 0, true, at(10, 21, 5, 0), []any{"x.com", 4}},
		{h09, 0, true, at(10, 1, 0, 0), []any{"nine.com", 40}},
		{h09, 1, true, at(10, 1, 0, 250), []any{"eight.com", 39, "ten.com", 1}},
		{h09, 2, true, at(10, 0, 59, 0), []any{"seven.com", 41}},
	} {
		top := make([]topk.Entry, 0, len(p.args)/2)
		for i := 0; i+1 < len(p.args); i += 2 {
			top = append(top, topk.Entry{
				Domain: p.args[i].(string),
				Count:  topk.CountOf(uint64(p.args[i+1].(int))),
			})
		}
		topk.Sort(top)
		res := st.Apply(&snapshot.Snapshot{
			Size: p.w.Size, Start: p.w.Start, Partition: p.partition, Partitions: 3,
			Offset: 1, Final: p.final, Domains: len(top), Top: top,
			PublishedAt: p.published.UnixMilli(),
		})
		if res != store.Applied {
			t.Fatalf("snapshot of %s/%d: %v", p.w, p.partition, res)
		}
	}
	st.MarkCaughtUp()
	return newHandler(t, st, clk), clk
}

// unix returns the Unix seconds of 2020-12-16 at the given time of day as a string.
func unix(hh, mm, ss int) string {
	return strconv.FormatInt(at(hh, mm, ss, 0).Unix(), 10)
}

func TestHistory(t *testing.T) {
	t.Parallel()
	const (
		m1021 = `{"size":"minute","start":"2020-12-16T10:21:00Z","end":"2020-12-16T10:22:00Z",`
		m1020 = `{"size":"minute","start":"2020-12-16T10:20:00Z","end":"2020-12-16T10:21:00Z",`
		h09   = `{"size":"hour","start":"2020-12-16T09:00:00Z","end":"2020-12-16T10:00:00Z",`
		// minute1020Rest is the minute 10:20 after its bounds.
		minute1020Rest = `"final":true,"partitions":1,"top":[{"domain":"x.com","count":4}]}`
	)
	tests := []struct {
		name          string
		path          string
		wantBody      string
		wantStart     string
		wantPublished string
		wantAge       string
	}{
		{
			name: "minute without at is the last full minute, open while a partition is",
			path: "/api/stats/minute",
			wantBody: m1021 + `"final":false,"partitions":2,"top":[{"domain":"b.com","count":7},` +
				`{"domain":"a.com","count":5},{"domain":"c.com","count":2},` +
				`{"domain":"d.com","count":2}]}`,
			wantStart:     "2020-12-16T10:21:00Z",
			wantPublished: "2020-12-16T10:22:02.500Z",
			wantAge:       "2.500",
		},
		{
			name:          "at picks the window that contains it",
			path:          "/api/stats/minute?at=" + unix(10, 20, 59),
			wantBody:      m1020 + minute1020Rest,
			wantStart:     "2020-12-16T10:20:00Z",
			wantPublished: "2020-12-16T10:21:05.000Z",
			wantAge:       "60.000",
		},
		{
			name:          "at on a window start belongs to that window",
			path:          "/api/stats/minute?at=" + unix(10, 20, 0),
			wantBody:      m1020 + minute1020Rest,
			wantStart:     "2020-12-16T10:20:00Z",
			wantPublished: "2020-12-16T10:21:05.000Z",
			wantAge:       "60.000",
		},
		{
			name: "limit cuts the ranking",
			path: "/api/stats/minute?limit=2",
			wantBody: m1021 + `"final":false,"partitions":2,"top":[{"domain":"b.com","count":7},` +
				`{"domain":"a.com","count":5}]}`,
			wantStart:     "2020-12-16T10:21:00Z",
			wantPublished: "2020-12-16T10:22:02.500Z",
			wantAge:       "2.500",
		},
		{
			name: "hour without at is the last full hour, final once every partition is",
			path: "/api/stats/hour?limit=100",
			wantBody: h09 + `"final":true,"partitions":3,` +
				`"top":[{"domain":"seven.com","count":41},` +
				`{"domain":"nine.com","count":40},{"domain":"eight.com","count":39},` +
				`{"domain":"ten.com","count":1}]}`,
			wantStart:     "2020-12-16T09:00:00Z",
			wantPublished: "2020-12-16T10:01:00.250Z",
			wantAge:       "1264.750",
		},
		{
			name: "hour with at and limit",
			path: "/api/stats/hour?at=" + unix(9, 59, 59) + "&limit=1",
			wantBody: h09 + `"final":true,"partitions":3,` +
				`"top":[{"domain":"seven.com","count":41}]}`,
			wantStart:     "2020-12-16T09:00:00Z",
			wantPublished: "2020-12-16T10:01:00.250Z",
			wantAge:       "1264.750",
		},
		{
			name: "window without traffic is empty and not final",
			path: "/api/stats/minute?at=" + unix(10, 0, 30),
			wantBody: `{"size":"minute","start":"2020-12-16T10:00:00Z",` +
				`"end":"2020-12-16T10:01:00Z","final":false,"partitions":0,"top":[]}`,
			wantStart: "2020-12-16T10:00:00Z",
		},
		{
			name: "the current window can be asked for, and is open",
			path: "/api/stats/minute?at=" + unix(10, 22, 5),
			wantBody: `{"size":"minute","start":"2020-12-16T10:22:00Z",` +
				`"end":"2020-12-16T10:23:00Z","final":false,"partitions":0,"top":[]}`,
			wantStart: "2020-12-16T10:22:00Z",
		},
		{
			name:          "unknown parameters are ignored",
			path:          "/api/stats/minute?at=" + unix(10, 20, 1) + "&_=1608102631",
			wantBody:      m1020 + minute1020Rest,
			wantStart:     "2020-12-16T10:20:00Z",
			wantPublished: "2020-12-16T10:21:05.000Z",
			wantAge:       "60.000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _ := historyFixture(t)
			rec := serve(t, h, http.MethodGet, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body =\n%s\nwant\n%s", got, tt.wantBody)
			}
			checkHeaders(t, rec.Header(), map[string]string{
				"Content-Type":        "application/json; charset=utf-8",
				api.HeaderWindowStart: tt.wantStart,
				api.HeaderPublishedAt: tt.wantPublished,
				api.HeaderSnapshotAge: tt.wantAge,
			})
		})
	}
}

// checkHeaders compares headers with want; an empty value means the header must be absent.
func checkHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestHistoryRefusesBadParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		query     string
		wantParam string
		wantText  string
	}{
		{name: "at not a number", query: "at=yesterday", wantParam: "at",
			wantText: `at must be a Unix time in whole seconds, such as at=1608102631; ` +
				`got "yesterday"`},
		{name: "at with a fraction", query: "at=1608102631.5", wantParam: "at",
			wantText: `got "1608102631.5"`},
		{name: "at negative", query: "at=-60", wantParam: "at", wantText: `got "-60"`},
		{name: "at empty", query: "at=", wantParam: "at", wantText: `got ""`},
		{name: "at in milliseconds", query: "at=1608102631000", wantParam: "at",
			wantText: "at=1608102631000 is too large: at takes Unix seconds (below 1e11)"},
		{name: "at overflowing int64", query: "at=99999999999999999999", wantParam: "at",
			wantText: `got "99999999999999999999"`},
		{name: "at twice", query: "at=1&at=2", wantParam: "at",
			wantText: "at is given 2 times; give it once"},
		{name: "limit zero", query: "limit=0", wantParam: "limit",
			wantText: `limit must be a whole number from 1 to 100`},
		{name: "limit over the aggregators' K", query: "limit=101", wantParam: "limit",
			wantText: `got "101"`},
		{name: "limit not a number", query: "at=1608102631&limit=ten", wantParam: "limit",
			wantText: `got "ten"`},
		{name: "limit twice", query: "limit=5&limit=5", wantParam: "limit",
			wantText: "limit is given 2 times"},
		{name: "long input is clipped", query: "at=" + strings.Repeat("9x", 100),
			wantParam: "at", wantText: `got "` + strings.Repeat("9x", 30) + `9..."`},
	}
	for _, tt := range tests {
		for _, route := range []string{api.RouteMinute, api.RouteHour} {
			t.Run(tt.name+" "+route, func(t *testing.T) {
				t.Parallel()
				h, _ := historyFixture(t)
				rec := serve(t, h, http.MethodGet, route+"?"+tt.query)
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("status = %d, want 400; body %s", rec.Code, rec.Body)
				}
				body := decodeError(t, rec.Body.Bytes())
				if body.Code != api.CodeInvalidParameter || body.Parameter != tt.wantParam {
					t.Errorf("code, parameter = %q, %q; want %q, %q",
						body.Code, body.Parameter, api.CodeInvalidParameter, tt.wantParam)
				}
				if !strings.Contains(body.Error, tt.wantText) {
					t.Errorf("error = %q, want it to contain %q", body.Error, tt.wantText)
				}
			})
		}
	}
}

func TestHistoryOfExpiredWindow(t *testing.T) {
	t.Parallel()
	// With 25h of retention at 10:22:05, windows that ended before 09:22:05 the day before
	// are gone: the minute 09:21 (ends 09:22:00) is, the minute 09:22 (ends 09:23) is not.
	tests := []struct {
		name       string
		advance    time.Duration
		path       string
		wantStatus int
	}{
		{name: "minute that ended before the retention", path: "/api/stats/minute?at=" +
			strconv.FormatInt(at(9, 21, 30, 0).Add(-24*time.Hour).Unix(), 10),
			wantStatus: http.StatusNotFound},
		{name: "minute that ends after it", path: "/api/stats/minute?at=" +
			strconv.FormatInt(at(9, 22, 30, 0).Add(-24*time.Hour).Unix(), 10),
			wantStatus: http.StatusOK},
		{name: "minute ending exactly at the retention edge", advance: 55 * time.Second,
			path: "/api/stats/minute?at=" +
				strconv.FormatInt(at(9, 22, 30, 0).Add(-24*time.Hour).Unix(), 10),
			wantStatus: http.StatusOK},
		{name: "minute one nanosecond past the edge", advance: 55*time.Second + 1,
			path: "/api/stats/minute?at=" +
				strconv.FormatInt(at(9, 22, 30, 0).Add(-24*time.Hour).Unix(), 10),
			wantStatus: http.StatusNotFound},
		{name: "hour that ended before the retention", path: "/api/stats/hour?at=" +
			strconv.FormatInt(at(8, 0, 0, 0).Add(-24*time.Hour).Unix(), 10),
			wantStatus: http.StatusNotFound},
		{name: "epoch", path: "/api/stats/hour?at=0", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, clk := historyFixture(t)
			clk.Advance(tt.advance)
			rec := serve(t, h, http.MethodGet, tt.path)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Header().Get(api.HeaderWindowStart) == "" {
				t.Errorf("%s missing", api.HeaderWindowStart)
			}
			if tt.wantStatus != http.StatusNotFound {
				return
			}
			body := decodeError(t, rec.Body.Bytes())
			if body.Code != api.CodeWindowExpired {
				t.Errorf("code = %q, want %q", body.Code, api.CodeWindowExpired)
			}
			if !strings.Contains(body.Error, "SNAPSHOT_RETENTION 25h0m0s") {
				t.Errorf("error = %q, want it to name the retention", body.Error)
			}
		})
	}
}

func TestSeedRoutesTellFreshness(t *testing.T) {
	t.Parallel()
	h, _ := historyFixture(t)
	tests := []struct {
		name          string
		path          string
		wantPublished string
		wantAge       string
	}{
		{name: "last minute", path: api.RouteLastMinute,
			wantPublished: "2020-12-16T10:22:02.500Z", wantAge: "2.500"},
		{name: "last hour", path: api.RouteLastHour,
			wantPublished: "2020-12-16T10:01:00.250Z", wantAge: "1264.750"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, http.MethodGet, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if !strings.HasPrefix(rec.Body.String(), "[") {
				t.Errorf("body = %s, want the seed's bare array", rec.Body)
			}
			checkHeaders(t, rec.Header(), map[string]string{
				api.HeaderPublishedAt: tt.wantPublished,
				api.HeaderSnapshotAge: tt.wantAge,
			})
		})
	}
}

// BenchmarkHistory measures a history answer of the default depth.
func BenchmarkHistory(b *testing.B) {
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
	req := httptest.NewRequest(http.MethodGet, api.RouteMinute+"?limit=100", nil)

	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status = %d", rec.Code)
		}
	}
}
