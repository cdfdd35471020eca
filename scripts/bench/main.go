// Command bench measures the toptraffic pipeline against the physical limits of the machine it
// runs on, side by side in one run: a bare HTTP handler vs the gateway, raw kafka-go produce vs
// the gateway, raw kafka-go consumption vs an aggregator catching up, the whole pipeline at
// the target rate, and the aggregator's memory per domain-window. It prints one table with the
// targets and writes the results as JSON. See BENCHMARKS.md.
//
//	make bench                      # full run, about 8 minutes on 2 cores
//	BENCH_QUICK=1 make bench        # about 2 minutes
//	KAFKA_BROKERS=127.0.0.1:9092 make bench   # against a real Kafka instead of the devbroker
//	BENCH_PROFILE=1 make bench      # also CPU-profile the gateway and the aggregator
//
// `bench bare-http -addr host:port` serves the bare handler; the benchmark runs itself that way
// so the bare handler, like the gateway, is a process of its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"toptraffic/libs/logging"
	"toptraffic/scripts/bench/internal/ceiling"
	"toptraffic/scripts/bench/internal/suite"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare-http" {
		os.Exit(bareHTTP(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	logger, err := logging.New("bench", "info", logging.FormatConsole)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	defer func() { _ = logger.Sync() }()

	// The first Ctrl-C stops the run and its services in order; the default handling is
	// restored then, so a second one kills the benchmark (its services die with it).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	began := time.Now()
	report, runErr := suite.Run(ctx, cfg, logger)
	if runErr != nil {
		logger.Error("benchmark failed", zap.Error(runErr))
	}
	if err := writeResults(cfg.Out, report); err != nil {
		logger.Error("write results failed", zap.Error(err))
		return 1
	}
	fmt.Fprintf(stdout, "\ntoptraffic benchmarks (%s, %d cores, %s, %s), %s\n\n",
		report.Machine.CPU, report.Machine.Cores, report.Machine.GoVersion,
		report.Machine.Broker, time.Since(began).Round(time.Second))
	if err := suite.WriteTable(stdout, report.Rows); err != nil {
		return 1
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", filepath.Join(cfg.Out, "results.json"))
	for _, p := range report.Profiles {
		fmt.Fprintf(stdout, "profile: %s\n", p)
	}
	if runErr != nil {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (suite.Config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", os.Getenv("BENCH_QUICK") != "",
		"short phases and smaller counts, about 2 minutes (env BENCH_QUICK)")
	profile := fs.Bool("profile", os.Getenv("BENCH_PROFILE") != "",
		"CPU-profile the gateway and the aggregator under load (env BENCH_PROFILE)")
	brokers := fs.String("brokers", os.Getenv("KAFKA_BROKERS"),
		"loopback Kafka to use instead of starting bin/devbroker (env KAFKA_BROKERS)")
	bin := fs.String("bin", "bin", "directory with the service binaries (make build)")
	out := fs.String("out", envOr("BENCH_OUT", "bin/bench-results"),
		"directory for results.json, table.md, logs and profiles (env BENCH_OUT)")
	preload := fs.Int("preload", 0, "records for the produce and consume ceilings "+
		"(default 2000000, quick 300000)")
	memDomains := fs.Int("memory-domains", 0, "distinct domains for the memory phase "+
		"(default 1000000, quick 200000)")
	e2e := fs.Duration("e2e-duration", 0, "length of the sustained run (default 2m, quick 20s)")
	rate := fs.Float64("e2e-rate", 0, "domain-events/s offered in the sustained run "+
		"(default 100000)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench [flags]\n\n"+
			"Runs the pipeline benchmarks of BENCHMARKS.md against the embedded broker, or a\n"+
			"loopback Kafka named by -brokers, and prints the table.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return suite.Config{}, err
	}

	cfg := suite.Full()
	if *quick {
		cfg = suite.Quick()
	}
	cfg.Profile = *profile
	cfg.Bin, cfg.Out = *bin, *out
	if *brokers != "" {
		cfg.Brokers = strings.Split(*brokers, ",")
	}
	for _, b := range cfg.Brokers {
		if err := checkLoopback(b); err != nil {
			return cfg, fmt.Errorf("brokers: %w", err)
		}
	}
	if *preload > 0 {
		cfg.Preload = *preload
	}
	if *memDomains > 0 {
		cfg.MemoryDomains = *memDomains
	}
	if *e2e > 0 {
		cfg.E2EDuration = *e2e
	}
	if *rate > 0 {
		cfg.E2EEventsPerSec = *rate
	}
	self, err := os.Executable()
	if err != nil {
		return cfg, fmt.Errorf("find the bench binary: %w", err)
	}
	cfg.Self = self
	if wd, err := os.Getwd(); err == nil {
		cfg.Repo = findRepo(wd)
	}
	return cfg, nil
}

// checkLoopback accepts only brokers on this machine: the benchmarks send load nowhere else.
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(strings.TrimSpace(hostport))
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", hostport)
	}
	return nil
}

// findRepo returns the closest directory at or above dir holding go.work.
func findRepo(dir string) string {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func writeResults(dir string, r suite.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "table.md"))
	if err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if err := suite.WriteTable(f, r.Rows); err != nil {
		_ = f.Close()
		return fmt.Errorf("write table: %w", err)
	}
	return f.Close()
}

// bareHTTP serves the bare handler until SIGTERM.
func bareHTTP(args []string) int {
	fs := flag.NewFlagSet("bare-http", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "bench bare-http:", err)
		return 2
	}
	logger, err := logging.New("bench-bare-http", "info", logging.FormatJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench bare-http:", err)
		return 2
	}
	defer func() { _ = logger.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ceiling.ServeBare(ctx, *addr, logger); err != nil {
		logger.Error("bare handler failed", zap.Error(err))
		return 1
	}
	return 0
}
