// Command loadgen POSTs counters to the ingest gateway at a set rate or as fast as it can, and
// reports throughput, latency percentiles and errors. Optionally it also reads the statistics
// at a set rate, and measures how long a posted counter takes to become visible in them.
//
//	go run ./scripts/loadgen -rate 100 -batch 100 -domains-per-counter 10 -duration 1m \
//	    -get-rate 1000 -marker-interval 1s -out result.json
//
// Only loopback URLs are accepted. Run `loadgen -h` for every flag.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"toptraffic/libs/logging"
	"toptraffic/scripts/loadgen/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, out, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	logger, err := logging.New("loadgen", "info", logging.FormatConsole)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	defer func() { _ = logger.Sync() }()

	runner, err := load.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	defer runner.Close()

	// Ctrl-C ends the run early; the requests in flight are cut short and the partial result
	// is still printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("load starting",
		zap.String("url", cfg.URL),
		zap.Float64("rate", cfg.Rate),
		zap.Duration("duration", cfg.Duration),
		zap.Int("concurrency", cfg.Concurrency))
	res, runErr := runner.Run(ctx)

	if err := load.WriteSummary(stdout, res); err != nil {
		logger.Error("print summary failed", zap.Error(err))
		return 1
	}
	if out != "" {
		if err := writeJSON(out, res); err != nil {
			logger.Error("write result failed", zap.String("path", out), zap.Error(err))
			return 1
		}
	}
	if runErr != nil {
		logger.Error("load run ended early", zap.Error(runErr))
		return 1
	}
	return 0
}

// parseFlags turns the command line into a load configuration and the JSON output path.
func parseFlags(args []string, stderr io.Writer) (load.Config, string, error) {
	c := load.DefaultConfig()
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: loadgen [flags]\n\n"+
			"POSTs counters to the ingest gateway and measures throughput and latency.\n"+
			"Latency percentiles come from HDR histograms; with -rate they count from each\n"+
			"request's scheduled start, so a server that falls behind shows in them.\n"+
			"Time to visibility (-marker-interval) posts a marker domain into the last full\n"+
			"minute, so the gateway and the aggregators must run with ALLOWED_LATENESS above\n"+
			"one minute (e.g. 2m). Only loopback URLs are accepted.\n\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", c.URL, "gateway base `URL`; counters go to URL/api/counters")
	fs.StringVar(&c.StatsURL, "stats-url", c.StatsURL,
		"base `URL` for statistics GETs and marker polling (default: -url, via the gateway)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "POSTs per second; 0 sends as fast as possible")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long to send load (at most 2h)")
	fs.Int64Var(&c.MaxRequests, "requests", c.MaxRequests, "stop after this many POSTs; 0: no limit")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "POSTs in flight at most")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "timeout of one request")
	fs.IntVar(&c.Batch, "batch", c.Batch,
		"counters per POST; 1 sends one JSON object, more send a JSON array")
	fs.IntVar(&c.DomainsPerCounter, "domains-per-counter", c.DomainsPerCounter,
		"distinct domains in each counter")
	fs.IntVar(&c.Domains, "domains", c.Domains, "distinct domains to draw from")
	fs.Float64Var(&c.ZipfS, "zipf-s", c.ZipfS, "Zipf exponent s (> 1); larger is more skewed")
	fs.Float64Var(&c.ZipfV, "zipf-v", c.ZipfV, "Zipf offset v (>= 1)")
	fs.StringVar(&c.DomainPrefix, "domain-prefix", c.DomainPrefix,
		"first label of generated domains, e.g. lg-42.example.com")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed of the domain sequence")
	fs.Float64Var(&c.GetRate, "get-rate", c.GetRate,
		"statistics GETs per second alongside the POSTs; 0: none")
	fs.IntVar(&c.GetConcurrency, "get-concurrency", c.GetConcurrency, "GETs in flight at most")
	fs.StringVar(&c.GetPath, "get-path", c.GetPath, "path of the statistics GETs")
	fs.DurationVar(&c.MarkerInterval, "marker-interval", c.MarkerInterval,
		"post a visibility marker this often; 0: off")
	fs.DurationVar(&c.MarkerTimeout, "marker-timeout", c.MarkerTimeout,
		"give up on a marker not visible after this long (below 50s)")
	fs.DurationVar(&c.MarkerPoll, "marker-poll", c.MarkerPoll, "pause between marker polls")
	fs.DurationVar(&c.Progress, "progress", c.Progress, "progress line interval; 0: none")
	out := fs.String("out", "", "write the result as JSON to this `file`")
	if err := fs.Parse(args); err != nil {
		return c, "", err
	}
	if fs.NArg() > 0 {
		return c, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, *out, c.Validate()
}

func writeJSON(path string, res load.Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
