package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/services/ingest/internal/publisher"
	"toptraffic/services/ingest/internal/timepolicy"
)

// The fake clock reads 2020-12-16T07:10:40.123456789Z; records carry it cut to milliseconds.
var (
	testNow    = time.Unix(1608102640, 123456789)
	testRecord = time.Unix(1608102640, 123000000)
)

// Timestamps around testNow.
const (
	tsNow         = 1608102631 // 07:10:31, this minute
	tsLateMinute  = 1608102005 // 07:00:05: its minute closed long ago, its hour is open
	tsTooOld      = 1608099031 // 06:10:31: its hour closed at 07:00, lateness ended 07:00:30
	tsFuture      = 1608102941 // 07:15:41, 5m0.877s ahead
	tsFutureSkewd = 1608102940 // 07:15:40, within the 5m skew by 0.123s
)

// fakePublisher records what it is given and fails as told.
type fakePublisher struct {
	mu sync.Mutex
	// notReady and unreachable make Check report an unconfirmed topic or a silent broker.
	notReady    bool
	unreachable bool
	err         error
	panics      bool
	block       bool
	calls       [][]kafka.Message
}

func (f *fakePublisher) Publish(ctx context.Context, msgs []kafka.Message) error {
	f.mu.Lock()
	f.calls = append(f.calls, msgs)
	err, block, panics := f.err, f.block, f.panics
	f.mu.Unlock()
	if panics {
		panic("publisher exploded")
	}
	if block {
		// Stands for a broker that never answers: the produce timeout ends the wait.
		<-ctx.Done()
		return fmt.Errorf("wait for acks: %w", publisher.ErrAckTimeout)
	}
	return err
}

func (f *fakePublisher) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.notReady:
		return publisher.ErrNotReady
	case f.unreachable:
		return fmt.Errorf("no broker answered: %w", publisher.ErrUnavailable)
	}
	return nil
}

func (f *fakePublisher) published() [][]kafka.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// record is what a test expects one Kafka record to hold.
type record struct {
	key   string
	ts    int64
	count uint64
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func testConfig() Config {
	return Config{
		MaxBodyBytes: 1 << 10,
		Limits:       counter.Limits{MaxDomainsPerCounter: 3, MaxCountersPerRequest: 4},
		Policy: timepolicy.Policy{
			AllowedLateness: 30 * time.Second,
			MaxFutureSkew:   5 * time.Minute,
		},
	}
}

// statsStub stands in for the query service behind the proxy.
func statsStub() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"domain":"sitec.com","count":7}] %s auth=%q`,
			r.URL.RequestURI(), r.Header.Get("Authorization"))
	})
}

func newHandler(t *testing.T, cfg Config, pub Publisher, logger *zap.Logger) http.Handler {
	t.Helper()
	if logger == nil {
		logger = zap.NewNop()
	}
	return New(cfg, Deps{
		Publisher: pub,
		Stats:     statsStub(),
		Clock:     clock.NewFake(testNow),
		Logger:    logger,
	})
}

func serve(t *testing.T, h http.Handler, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") &&
		strings.HasPrefix(res.raw, "{") {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, res.raw)
		}
	}
	return res
}

func post(body, contentType string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, RouteCounters, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// checkRecords compares what the publisher was handed with want, decoding each value.
func checkRecords(t *testing.T, calls [][]kafka.Message, want []record) {
	t.Helper()
	if len(want) == 0 {
		if len(calls) != 0 {
			t.Errorf("publisher called %d times, want never", len(calls))
		}
		return
	}
	if len(calls) != 1 {
		t.Fatalf("publisher called %d times, want once with all records", len(calls))
	}
	msgs := calls[0]
	if len(msgs) != len(want) {
		t.Fatalf("published %d records, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		ts, count, err := counter.DecodeRecord(m.Value)
		if err != nil {
			t.Errorf("record %d: %v", i, err)
			continue
		}
		got := record{key: string(m.Key), ts: ts, count: count}
		if got != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, got, want[i])
		}
		if !m.Time.Equal(testRecord) {
			t.Errorf("record %d time = %s, want the receipt time %s", i, m.Time, testRecord)
		}
		if m.Topic != "" {
			t.Errorf("record %d has topic %q; the publisher sets it", i, m.Topic)
		}
	}
}

func TestPostCounters(t *testing.T) {
	okBody := func(accepted, future, tooOld int) string {
		return fmt.Sprintf(`{"accepted":%d,"dropped":%d,`+
			`"dropped_reasons":{"future":%d,"too_old":%d}}`,
			accepted, future+tooOld, future, tooOld)
	}

	tests := []struct {
		name        string
		body        string
		contentType string
		encoding    string
		pub         *fakePublisher
		cfg         func(*Config)

		wantStatus int
		// wantBody is compared exactly, when set.
		wantBody string
		// wantCode, wantField and wantCounter check an error body, when set.
		wantCode    string
		wantField   string
		wantCounter int
		wantRecords []record
		wantRetry   bool
	}{
		{
			name:       "single counter",
			body:       fmt.Sprintf(`{"timestamp": %d, "siteB.com": 4, "siteA.com": 3}`, tsNow),
			wantStatus: http.StatusOK,
			wantBody:   okBody(2, 0, 0),
			wantRecords: []record{
				{key: "sitea.com", ts: tsNow, count: 3},
				{key: "siteb.com", ts: tsNow, count: 4},
			},
		},
		{
			name:        "json content type with charset",
			contentType: "application/json; charset=utf-8",
			body:        fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			wantStatus:  http.StatusOK,
			wantBody:    okBody(1, 0, 0),
			wantRecords: []record{{key: "a.com", ts: tsNow, count: 1}},
		},
		{
			name: "array of counters",
			body: fmt.Sprintf(`[{"timestamp": %d, "a.com": 1},
				{"timestamp": %d, "A.com": 2, "b.com": 5}]`, tsNow, tsNow+1),
			wantStatus: http.StatusOK,
			wantBody:   okBody(3, 0, 0),
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
				{key: "a.com", ts: tsNow + 1, count: 2},
				{key: "b.com", ts: tsNow + 1, count: 5},
			},
		},
		{
			name:        "ndjson",
			contentType: "application/x-ndjson",
			body: fmt.Sprintf("{\"timestamp\": %d, \"a.com\": 1}\n\n"+
				"{\"timestamp\": %d, \"c.com\": 9}\n", tsNow, tsNow),
			wantStatus: http.StatusOK,
			wantBody:   okBody(2, 0, 0),
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
				{key: "c.com", ts: tsNow, count: 9},
			},
		},
		{
			name:        "curl -d form content type is read as json",
			contentType: "application/x-www-form-urlencoded",
			body:        fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			wantStatus:  http.StatusOK,
			wantBody:    okBody(1, 0, 0),
			wantRecords: []record{{key: "a.com", ts: tsNow, count: 1}},
		},
		{
			name:       "counter without domains",
			body:       fmt.Sprintf(`{"timestamp": %d}`, tsNow),
			wantStatus: http.StatusOK,
			wantBody:   okBody(0, 0, 0),
		},
		{
			name:       "zero counts are dropped by the codec, not reported",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 0}`, tsNow),
			wantStatus: http.StatusOK,
			wantBody:   okBody(0, 0, 0),
		},
		{
			name:       "late for its minute but not its hour is kept",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 2}`, tsLateMinute),
			wantStatus: http.StatusOK,
			wantBody:   okBody(1, 0, 0),
			wantRecords: []record{
				{key: "a.com", ts: tsLateMinute, count: 2},
			},
		},
		{
			name:        "just within the future skew",
			body:        fmt.Sprintf(`{"timestamp": %d, "a.com": 2}`, tsFutureSkewd),
			wantStatus:  http.StatusOK,
			wantBody:    okBody(1, 0, 0),
			wantRecords: []record{{key: "a.com", ts: tsFutureSkewd, count: 2}},
		},
		{
			name: "some dropped, some accepted",
			body: fmt.Sprintf(`[{"timestamp": %d, "a.com": 1, "b.com": 1},
				{"timestamp": %d, "c.com": 1},
				{"timestamp": %d, "d.com": 1}]`, tsFuture, tsTooOld, tsNow),
			wantStatus:  http.StatusOK,
			wantBody:    okBody(1, 2, 1),
			wantRecords: []record{{key: "d.com", ts: tsNow, count: 1}},
		},
		{
			name: "all dropped",
			body: fmt.Sprintf(`[{"timestamp": %d, "a.com": 1}, {"timestamp": %d, "c.com": 1}]`,
				tsFuture, tsTooOld),
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   codeAllDropped,
		},
		{
			name:       "missing timestamp",
			body:       `{"a.com": 1}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   codeInvalidTimestamp,
			wantField:  "timestamp",
		},
		{
			name:        "negative timestamp",
			body:        `[{"timestamp": 1608102631}, {"timestamp": -5, "a.com": 1}]`,
			wantStatus:  http.StatusBadRequest,
			wantCode:    codeInvalidTimestamp,
			wantField:   "timestamp",
			wantCounter: 1,
		},
		{
			name:       "bad count names the domain",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": "three"}`, tsNow),
			wantStatus: http.StatusBadRequest,
			wantCode:   codeInvalidCount,
			wantField:  "a.com",
		},
		{
			name:       "bad domain",
			body:       fmt.Sprintf(`{"timestamp": %d, "a b.com": 1}`, tsNow),
			wantStatus: http.StatusBadRequest,
			wantCode:   codeInvalidDomain,
			wantField:  "a b.com",
		},
		{
			name:       "not json",
			body:       `timestamp=1`,
			wantStatus: http.StatusBadRequest,
			wantCode:   codeMalformedBody,
		},
		{
			name:       "empty body",
			body:       ``,
			wantStatus: http.StatusBadRequest,
			wantCode:   codeMalformedBody,
		},
		{
			name: "too many domains",
			body: fmt.Sprintf(`{"timestamp": %d, "a.com": 1, "b.com": 1, "c.com": 1, "d.com": 1}`,
				tsNow),
			wantStatus: http.StatusRequestEntityTooLarge,
			wantCode:   codeRequestTooLarge,
		},
		{
			name:       "too many counters",
			body:       strings.Repeat(`{"timestamp": 1608102631}`+"\n", 5),
			wantStatus: http.StatusRequestEntityTooLarge,
			wantCode:   codeRequestTooLarge,
			// Format NDJSON
			contentType: "application/x-ndjson",
		},
		{
			name:       "body over the byte limit",
			body:       `{"timestamp": 1608102631, "a.com": 1` + strings.Repeat(" ", 1<<10) + `}`,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantCode:   codeBodyTooLarge,
		},
		{
			name:        "unsupported content type",
			contentType: "text/plain",
			body:        fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			wantStatus:  http.StatusUnsupportedMediaType,
			wantCode:    codeUnsupportedMediaType,
		},
		{
			// A gzipped body would otherwise fail as malformed JSON at its first byte.
			name:       "compressed body",
			encoding:   "gzip",
			body:       "\x1f\x8b\x08\x00",
			wantStatus: http.StatusUnsupportedMediaType,
			wantCode:   codeUnsupportedMediaType,
		},
		{
			name:        "identity encoding",
			encoding:    "identity",
			body:        fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			wantStatus:  http.StatusOK,
			wantBody:    okBody(1, 0, 0),
			wantRecords: []record{{key: "a.com", ts: tsNow, count: 1}},
		},
		{
			name:       "publisher not ready",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			pub:        &fakePublisher{err: fmt.Errorf("x: %w", publisher.ErrNotReady)},
			wantStatus: http.StatusServiceUnavailable,
			wantCode:   codeNotReady,
			wantRetry:  true,
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
			},
		},
		{
			name:       "broker refuses",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			pub:        &fakePublisher{err: fmt.Errorf("x: %w", publisher.ErrUnavailable)},
			wantStatus: http.StatusServiceUnavailable,
			wantCode:   codeKafkaUnavailable,
			wantRetry:  true,
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
			},
		},
		{
			name:       "broker does not acknowledge in time",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			pub:        &fakePublisher{err: fmt.Errorf("x: %w", publisher.ErrAckTimeout)},
			wantStatus: http.StatusServiceUnavailable,
			wantCode:   codeKafkaUnavailable,
			wantRetry:  true,
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
			},
		},
		{
			name:       "publisher closed",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			pub:        &fakePublisher{err: publisher.ErrClosed},
			wantStatus: http.StatusServiceUnavailable,
			wantCode:   codeShuttingDown,
			wantRetry:  true,
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
			},
		},
		{
			name:       "publisher panics",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow),
			pub:        &fakePublisher{panics: true},
			wantStatus: http.StatusInternalServerError,
			wantCode:   codeInternal,
			wantRecords: []record{
				{key: "a.com", ts: tsNow, count: 1},
			},
		},
		{
			name:       "zero lateness drops the previous hour at once",
			body:       fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow-3600),
			cfg:        func(c *Config) { c.Policy.AllowedLateness = 0 },
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   codeAllDropped,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := tt.pub
			if pub == nil {
				pub = &fakePublisher{}
			}
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := newHandler(t, cfg, pub, nil)

			req := post(tt.body, tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			res := serve(t, h, req)

			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.status, tt.wantStatus, res.raw)
			}
			if tt.wantBody != "" && strings.TrimSpace(res.raw) != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", res.raw, tt.wantBody)
			}
			if tt.wantCode != "" {
				checkErrorBody(t, res, tt.wantCode)
				if got, _ := res.body["field"].(string); got != tt.wantField {
					t.Errorf("field = %q, want %q", got, tt.wantField)
				}
				if tt.wantCounter > 0 {
					if got, _ := res.body["counter"].(float64); int(got) != tt.wantCounter {
						t.Errorf("counter = %v, want %d", res.body["counter"], tt.wantCounter)
					}
				}
			}
			if got := res.header.Get("Retry-After"); (got == "1") != tt.wantRetry {
				t.Errorf("Retry-After = %q, want it set: %v", got, tt.wantRetry)
			}
			checkRecords(t, pub.published(), tt.wantRecords)
		})
	}
}

// checkErrorBody checks the shape every error shares: a JSON content type, a human message
// that quotes no more than a short prefix of the input, and the code.
func checkErrorBody(t *testing.T, res response, wantCode string) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	if got, _ := res.body["code"].(string); got != wantCode {
		t.Errorf("code = %q, want %q; body %s", got, wantCode, res.raw)
	}
	msg, _ := res.body["error"].(string)
	if msg == "" {
		t.Errorf("error message is empty; body %s", res.raw)
	}
	if len(msg) > 400 {
		t.Errorf("error message is %d bytes long: %s", len(msg), msg)
	}
}

func TestAllDroppedBody(t *testing.T) {
	h := newHandler(t, testConfig(), &fakePublisher{}, nil)
	body := fmt.Sprintf(`[{"timestamp": %d, "a.com": 1, "b.com": 2},
		{"timestamp": %d, "c.com": 1}]`, tsFuture, tsTooOld)

	res := serve(t, h, post(body, ""))

	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422; body %s", res.status, res.raw)
	}
	want := map[string]any{
		"accepted":        0.0,
		"dropped":         3.0,
		"dropped_reasons": map[string]any{"future": 2.0, "too_old": 1.0},
		"code":            codeAllDropped,
	}
	for k, v := range want {
		if fmt.Sprint(res.body[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, res.body[k], v)
		}
	}
	if msg, _ := res.body["error"].(string); !strings.Contains(msg, "5m0s") {
		t.Errorf("error %q does not state the skew", msg)
	}
}

func TestPostCountersSubMillisecondClock(t *testing.T) {
	// The fake clock has nanoseconds; the record time and the policy use milliseconds,
	// as Kafka does.
	pub := &fakePublisher{}
	h := newHandler(t, testConfig(), pub, nil)
	res := serve(t, h, post(fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow), ""))
	if res.status != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.status, res.raw)
	}
	calls := pub.published()
	if got := calls[0][0].Time; got.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("record time %s has sub-millisecond digits", got)
	}
}

func TestPublishTimeoutAnswers503(t *testing.T) {
	// A publisher that waits until the request context ends stands for a silent broker; the
	// handler must answer once the context ends rather than hang.
	pub := &fakePublisher{block: true}
	h := newHandler(t, testConfig(), pub, nil)
	req := post(fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow), "")
	ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
	defer cancel()

	res := serve(t, h, req.WithContext(ctx))

	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", res.status, res.raw)
	}
	checkErrorBody(t, res, codeKafkaUnavailable)
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		notReady    bool
		unreachable bool
		wantStatus  int
		wantCode    string
		wantAllow   string
		wantBody    string
	}{
		{name: "health", method: http.MethodGet, path: RouteHealth,
			wantStatus: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "health while not ready", method: http.MethodGet, path: RouteHealth,
			notReady: true, wantStatus: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "ready", method: http.MethodGet, path: RouteReady,
			wantStatus: http.StatusOK, wantBody: `{"status":"ready"}`},
		{name: "not ready", method: http.MethodGet, path: RouteReady, notReady: true,
			wantStatus: http.StatusServiceUnavailable, wantCode: codeNotReady},
		{name: "broker unreachable", method: http.MethodGet, path: RouteReady,
			unreachable: true,
			wantStatus:  http.StatusServiceUnavailable, wantCode: codeKafkaUnavailable},
		{name: "no metrics route without metrics", method: http.MethodGet, path: RouteMetrics,
			wantStatus: http.StatusNotFound, wantCode: codeNotFound},
		{name: "unknown path", method: http.MethodGet, path: "/api/nope",
			wantStatus: http.StatusNotFound, wantCode: codeNotFound},
		{name: "trailing slash is not redirected", method: http.MethodPost,
			path: RouteCounters + "/", wantStatus: http.StatusNotFound, wantCode: codeNotFound},
		{name: "get on counters", method: http.MethodGet, path: RouteCounters,
			wantStatus: http.StatusMethodNotAllowed, wantCode: codeMethodNotAllowed,
			wantAllow: "POST"},
		{name: "delete on counters", method: http.MethodDelete, path: RouteCounters,
			wantStatus: http.StatusMethodNotAllowed, wantCode: codeMethodNotAllowed,
			wantAllow: "POST"},
		{name: "post on stats", method: http.MethodPost, path: RouteLastHour,
			wantStatus: http.StatusMethodNotAllowed, wantCode: codeMethodNotAllowed,
			wantAllow: "GET"},
		{name: "stats last minute forwarded", method: http.MethodGet, path: RouteLastMinute,
			wantStatus: http.StatusOK,
			wantBody:   `[{"domain":"sitec.com","count":7}] /api/stats/lastMinute auth=""`},
		{name: "stats last hour forwarded", method: http.MethodGet, path: RouteLastHour,
			wantStatus: http.StatusOK,
			wantBody:   `[{"domain":"sitec.com","count":7}] /api/stats/lastHour auth=""`},
		{name: "history minute forwarded with its query", method: http.MethodGet,
			path: RouteMinute + "?at=1608102631&limit=3", wantStatus: http.StatusOK,
			wantBody: `[{"domain":"sitec.com","count":7}] /api/stats/minute?at=1608102631&limit=3 auth=""`},
		{name: "history hour forwarded", method: http.MethodGet, path: RouteHour + "?at=1608102631",
			wantStatus: http.StatusOK,
			wantBody:   `[{"domain":"sitec.com","count":7}] /api/stats/hour?at=1608102631 auth=""`},
		{name: "post on history", method: http.MethodPost, path: RouteMinute,
			wantStatus: http.StatusMethodNotAllowed, wantCode: codeMethodNotAllowed,
			wantAllow: "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{notReady: tt.notReady, unreachable: tt.unreachable}
			h := newHandler(t, testConfig(), pub, nil)

			res := serve(t, h, httptest.NewRequest(tt.method, tt.path, nil))

			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.status, tt.wantStatus, res.raw)
			}
			if tt.wantCode != "" {
				checkErrorBody(t, res, tt.wantCode)
			}
			if tt.wantBody != "" && strings.TrimSpace(res.raw) != tt.wantBody {
				t.Errorf("body = %s, want %s", res.raw, tt.wantBody)
			}
			if got := res.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestBearerTokens(t *testing.T) {
	goodPost := fmt.Sprintf(`{"timestamp": %d, "a.com": 1}`, tsNow)
	tests := []struct {
		name         string
		ingestTokens []string
		statsTokens  []string
		method       string
		path         string
		auth         string
		wantStatus   int
	}{
		{name: "no tokens configured, no header", method: http.MethodPost,
			path: RouteCounters, wantStatus: http.StatusOK},
		{name: "ingest token required and missing", ingestTokens: []string{"s3cret-a"},
			method: http.MethodPost, path: RouteCounters,
			wantStatus: http.StatusUnauthorized},
		{name: "ingest token wrong", ingestTokens: []string{"s3cret-a"},
			method: http.MethodPost, path: RouteCounters, auth: "Bearer s3cret-b",
			wantStatus: http.StatusUnauthorized},
		{name: "ingest token prefix is not enough", ingestTokens: []string{"s3cret-a"},
			method: http.MethodPost, path: RouteCounters, auth: "Bearer s3cret",
			wantStatus: http.StatusUnauthorized},
		{name: "wrong scheme", ingestTokens: []string{"s3cret-a"},
			method: http.MethodPost, path: RouteCounters, auth: "Basic s3cret-a",
			wantStatus: http.StatusUnauthorized},
		{name: "ingest token right", ingestTokens: []string{"s3cret-a"},
			method: http.MethodPost, path: RouteCounters, auth: "Bearer s3cret-a",
			wantStatus: http.StatusOK},
		{name: "second ingest token, scheme in lower case",
			ingestTokens: []string{"s3cret-a", "s3cret-b"}, method: http.MethodPost,
			path: RouteCounters, auth: "bearer s3cret-b", wantStatus: http.StatusOK},
		{name: "stats open while only ingest tokens are set",
			ingestTokens: []string{"s3cret-a"}, method: http.MethodGet, path: RouteLastHour,
			wantStatus: http.StatusOK},
		{name: "stats token required and missing", statsTokens: []string{"s3cret-s"},
			method: http.MethodGet, path: RouteLastMinute, wantStatus: http.StatusUnauthorized},
		{name: "history needs the stats token too", statsTokens: []string{"s3cret-s"},
			method: http.MethodGet, path: RouteHour, wantStatus: http.StatusUnauthorized},
		{name: "stats token right", statsTokens: []string{"s3cret-s"},
			method: http.MethodGet, path: RouteLastMinute, auth: "Bearer s3cret-s",
			wantStatus: http.StatusOK},
		{name: "ingest token does not open stats", ingestTokens: []string{"s3cret-a"},
			statsTokens: []string{"s3cret-s"}, method: http.MethodGet, path: RouteLastHour,
			auth: "Bearer s3cret-a", wantStatus: http.StatusUnauthorized},
		{name: "health stays open", ingestTokens: []string{"s3cret-a"},
			statsTokens: []string{"s3cret-s"}, method: http.MethodGet, path: RouteHealth,
			wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			cfg := testConfig()
			cfg.IngestTokens = tt.ingestTokens
			cfg.StatsTokens = tt.statsTokens
			h := newHandler(t, cfg, &fakePublisher{}, zap.New(core))

			var body *strings.Reader
			if tt.method == http.MethodPost {
				body = strings.NewReader(goodPost)
			} else {
				body = strings.NewReader("")
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}

			res := serve(t, h, req)

			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.status, tt.wantStatus, res.raw)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				checkErrorBody(t, res, codeUnauthorized)
				if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
			}
			for _, e := range logs.All() {
				if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "s3cret") {
					t.Errorf("a token was logged: %s", line)
				}
			}
		})
	}
}

func TestRequestLogAtDebug(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newHandler(t, testConfig(), &fakePublisher{}, zap.New(core))

	serve(t, h, httptest.NewRequest(http.MethodGet, "/no/such/thing?secret=x", nil))

	entries := logs.FilterMessage("http request").All()
	if len(entries) != 1 {
		t.Fatalf("got %d request log lines, want 1", len(entries))
	}
	e := entries[0]
	if e.Level != zapcore.DebugLevel {
		t.Errorf("level = %s, want debug", e.Level)
	}
	fields := e.ContextMap()
	if fields["route"] != "unmatched" || fields["status"] != int64(http.StatusNotFound) {
		t.Errorf("fields = %v, want route unmatched and status 404", fields)
	}
}

func TestAppendCountersJSON(t *testing.T) {
	tests := []struct {
		name string
		resp countersResponse
	}{
		{name: "zero", resp: countersResponse{}},
		{name: "accepted only", resp: countersResponse{Accepted: 3}},
		{
			name: "some dropped",
			resp: countersResponse{
				Accepted:       7,
				Dropped:        5,
				DroppedReasons: droppedReasons{Future: 2, TooOld: 3},
			},
		},
		{
			name: "large counts",
			resp: countersResponse{
				Accepted:       1 << 40,
				Dropped:        1<<31 + 1,
				DroppedReasons: droppedReasons{Future: 1 << 31, TooOld: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendCountersJSON(nil, tt.resp); string(got) != string(want) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

// TestPostAnswerHeaders checks that the 200 answer, written without gin's JSON renderer, has
// the headers that renderer sets.
func TestPostAnswerHeaders(t *testing.T) {
	h := newHandler(t, testConfig(), &fakePublisher{}, nil)
	res := serve(t, h, post(fmt.Sprintf(`{"timestamp":%d,"a.com":1}`, tsNow), "application/json"))
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", res.status, res.raw)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := `{"accepted":1,"dropped":0,"dropped_reasons":{"future":0,"too_old":0}}`
	if res.raw != want {
		t.Errorf("body = %s, want %s", res.raw, want)
	}
}

func TestReadAll(t *testing.T) {
	small := strings.Repeat("a", 100)
	large := strings.Repeat("b", 3*maxPresize+7)
	broken := errors.New("connection reset")
	tests := []struct {
		name     string
		r        io.Reader
		declared int64
		want     string
		wantErr  error
	}{
		{name: "declared length", r: strings.NewReader(small), declared: 100, want: small},
		{name: "unknown length", r: strings.NewReader(small), declared: -1, want: small},
		{name: "empty", r: strings.NewReader(""), declared: 0, want: ""},
		{name: "shorter than declared", r: strings.NewReader(small), declared: 1000,
			want: small},
		{name: "longer than declared", r: strings.NewReader(small), declared: 10, want: small},
		{name: "one byte per read", r: iotest.OneByteReader(strings.NewReader(small)),
			declared: 100, want: small},
		{name: "over the presize", r: strings.NewReader(large), declared: int64(len(large)),
			want: large},
		{name: "over the presize, unknown length", r: strings.NewReader(large), declared: -1,
			want: large},
		{name: "a read error is returned",
			r:        io.MultiReader(strings.NewReader(small), iotest.ErrReader(broken)),
			declared: 200, want: small, wantErr: broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.r, tt.declared)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("read %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}
