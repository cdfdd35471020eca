// Package suite runs the pipeline benchmarks: each service next to the physical limit of what
// it is built on, measured on the same machine in the same run, then the whole pipeline under
// a sustained load, then the aggregator's memory per domain-window.
//
// Every phase starts its own processes with topics and consumer groups of their own, against
// the embedded broker (started here on a free port with a temporary data directory) or a Kafka
// the caller names. Every wait is bounded; all targets are on loopback.
package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/kafkasetup"
	"toptraffic/scripts/bench/internal/procs"
	"toptraffic/scripts/loadgen/load"
)

// partitions is the counters topics' partition count, the services' default.
const partitions = 12

// stopTimeout bounds how long a service may take to stop before it is killed.
const stopTimeout = 30 * time.Second

// Config sets a benchmark run up.
type Config struct {
	// Bin holds the service binaries (make build); Self is the benchmark binary, run as
	// "bare-http" for the HTTP ceiling; Repo is the repository root, for profiling builds.
	Bin, Self, Repo string
	// Out receives the logs, the profiles and the results.
	Out string
	// Brokers is a Kafka to use; empty starts Bin/devbroker.
	Brokers []string
	// Profile builds the gateway and the aggregator with a CPU-profile hook and profiles them
	// while they are loaded.
	Profile bool

	// Preload is how many records the produce ceiling writes, which the consume phase reads.
	Preload int
	// MemoryDomains is how many distinct domains the memory phase opens windows for.
	MemoryDomains int
	// HTTPDuration and ProduceDuration are how long the gateway is loaded in phases 1 and 2.
	HTTPDuration, ProduceDuration time.Duration
	// E2EDuration, E2EEventsPerSec and GetRate shape the sustained run.
	E2EDuration     time.Duration
	E2EEventsPerSec float64
	GetRate         float64
	// Deadline bounds the whole run.
	Deadline time.Duration
}

// Full returns the settings of a full run (about 8 minutes on 2 cores).
func Full() Config {
	return Config{
		Preload:         2_000_000,
		MemoryDomains:   1_000_000,
		HTTPDuration:    15 * time.Second,
		ProduceDuration: 20 * time.Second,
		E2EDuration:     2 * time.Minute,
		E2EEventsPerSec: 100_000,
		GetRate:         1000,
		Deadline:        15 * time.Minute,
	}
}

// Quick returns the settings of a quick run (about 2 minutes).
func Quick() Config {
	c := Full()
	c.Preload = 300_000
	c.MemoryDomains = 200_000
	c.HTTPDuration = 5 * time.Second
	c.ProduceDuration = 5 * time.Second
	c.E2EDuration = 20 * time.Second
	c.Deadline = 6 * time.Minute
	return c
}

// Settings is what a report records of the run's settings.
type Settings struct {
	Preload         int     `json:"preload_records"`
	MemoryDomains   int     `json:"memory_domains"`
	HTTPDurationS   float64 `json:"http_duration_s"`
	ProduceDuration float64 `json:"produce_duration_s"`
	E2EDurationS    float64 `json:"e2e_duration_s"`
	E2EEventsPerSec float64 `json:"e2e_events_per_s"`
	GetRate         float64 `json:"get_rate"`
	Profile         bool    `json:"profile"`
}

type suite struct {
	cfg     Config
	logger  *zap.Logger
	tmp     string
	prefix  string
	brokers []string
	client  *kafka.Client
	bins    map[string]string
	running []*procs.Proc
	// profiled names the services started with a CPU profile running.
	profiled map[string]bool
	topics   []string
	report   Report
}

// Run runs every phase and returns what they measured. On an error it returns the phases
// measured so far with it.
func Run(ctx context.Context, cfg Config, logger *zap.Logger) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	for _, dir := range []string{"logs", "profiles"} {
		if err := os.MkdirAll(filepath.Join(cfg.Out, dir), 0o755); err != nil {
			return Report{}, fmt.Errorf("create results directory: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "toptraffic-bench-")
	if err != nil {
		return Report{}, fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	s := &suite{
		cfg:    cfg,
		logger: logger,
		tmp:    tmp,
		prefix: "bench-" + time.Now().UTC().Format("150405") + "-",
		bins:   map[string]string{},
		// profiled is filled by profileEnv.
		profiled: map[string]bool{},
	}
	for _, b := range []string{"devbroker", "ingest", "aggregator", "query"} {
		s.bins[b] = filepath.Join(cfg.Bin, b)
	}
	s.report.Settings = Settings{
		Preload:         cfg.Preload,
		MemoryDomains:   cfg.MemoryDomains,
		HTTPDurationS:   cfg.HTTPDuration.Seconds(),
		ProduceDuration: cfg.ProduceDuration.Seconds(),
		E2EDurationS:    cfg.E2EDuration.Seconds(),
		E2EEventsPerSec: cfg.E2EEventsPerSec,
		GetRate:         cfg.GetRate,
		Profile:         cfg.Profile,
	}
	// Teardown order: whatever a failed phase left running, newest first, then its topics,
	// then the broker (started first, so stopped last).
	defer s.teardown()

	s.report.Machine = describeMachine(cfg.Brokers)
	err = s.run(ctx)
	s.report.Machine.LoadAvgEnd = loadAvg()
	s.report.Rows = s.report.rows()
	return s.report, err
}

func (s *suite) run(ctx context.Context) error {
	if s.cfg.Profile {
		if err := s.buildProfiled(ctx); err != nil {
			return err
		}
	}
	if err := s.startBroker(ctx); err != nil {
		return err
	}

	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"produce ceiling and preload", s.produceCeiling},
		{"consume ceiling and aggregator catch-up", s.consumeCeiling},
		{"http ceiling", s.httpCeiling},
		{"gateway batched produce", s.gatewayBatched},
		{"sustained end to end", s.endToEnd},
		{"aggregator memory", s.memory},
	}
	for i, p := range phases {
		s.logger.Info("phase starting", zap.Int("phase", i+1), zap.String("name", p.name))
		began := time.Now()
		if err := p.run(ctx); err != nil {
			return fmt.Errorf("phase %q: %w", p.name, err)
		}
		s.logger.Info("phase done", zap.String("name", p.name),
			zap.Duration("took", time.Since(began).Round(time.Millisecond)))
	}
	return nil
}

// startBroker starts the embedded broker unless a Kafka was named.
func (s *suite) startBroker(ctx context.Context) error {
	s.brokers = s.cfg.Brokers
	if len(s.brokers) == 0 {
		addr, err := procs.FreeAddr()
		if err != nil {
			return err
		}
		p, err := s.start(ctx, "devbroker", "devbroker", nil,
			"DEVBROKER_ADDR="+addr,
			"DEVBROKER_DATA_DIR="+filepath.Join(s.tmp, "devbroker"))
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := procs.WaitTCP(wctx, addr); err != nil {
			return fmt.Errorf("start devbroker: %w", err)
		}
		s.brokers = []string{addr}
		s.logger.Info("devbroker started", zap.String("addr", addr), zap.Int("pid", p.Pid()))
	}
	s.client = kafkasetup.NewClient(s.brokers, "toptraffic-bench")
	return nil
}

// start runs one service binary with the run's brokers and JSON logs.
func (s *suite) start(_ context.Context, name, service string, args []string, env ...string) (
	*procs.Proc, error) {
	base := []string{"LOG_FORMAT=json", "LOG_LEVEL=info"}
	if service != "devbroker" {
		base = append(base, "KAFKA_BROKERS="+strings.Join(s.brokers, ","),
			fmt.Sprintf("COUNTERS_PARTITIONS=%d", partitions))
	}
	bin := s.bins[service]
	if service == "bare-http" {
		bin = s.cfg.Self
	}
	p, err := procs.Start(name, bin, args, filepath.Join(s.cfg.Out, "logs", name+".log"),
		append(base, env...)...)
	if err != nil {
		return nil, err
	}
	s.running = append(s.running, p)
	return p, nil
}

// stop stops p and forgets it; a service that must be killed is reported, not fatal.
func (s *suite) stop(p *procs.Proc) {
	s.stopProfile(p)
	if err := p.Stop(stopTimeout); err != nil {
		s.logger.Warn("service did not stop cleanly", zap.String("name", p.Name), zap.Error(err))
	}
	for i, q := range s.running {
		if q == p {
			s.running = append(s.running[:i], s.running[i+1:]...)
			break
		}
	}
}

// topic returns a topic or group name unique to this run, and remembers topics for deletion.
func (s *suite) topic(name string) string {
	t := s.prefix + name
	s.topics = append(s.topics, t)
	return t
}

// ensureTopic creates a counters-like topic with the services' partition count.
func (s *suite) ensureTopic(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := kafkasetup.EnsureTopics(ctx, s.client, s.logger,
		kafkasetup.Topic{Name: name, Partitions: partitions, ReplicationFactor: 1})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	return nil
}

// dropTopics deletes this run's topics, which frees the broker's memory for the next phase.
func (s *suite) dropTopics() {
	if len(s.topics) == 0 || s.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: s.topics})
	if err != nil {
		s.logger.Warn("delete benchmark topics failed", zap.Strings("topics", s.topics),
			zap.Error(err))
		return
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			s.logger.Warn("delete benchmark topic failed", zap.String("topic", t), zap.Error(err))
		}
	}
	s.topics = nil
}

func (s *suite) teardown() {
	running := append([]*procs.Proc(nil), s.running...)
	var broker *procs.Proc
	for i := len(running) - 1; i >= 0; i-- {
		if running[i].Name == "devbroker" {
			broker = running[i]
			continue
		}
		s.stop(running[i])
	}
	s.dropTopics()
	if broker != nil {
		s.stop(broker)
	}
}

// loadRun runs the load generator in this process and keeps its result under name.
func (s *suite) loadRun(ctx context.Context, name string, c load.Config) (load.Result, error) {
	c.Progress = 5 * time.Second
	r, err := load.New(c, s.logger.With(zap.String("load", name)))
	if err != nil {
		return load.Result{}, fmt.Errorf("load %s: %w", name, err)
	}
	defer r.Close()
	res, err := r.Run(ctx)
	if err != nil {
		return res, fmt.Errorf("load %s: %w", name, err)
	}
	s.logger.Info("load done",
		zap.String("load", name),
		zap.Float64("posts_per_s", res.Posts.PerSecond),
		zap.Float64("domain_events_per_s", res.EventsPerSecond),
		zap.Float64("post_p99_ms", res.Posts.Latency.P99Ms),
		zap.Int64("post_errors", res.Posts.Requests-res.Posts.OK))
	return res, nil
}
