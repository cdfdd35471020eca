package load

import (
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: one microsecond to one minute, three significant digits.
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Minute / time.Microsecond)
	histSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// recorder collects the outcome of one kind of request (POST, GET or marker) from many
// workers. Each worker gets its own shard, so recording never contends; readers merge.
type recorder struct {
	mu     sync.Mutex
	shards []*shard
}

// shard is one worker's tally. total covers the whole run, interval only the time since the
// last progress line.
type shard struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
	requests int64
	ok       int64
	records  int64
	accepted int64
	outcomes map[string]int64
}

func (r *recorder) newShard() *shard {
	s := &shard{total: newHist(), interval: newHist(), outcomes: map[string]int64{}}
	r.mu.Lock()
	r.shards = append(r.shards, s)
	r.mu.Unlock()
	return s
}

// record adds one finished request: its latency, its outcome ("200", "503", "timeout"...),
// whether it succeeded, and for POSTs the records sent and the records the gateway reported
// accepted.
func (s *shard) record(lat time.Duration, outcome string, ok bool, records, accepted int) {
	us := max(lat.Microseconds(), histMinMicros)
	us = min(us, histMaxMicros)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Values are clamped into range above, so recording cannot fail.
	_ = s.total.RecordValue(us)
	_ = s.interval.RecordValue(us)
	s.requests++
	s.outcomes[outcome]++
	if ok {
		s.ok++
		s.records += int64(records)
		s.accepted += int64(accepted)
	}
}

// tally is a merged view of all shards.
type tally struct {
	hist     *hdrhistogram.Histogram
	requests int64
	ok       int64
	records  int64
	accepted int64
	outcomes map[string]int64
}

// merge returns the counts of the whole run so far, with the latencies of the whole run, or
// with interval set, the latencies since the last call with interval set, which it starts
// afresh.
func (r *recorder) merge(interval bool) tally {
	t := tally{hist: newHist(), outcomes: map[string]int64{}}
	r.mu.Lock()
	shards := append([]*shard(nil), r.shards...)
	r.mu.Unlock()
	for _, s := range shards {
		s.mu.Lock()
		if interval {
			t.hist.Merge(s.interval)
			s.interval.Reset()
		} else {
			t.hist.Merge(s.total)
		}
		t.requests += s.requests
		t.ok += s.ok
		t.records += s.records
		t.accepted += s.accepted
		for k, v := range s.outcomes {
			t.outcomes[k] += v
		}
		s.mu.Unlock()
	}
	return t
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count:  h.TotalCount(),
		MeanMs: h.Mean() / 1000,
		P50Ms:  ms(h.ValueAtQuantile(50)),
		P90Ms:  ms(h.ValueAtQuantile(90)),
		P99Ms:  ms(h.ValueAtQuantile(99)),
		P999Ms: ms(h.ValueAtQuantile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

// Requests is the outcome of one kind of request over the run.
type Requests struct {
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// Outcomes counts every request by HTTP status, or by "timeout" or "transport" when no
	// status came back.
	Outcomes  map[string]int64 `json:"outcomes"`
	PerSecond float64          `json:"per_second"`
	Latency   Latency          `json:"latency"`
}

func requestsOf(t tally, elapsed time.Duration) Requests {
	return Requests{
		Requests:  t.requests,
		OK:        t.ok,
		Outcomes:  maps.Clone(t.outcomes),
		PerSecond: perSecond(t.ok, elapsed),
		Latency:   latencyOf(t.hist),
	}
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// errorCount is every request that did not succeed.
func (r Requests) errorCount() int64 { return r.Requests - r.OK }

func statusOutcome(code int) string { return strconv.Itoa(code) }
