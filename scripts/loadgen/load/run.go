package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Paths on the gateway and the query service.
const (
	countersPath   = "/api/counters"
	lastMinutePath = "/api/stats/lastMinute"
)

// ticketTick is how often the schedule releases the requests that have come due. Releasing
// them in small groups costs far less than a timer per request at tens of thousands per second.
const ticketTick = time.Millisecond

// Result is what one run measured.
type Result struct {
	Config  Config    `json:"config"`
	Started time.Time `json:"started"`
	// ElapsedS runs from the first POST to the last answer.
	ElapsedS float64 `json:"elapsed_s"`

	Posts Requests `json:"posts"`
	// Records counts the (counter, domain) records in successful POSTs; Accepted is what the
	// gateway reported accepted for them (the same as Records for a server that says nothing).
	Records  int64 `json:"records"`
	Accepted int64 `json:"accepted"`
	// EventsPerSecond is Accepted over ElapsedS: the domain-events the pipeline took in.
	EventsPerSecond float64 `json:"domain_events_per_second"`

	Gets       *Requests   `json:"gets,omitempty"`
	Visibility *Visibility `json:"visibility,omitempty"`
}

// Runner sends the load of one Config.
type Runner struct {
	cfg    Config
	client *http.Client
	logger *zap.Logger
	// now reads the wall clock for counter timestamps and marker windows; tests replace it.
	now func() time.Time
}

// New checks cfg and builds a runner with a keep-alive client sized for its concurrency.
func New(cfg Config, logger *zap.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conns := cfg.Concurrency + cfg.GetConcurrency + 2
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).
			DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Runner{
		cfg:    cfg,
		client: &http.Client{Transport: tr},
		logger: logger,
		now:    time.Now,
	}, nil
}

// Close drops the idle keep-alive connections.
func (r *Runner) Close() { r.client.CloseIdleConnections() }

// Run sends load until the duration passes, MaxRequests POSTs were sent, or ctx ends, then
// waits for the requests in flight (each bounded by Timeout) and returns what it measured.
// Ending ctx also cuts the requests in flight short.
func (r *Runner) Run(ctx context.Context) (Result, error) {
	// runCtx stops new requests; requests in flight keep ctx so they finish and are counted.
	runCtx, stop := context.WithTimeout(ctx, r.cfg.Duration)
	defer stop()

	posts, gets := &recorder{}, &recorder{}
	var vis *visibilityProbe
	if r.cfg.MarkerInterval > 0 {
		vis = newVisibilityProbe(r)
	}
	started := r.now()
	begin := time.Now()

	g, gctx := errgroup.WithContext(runCtx)
	next := r.postTickets(gctx, g)
	for i := range r.cfg.Concurrency {
		s := posts.newShard()
		g.Go(func() error {
			r.postWorker(ctx, uint64(i), next, s)
			return nil
		})
	}
	if r.cfg.GetRate > 0 {
		tickets := make(chan time.Time)
		g.Go(func() error {
			schedule(gctx, r.cfg.GetRate, 0, tickets)
			return nil
		})
		for range r.cfg.GetConcurrency {
			s := gets.newShard()
			g.Go(func() error {
				r.getWorker(ctx, tickets, s)
				return nil
			})
		}
	}
	if vis != nil {
		g.Go(func() error {
			vis.run(gctx, ctx)
			return nil
		})
	}
	progressDone := make(chan struct{})
	if r.cfg.Progress > 0 {
		go func() {
			defer close(progressDone)
			r.progress(runCtx, begin, posts, gets)
		}()
	} else {
		close(progressDone)
	}
	err := g.Wait()
	elapsed := time.Since(begin)
	stop()
	<-progressDone

	res := Result{Config: r.cfg, Started: started, ElapsedS: elapsed.Seconds()}
	pt := posts.merge(false)
	res.Posts = requestsOf(pt, elapsed)
	res.Records, res.Accepted = pt.records, pt.accepted
	res.EventsPerSecond = perSecond(pt.accepted, elapsed)
	if r.cfg.GetRate > 0 {
		gr := requestsOf(gets.merge(false), elapsed)
		res.Gets = &gr
	}
	if vis != nil {
		v := vis.result()
		res.Visibility = &v
	}
	if err != nil {
		return res, fmt.Errorf("run load: %w", err)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run load: %w", ctx.Err())
	}
	return res, nil
}

// postTickets returns the function POST workers call for their next request: with a rate it
// hands out the scheduled start times, without one it counts requests against MaxRequests and
// says to start now. It reports false when the run is over.
func (r *Runner) postTickets(ctx context.Context, g *errgroup.Group) func() (time.Time, bool) {
	if r.cfg.Rate > 0 {
		tickets := make(chan time.Time)
		g.Go(func() error {
			schedule(ctx, r.cfg.Rate, r.cfg.MaxRequests, tickets)
			return nil
		})
		return func() (time.Time, bool) {
			t, ok := <-tickets
			return t, ok
		}
	}
	var issued atomic.Int64
	return func() (time.Time, bool) {
		if ctx.Err() != nil {
			return time.Time{}, false
		}
		if r.cfg.MaxRequests > 0 && issued.Add(1) > r.cfg.MaxRequests {
			return time.Time{}, false
		}
		return time.Now(), true
	}
}

// schedule sends the intended start time of each request of a steady rate on out, at most
// limit of them when limit is positive, and closes out when ctx ends. When every worker is
// busy the send blocks, and the requests that follow start late: their latency, counted from
// the intended time, shows it.
func schedule(ctx context.Context, rate float64, limit int64, out chan<- time.Time) {
	defer close(out)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(ticketTick)
	defer tick.Stop()
	var issued int64
	for {
		due := int64(time.Since(start).Seconds()*rate) + 1
		if limit > 0 {
			due = min(due, limit)
		}
		for ; issued < due; issued++ {
			select {
			case out <- start.Add(time.Duration(issued) * interval):
			case <-ctx.Done():
				return
			}
		}
		if limit > 0 && issued >= limit {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// postWorker sends POSTs until next says the run is over. reqCtx bounds the requests
// themselves.
func (r *Runner) postWorker(
	reqCtx context.Context,
	stream uint64,
	next func() (time.Time, bool),
	s *shard,
) {
	gen := newBodyGen(r.cfg, stream)
	var body []byte
	var resp bytes.Buffer
	url := r.cfg.URL + countersPath
	for {
		intended, ok := next()
		if !ok {
			return
		}
		var records int
		body, records = gen.appendBody(body[:0], r.now().Unix())
		if r.cfg.Rate == 0 {
			intended = time.Now()
		}
		out, err := r.do(reqCtx, http.MethodPost, url, body, &resp)
		s.record(time.Since(intended), out.outcome, out.ok, records, out.acceptedOr(records))
		if err != nil {
			// The transport may still hold the old body after a failure; never reuse it.
			body = nil
		}
	}
}

// getWorker sends one GET of the statistics per ticket.
func (r *Runner) getWorker(reqCtx context.Context, tickets <-chan time.Time, s *shard) {
	var resp bytes.Buffer
	url := r.cfg.statsURL() + r.cfg.GetPath
	for intended := range tickets {
		out, _ := r.do(reqCtx, http.MethodGet, url, nil, &resp)
		s.record(time.Since(intended), out.outcome, out.ok, 0, 0)
	}
}

// answer is what one request came back with.
type answer struct {
	outcome string
	ok      bool
	status  int
	header  http.Header
	// accepted is the gateway's "accepted" count, or -1 when the body has none.
	accepted int
}

func (a answer) acceptedOr(records int) int {
	if a.accepted < 0 {
		return records
	}
	return a.accepted
}

// do sends one request and reads the whole answer into buf, so the connection is reused.
func (r *Runner) do(
	ctx context.Context,
	method, url string,
	body []byte,
	buf *bytes.Buffer,
) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{outcome: "transport", accepted: -1}, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{outcome: failureOutcome(err), accepted: -1}, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return answer{outcome: failureOutcome(err), accepted: -1},
			fmt.Errorf("read answer: %w", err)
	}
	a := answer{
		outcome:  statusOutcome(resp.StatusCode),
		ok:       resp.StatusCode >= 200 && resp.StatusCode < 300,
		status:   resp.StatusCode,
		header:   resp.Header,
		accepted: -1,
	}
	if method == http.MethodPost && a.ok && buf.Len() > 0 {
		var v struct {
			Accepted *int `json:"accepted"`
		}
		if json.Unmarshal(buf.Bytes(), &v) == nil && v.Accepted != nil {
			a.accepted = *v.Accepted
		}
	}
	return a, nil
}

// failureOutcome names a request that got no status.
func failureOutcome(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "transport"
	}
}

// progress logs one line per Progress interval with the rates and latencies of that
// interval.
func (r *Runner) progress(ctx context.Context, begin time.Time, posts, gets *recorder) {
	tick := time.NewTicker(r.cfg.Progress)
	defer tick.Stop()
	last := begin
	var prevPosts, prevGets tally
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			span := now.Sub(last)
			last = now
			p := posts.merge(true)
			lat := latencyOf(p.hist)
			fields := []zap.Field{
				zap.Duration("elapsed", now.Sub(begin).Round(time.Second)),
				zap.Int64("posts", p.requests),
				zap.Float64("posts_per_s", round1(perSecond(p.requests-prevPosts.requests, span))),
				zap.Float64("domain_events_per_s",
					round1(perSecond(p.accepted-prevPosts.accepted, span))),
				zap.Float64("post_p50_ms", lat.P50Ms),
				zap.Float64("post_p99_ms", lat.P99Ms),
				zap.Int64("post_errors", (p.requests-p.ok)-(prevPosts.requests-prevPosts.ok)),
			}
			prevPosts = p
			if r.cfg.GetRate > 0 {
				g := gets.merge(true)
				fields = append(fields,
					zap.Float64("gets_per_s", round1(perSecond(g.requests-prevGets.requests, span))),
					zap.Float64("get_p99_ms", latencyOf(g.hist).P99Ms),
					zap.Int64("get_errors", (g.requests-g.ok)-(prevGets.requests-prevGets.ok)))
				prevGets = g
			}
			r.logger.Info("progress", fields...)
		}
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
