package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Outcome is what the answer to a POST /api/counters says about the request's records.
type Outcome int

const (
	// Written: a 2xx, every record was acknowledged. The counters belong to the ground truth.
	Written Outcome = iota
	// NotWritten: nothing reached the topic, so the same request may be sent again.
	NotWritten
	// Ambiguous: some or all records may be in the topic, once or more.
	Ambiguous
	// Rejected: the gateway refused the request itself (4xx); the test sent something wrong.
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case Written:
		return "written"
	case NotWritten:
		return "not written"
	case Ambiguous:
		return "ambiguous"
	case Rejected:
		return "rejected"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Classify tells from a POST's status, body and transport error what happened to its records,
// with a short reason for the statistics.
//
// Following services/ingest/README.md: not_ready and shutting_down write nothing,
// kafka_unavailable may have written some or all records. A refused connection writes nothing.
// A connection dropped without an answer is taken as "not written" too: the gateway finishes
// every request it has read before it stops, so only connections it never read are dropped
// (those still in the listen queue when it closes the listener). Should the gateway break that
// promise, the retry counts the request twice and the exact comparison fails, which is what a
// fault suite is for. A client timeout stays ambiguous: the gateway may still be working on it.
func Classify(status int, body []byte, err error) (Outcome, string) {
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return NotWritten, "connection_refused"
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
			errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return NotWritten, "connection_dropped"
		}
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			return Ambiguous, "client_timeout"
		}
		return Ambiguous, "transport_error"
	}
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &e)
	switch {
	case status >= 200 && status < 300:
		return Written, "ok"
	case status == http.StatusServiceUnavailable && (e.Code == "not_ready" ||
		e.Code == "shutting_down"):
		return NotWritten, e.Code
	case status == http.StatusServiceUnavailable && e.Code == "kafka_unavailable":
		return Ambiguous, e.Code
	case status >= 400 && status < 500:
		return Rejected, fmt.Sprintf("status_%d_%s", status, e.Code)
	}
	return Ambiguous, fmt.Sprintf("status_%d_%s", status, e.Code)
}

// Truth is the ground truth: every counter the gateway acknowledged with a 2xx. It is safe
// for concurrent use.
type Truth struct {
	mu       sync.Mutex
	counters []Counter
}

// Add records acknowledged counters.
func (tr *Truth) Add(cs ...Counter) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.counters = append(tr.counters, cs...)
}

// Counters returns a copy of the acknowledged counters.
func (tr *Truth) Counters() []Counter {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]Counter(nil), tr.counters...)
}

// Expected sums the acknowledged counters of one window by domain.
func (tr *Truth) Expected(start time.Time, size time.Duration) map[string]uint64 {
	return Expected(tr.Counters(), start, size)
}

// Body encodes counters as the JSON array a producer POSTs.
func Body(cs []Counter) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.JSON()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Mode says what requests a Load sends.
type Mode int

const (
	// Hot requests carry the ranked domains of the Plan: losing or repeating one shows in the
	// top ten.
	Hot Mode = iota
	// Cold requests carry count 1 for domains used nowhere else, so whatever happens to them
	// cannot change the top ten; they are for phases where outcomes may be ambiguous.
	Cold
	// Paused sends nothing.
	Paused
)

// LoadOptions shape a Load.
type LoadOptions struct {
	// Workers is how many requests are in flight at most (default 4).
	Workers int
	// Interval is each worker's pause between two requests (default 20ms).
	Interval time.Duration
	// Plan names the domains (default DefaultPlan()).
	Plan *Plan
}

// LoadStats counts what a Load did.
type LoadStats struct {
	// Requests counts every POST sent, retries included.
	Requests int
	// Written counts requests answered 2xx, and the counters and records they carried.
	Written, Counters, Records int
	// ByReason counts every answer by Classify's reason.
	ByReason map[string]int
	// AmbiguousHot and AmbiguousCold count requests whose records may or may not be in the
	// topic; the test cannot be exact about hot ones.
	AmbiguousHot, AmbiguousCold int
	// Problems describes rejected and ambiguous hot requests, the first few of each.
	Problems []string
}

// Load posts counters to a stack's gateway from a few workers until stopped, retries requests
// that were not written, and adds every acknowledged counter to the truth. Its workers report
// through LoadStats; they never fail the test themselves.
type Load struct {
	s     *Stack
	truth *Truth
	opts  LoadOptions
	stop  chan struct{}
	wg    sync.WaitGroup
	// gate is held shared by every request in flight, so SetMode can wait for them to end.
	gate sync.RWMutex

	mu      sync.Mutex
	mode    Mode
	resumed chan struct{}
	stats   LoadStats
	client  *http.Client
}

// StartLoad starts posting hot requests to s.
func StartLoad(t testing.TB, s *Stack, truth *Truth, opts LoadOptions) *Load {
	t.Helper()
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Interval <= 0 {
		opts.Interval = 20 * time.Millisecond
	}
	if opts.Plan == nil {
		p := DefaultPlan()
		opts.Plan = &p
	}
	l := &Load{
		s:       s,
		truth:   truth,
		opts:    opts,
		stop:    make(chan struct{}),
		resumed: make(chan struct{}),
		stats:   LoadStats{ByReason: map[string]int{}},
		// A connection per request: a request then either reaches a gateway that answers it
		// or is refused, and never races a keep-alive connection the gateway closes.
		client: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("load: %d workers, %v between requests, seed %d", opts.Workers, opts.Interval, seed)
	for i := range opts.Workers {
		l.wg.Add(1)
		go l.work(rand.New(rand.NewPCG(seed, uint64(i))), i)
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

// SetMode switches what the workers send next. It returns once no request of the old mode is
// in flight, so after SetMode(Cold) every hot request has its final answer, and after
// SetMode(Paused) nothing is in flight at all.
func (l *Load) SetMode(m Mode) {
	l.gate.Lock()
	defer l.gate.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mode == Paused && m != Paused {
		close(l.resumed)
	}
	if m == Paused && l.mode != Paused {
		l.resumed = make(chan struct{})
	}
	l.mode = m
}

// Stats returns the counts so far.
func (l *Load) Stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.ByReason = maps.Clone(l.stats.ByReason)
	st.Problems = append([]string(nil), l.stats.Problems...)
	return st
}

// WaitWritten waits until the load has n more acknowledged requests than when called.
func (l *Load) WaitWritten(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	target := l.Stats().Written + n
	Eventually(t, timeout, func() error {
		st := l.Stats()
		if st.Written < target {
			return fmt.Errorf("load has %d of %d acknowledged requests; answers so far: %v",
				st.Written, target, st.ByReason)
		}
		return nil
	})
}

// Stop ends the load: requests still being retried are given up (they were never written),
// the ones in flight get their answer. It returns the final counts; calling it again returns
// them again.
func (l *Load) Stop() LoadStats {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	return l.Stats()
}

func (l *Load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Load) work(rng *rand.Rand, worker int) {
	defer l.wg.Done()
	pace := time.NewTimer(0)
	defer pace.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-l.stop:
			return
		case <-pace.C:
		}
		l.gate.RLock()
		l.mu.Lock()
		mode, resumed := l.mode, l.resumed
		l.mu.Unlock()
		if mode == Paused {
			l.gate.RUnlock()
			select {
			case <-l.stop:
				return
			case <-resumed:
			}
			pace.Reset(0)
			continue
		}
		var cs []Counter
		if mode == Hot {
			cs = l.opts.Plan.HotRequest(rng, time.Now())
		} else {
			cs = l.opts.Plan.ColdRequest(rng, time.Now(), fmt.Sprintf("%d-%d", worker, seq))
		}
		l.send(cs, mode)
		l.gate.RUnlock()
		pace.Reset(l.opts.Interval)
	}
}

// send posts cs until it is written, its outcome is final, or the load stops.
func (l *Load) send(cs []Counter, mode Mode) {
	body := Body(cs)
	for {
		status, answer, retryAfter, err := l.post(body)
		outcome, reason := Classify(status, answer, err)
		l.record(cs, mode, outcome, reason, answer, err)
		if outcome != NotWritten {
			return
		}
		// Not written: send it again after a short pause, unless the load is stopping.
		t := time.NewTimer(min(retryAfter, time.Second))
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (l *Load) post(body string) (int, []byte, time.Duration, error) {
	resp, err := l.client.Post(l.s.GatewayURL+"/api/counters", "application/json",
		strings.NewReader(body))
	if err != nil {
		return 0, nil, 100 * time.Millisecond, err
	}
	defer resp.Body.Close()
	// The status decides; a body cut short only hides the error code, which makes a 503
	// ambiguous, never a 2xx unwritten.
	b, _ := io.ReadAll(resp.Body)
	retryAfter := 100 * time.Millisecond
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, b, retryAfter, nil
}

func (l *Load) record(cs []Counter, mode Mode, o Outcome, reason string, body []byte, err error) {
	if o == Written {
		l.truth.Add(cs...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.stats
	st.Requests++
	st.ByReason[reason]++
	problem := ""
	switch {
	case o == Written:
		st.Written++
		st.Counters += len(cs)
		for _, c := range cs {
			st.Records += len(c.Counts)
		}
	case o == Ambiguous && mode == Cold:
		st.AmbiguousCold++
	case o == Ambiguous:
		st.AmbiguousHot++
		problem = "ambiguous outcome of a hot request"
	case o == Rejected:
		problem = "request rejected"
	}
	if problem != "" && len(st.Problems) < 5 {
		st.Problems = append(st.Problems, fmt.Sprintf("%s at %s: %s, %s, error %v",
			problem, time.Now().Format("15:04:05.000"), reason, tail(body, 200), err))
	}
}

// PostUntilWritten posts cs as one request until the gateway acknowledges it, retrying answers
// that wrote nothing, and adds it to the truth. It fails the test on any other answer.
func (s *Stack) PostUntilWritten(t testing.TB, truth *Truth, cs []Counter, timeout time.Duration) {
	t.Helper()
	body := Body(cs)
	Eventually(t, timeout, func() error {
		status, answer, err := s.Post(body)
		outcome, reason := Classify(status, []byte(answer), err)
		switch outcome {
		case Written:
			truth.Add(cs...)
			return nil
		case NotWritten:
			return fmt.Errorf("POST not written yet (%s)", reason)
		}
		t.Fatalf("POST %.200s = %d %s, %v: %s, want it written", body, status, answer, err, outcome)
		return nil
	})
}
