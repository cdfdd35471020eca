// Package load drives the ingest gateway with counters and measures what a producer and a
// dashboard see: POST latency and throughput, GET latency of the statistics, and how long a
// posted counter takes to show up in them.
//
// Latencies are recorded in HDR histograms. With a target rate, a request's latency is taken
// from the moment the schedule said it should start, not from when a worker got to it, so a
// gateway that falls behind shows up in the percentiles instead of silently lowering the rate
// (no coordinated omission). Without a rate, workers send back to back and latency is taken
// from the actual send.
//
// Only loopback targets are accepted: this is a load generator for servers run on the same
// machine.
package load

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("invalid load configuration")

// maxDuration bounds a run, so a mistyped flag cannot leave load running for days.
const maxDuration = 2 * time.Hour

// Config describes one run.
type Config struct {
	// URL is the gateway's base URL; counters go to URL + "/api/counters".
	URL string
	// StatsURL is the base URL the statistics are read from (GET load and marker polling).
	// Empty means URL, i.e. through the gateway as a dashboard would.
	StatsURL string

	// Rate is POSTs per second; zero sends as fast as Concurrency allows.
	Rate float64
	// Duration bounds the run; MaxRequests, when positive, bounds the POSTs too.
	Duration    time.Duration
	MaxRequests int64
	// Concurrency is the number of POSTs in flight at most.
	Concurrency int
	// Timeout bounds one request.
	Timeout time.Duration

	// Batch is how many counters one POST carries: 1 sends a single JSON object, more send a
	// JSON array. DomainsPerCounter is how many distinct domains each counter names.
	Batch             int
	DomainsPerCounter int
	// Domains is how many distinct domains the load draws from, with a Zipf distribution of
	// exponent ZipfS (> 1) and offset ZipfV (>= 1): rank 0 is the busiest.
	Domains int
	ZipfS   float64
	ZipfV   float64
	// DomainPrefix starts every generated domain name, so runs can be told apart.
	DomainPrefix string
	// Seed makes the domain sequence repeatable.
	Seed uint64

	// GetRate is GET requests per second against StatsURL + GetPath alongside the POSTs;
	// zero sends none. GetConcurrency bounds those in flight.
	GetRate        float64
	GetConcurrency int
	GetPath        string

	// MarkerInterval, when positive, posts a marker domain into the last full minute that
	// often and polls the statistics until it appears, to measure time to visibility.
	// MarkerTimeout gives up on one marker; MarkerPoll is the pause between polls.
	MarkerInterval time.Duration
	MarkerTimeout  time.Duration
	MarkerPoll     time.Duration

	// Progress is how often a progress line is logged; zero logs none.
	Progress time.Duration
}

// DefaultConfig returns the settings the loadgen flags start from.
func DefaultConfig() Config {
	return Config{
		URL:               "http://127.0.0.1:3000",
		Duration:          10 * time.Second,
		Concurrency:       16,
		Timeout:           10 * time.Second,
		Batch:             1,
		DomainsPerCounter: 10,
		Domains:           100_000,
		ZipfS:             1.1,
		ZipfV:             1,
		DomainPrefix:      "lg",
		Seed:              1,
		GetConcurrency:    16,
		GetPath:           "/api/stats/lastMinute",
		MarkerTimeout:     5 * time.Second,
		MarkerPoll:        10 * time.Millisecond,
		Progress:          5 * time.Second,
	}
}

// statsURL returns the base URL of the statistics.
func (c Config) statsURL() string {
	if c.StatsURL == "" {
		return c.URL
	}
	return c.StatsURL
}

// Validate names the first setting that cannot be used.
func (c Config) Validate() error {
	bad := func(name string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, name, fmt.Sprintf(format, args...))
	}
	if err := checkLoopback(c.URL); err != nil {
		return bad("url", "%v", err)
	}
	if c.StatsURL != "" {
		if err := checkLoopback(c.StatsURL); err != nil {
			return bad("stats-url", "%v", err)
		}
	}
	switch {
	case c.Rate < 0:
		return bad("rate", "want zero (as fast as possible) or a positive rate, got %v", c.Rate)
	case c.Duration <= 0 || c.Duration > maxDuration:
		return bad("duration", "want a positive duration up to %v, got %v", maxDuration, c.Duration)
	case c.MaxRequests < 0:
		return bad("requests", "want zero (no limit) or a positive count, got %d", c.MaxRequests)
	case c.Concurrency < 1:
		return bad("concurrency", "want at least 1, got %d", c.Concurrency)
	case c.Timeout <= 0:
		return bad("timeout", "want a positive duration, got %v", c.Timeout)
	case c.Batch < 1:
		return bad("batch", "want at least 1, got %d", c.Batch)
	case c.DomainsPerCounter < 1:
		return bad("domains-per-counter", "want at least 1, got %d", c.DomainsPerCounter)
	case c.Domains < c.DomainsPerCounter:
		return bad("domains", "want at least domains-per-counter (%d), got %d",
			c.DomainsPerCounter, c.Domains)
	case c.ZipfS <= 1:
		return bad("zipf-s", "want more than 1, got %v", c.ZipfS)
	case c.ZipfV < 1:
		return bad("zipf-v", "want at least 1, got %v", c.ZipfV)
	case c.GetRate < 0:
		return bad("get-rate", "want zero (none) or a positive rate, got %v", c.GetRate)
	case c.GetRate > 0 && c.GetConcurrency < 1:
		return bad("get-concurrency", "want at least 1, got %d", c.GetConcurrency)
	case c.MarkerInterval < 0:
		return bad("marker-interval", "want zero (off) or a positive duration, got %v",
			c.MarkerInterval)
	case c.MarkerInterval > 0 && c.MarkerTimeout <= 0:
		return bad("marker-timeout", "want a positive duration, got %v", c.MarkerTimeout)
	case c.MarkerInterval > 0 && c.MarkerTimeout >= 50*time.Second:
		// A marker needs its minute to stay the last full one until it is seen.
		return bad("marker-timeout", "want less than 50s, got %v", c.MarkerTimeout)
	case c.MarkerInterval > 0 && c.MarkerPoll <= 0:
		return bad("marker-poll", "want a positive duration, got %v", c.MarkerPoll)
	case c.Progress < 0:
		return bad("progress", "want zero (off) or a positive duration, got %v", c.Progress)
	}
	return nil
}

// checkLoopback accepts only http URLs on this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("want an http:// URL, got %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address; load is only sent to this machine",
			host)
	}
	return nil
}
