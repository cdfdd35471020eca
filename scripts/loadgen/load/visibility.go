package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// markerBase is the count every marker starts from. It is far above what any generated domain
// reaches in a minute, so a marker always ranks in the top ten once its count is in; each
// marker adds its sequence number so it also outranks the markers posted before it in the same
// minute. It stays below 2^53, the largest count the gateway accepts.
const markerBase = 1 << 52

// markerMargin is how much of the current minute must be left, beyond MarkerTimeout, for a
// marker to be posted: its minute has to stay the last full one until it is seen.
const markerMargin = 500 * time.Millisecond

// Visibility is the time from posting a marker counter to seeing it in the statistics.
//
// A marker is a counter for a new domain, timestamped in the last full minute, with a count
// that puts it at the top. The time runs from just before its POST to the first GET of
// /api/stats/lastMinute that lists it. The aggregators must accept a record for the last full
// minute: run them (and the gateway) with ALLOWED_LATENESS above a minute.
type Visibility struct {
	// Posted markers; Seen within MarkerTimeout; TimedOut were not.
	Posted   int64 `json:"posted"`
	Seen     int64 `json:"seen"`
	TimedOut int64 `json:"timed_out"`
	// Failed markers were refused by the gateway or their polls failed.
	Failed int64 `json:"failed"`
	// Skipped slots fell too close to a minute's end, or the minute rolled over while polling.
	Skipped int64   `json:"skipped"`
	Latency Latency `json:"latency"`
}

type visibilityProbe struct {
	r     *Runner
	runID int64

	mu   sync.Mutex
	hist *hdrhistogram.Histogram
	v    Visibility
}

func newVisibilityProbe(r *Runner) *visibilityProbe {
	return &visibilityProbe{r: r, runID: r.now().Unix() % 1_000_000, hist: newHist()}
}

// run posts one marker per MarkerInterval until runCtx ends; reqCtx bounds the requests.
func (p *visibilityProbe) run(runCtx, reqCtx context.Context) {
	tick := time.NewTicker(p.r.cfg.MarkerInterval)
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-runCtx.Done():
			return
		case <-tick.C:
		}
		p.probe(reqCtx, seq)
	}
}

type probeOutcome int

const (
	probeSeen probeOutcome = iota
	probeTimedOut
	probeFailed
	probeSkipped
)

func (p *visibilityProbe) probe(ctx context.Context, seq int64) {
	out, lat := p.once(ctx, seq)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch out {
	case probeSkipped:
		p.v.Skipped++
		return
	case probeSeen:
		p.v.Seen++
		_ = p.hist.RecordValue(min(max(lat.Microseconds(), histMinMicros), histMaxMicros))
	case probeTimedOut:
		p.v.TimedOut++
	case probeFailed:
		p.v.Failed++
	}
	p.v.Posted++
}

// markerFor returns the marker's domain, the start of the minute it goes into, and its body,
// or ok false when the current minute ends too soon to see it in time.
func (p *visibilityProbe) markerFor(seq int64) (domain string, minute int64, body []byte,
	ok bool) {
	now := p.r.now()
	cur := now.Unix() - now.Unix()%60
	if time.Unix(cur+60, 0).Sub(now) < p.r.cfg.MarkerTimeout+markerMargin {
		return "", 0, nil, false
	}
	minute = cur - 60
	domain = fmt.Sprintf("%s-marker-%d-%d.example.com", p.r.cfg.DomainPrefix, p.runID, seq)
	body = fmt.Appendf(nil, `{"timestamp":%d,%q:%d}`, minute+30, domain, markerBase+seq)
	return domain, minute, body, true
}

func (p *visibilityProbe) once(ctx context.Context, seq int64) (probeOutcome, time.Duration) {
	domain, minute, body, ok := p.markerFor(seq)
	if !ok {
		return probeSkipped, 0
	}
	var buf bytes.Buffer
	began := time.Now()
	a, err := p.r.do(ctx, http.MethodPost, p.r.cfg.URL+countersPath, body, &buf)
	if err != nil || !a.ok || a.accepted == 0 {
		return probeFailed, 0
	}

	needle := []byte(strconv.Quote(domain))
	statsURL := p.r.cfg.statsURL() + lastMinutePath
	deadline := began.Add(p.r.cfg.MarkerTimeout)
	wantStart := time.Unix(minute, 0).UTC().Format(time.RFC3339)
	for time.Now().Before(deadline) {
		a, err := p.r.do(ctx, http.MethodGet, statsURL, nil, &buf)
		switch {
		case err != nil:
			return probeFailed, 0
		case a.ok && bytes.Contains(buf.Bytes(), needle):
			return probeSeen, time.Since(began)
		case a.header.Get("X-Window-Start") > wantStart:
			// The minute rolled over: the marker's minute is no longer the one answered.
			return probeSkipped, 0
		}
		t := time.NewTimer(p.r.cfg.MarkerPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return probeFailed, 0
		case <-t.C:
		}
	}
	return probeTimedOut, 0
}

func (p *visibilityProbe) result() Visibility {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.v
	v.Latency = latencyOf(p.hist)
	return v
}
