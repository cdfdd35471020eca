package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"toptraffic/scripts/bench/internal/ceiling"
	"toptraffic/scripts/bench/internal/procs"
	"toptraffic/scripts/loadgen/load"
)

// Shapes of the load, the same in every phase that uses them.
const (
	loadDomains = 100_000
	loadZipfS   = 1.1
	// batchCounters x batchDomains is one batched POST: 1000 domain-events.
	batchCounters = 100
	batchDomains  = 10
	// visibleLateness lets the aggregators count the visibility markers, which go into the
	// last full minute (see load.Visibility).
	visibleLateness = "2m"
)

// Log lines of the aggregator the phases wait for.
const (
	msgAssigned = `"msg":"partition assigned"`
	msgReady    = `"msg":"partition ready, nothing to replay"`
	msgRebuilt  = `"msg":"partition rebuilt"`
)

// waitTimeout bounds every wait for a service to come up or to catch up.
const waitTimeout = 3 * time.Minute

func (s *suite) produceConfig(topic string) ceiling.ProduceConfig {
	return ceiling.ProduceConfig{
		Brokers:      s.brokers,
		Topic:        topic,
		Records:      s.cfg.Preload,
		Keys:         ceiling.KeysZipf,
		Domains:      loadDomains,
		ZipfS:        loadZipfS,
		DomainPrefix: "pre",
		EventTs:      time.Now().Unix(),
		// Tuned for throughput on 2 cores (8x10k with 1k batches reached about 60% of this):
		// the ceiling is the best kafka-go does here, not the gateway's settings.
		Writers:      4,
		Chunk:        50_000,
		BatchSize:    10_000,
		BatchTimeout: 10 * time.Millisecond,
		Timeout:      waitTimeout,
	}
}

// produceCeiling writes the preload topic with kafka-go alone: the produce ceiling, and the
// records the consume phase reads.
func (s *suite) produceCeiling(ctx context.Context) error {
	topic := s.topic("preload")
	if err := s.ensureTopic(ctx, topic); err != nil {
		return err
	}
	pc := s.produceConfig(topic)
	rate, err := ceiling.Produce(ctx, pc, ceiling.Messages(pc))
	if err != nil {
		return err
	}
	s.report.Produce.Raw = rate
	s.logger.Info("raw produce done", zap.Int64("records", rate.Records),
		zap.Float64("per_s", rate.PerSecond))
	return nil
}

// consumeCeiling reads the preload topic with kafka-go alone, then has a fresh aggregator
// catch up on it.
func (s *suite) consumeCeiling(ctx context.Context) error {
	topic := s.prefix + "preload"
	bounds, err := ceiling.Offsets(ctx, s.client, topic)
	if err != nil {
		return err
	}
	// The raw readers run before and after the aggregator and the better run is the ceiling,
	// so neither side gains from going second (a warmer broker) or loses to a burst of other
	// work on the machine.
	if err := s.rawConsume(ctx, topic, bounds); err != nil {
		return err
	}

	snaps := s.topic("catchup-snapshots")
	began := time.Now()
	agg, err := s.start(ctx, "aggregator-catchup", "aggregator", nil,
		s.profileEnv("aggregator-catchup",
			"COUNTERS_TOPIC="+topic,
			"SNAPSHOTS_TOPIC="+snaps,
			"SNAPSHOTS_PARTITIONS=1",
			"AGGREGATOR_GROUP_ID="+s.prefix+"catchup")...)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	assigned, err := agg.WaitLines(wctx, msgAssigned, len(bounds))
	if err != nil {
		return err
	}
	first := assigned[0].At
	for _, l := range assigned {
		first = minTime(first, l.At)
	}
	// The snapshots topic exists once partitions are assigned: the aggregator creates its
	// topics before it joins the group.
	watch := watchSnapshots(s.brokers, snaps)
	defer watch.close()
	doneAt, err := watch.waitPublished(wctx, bounds)
	if err != nil {
		return err
	}
	total := ceiling.Total(bounds)
	s.report.Consume.Aggregator = ceiling.Rate{
		Records:   total,
		ElapsedS:  doneAt.Sub(first).Seconds(),
		PerSecond: float64(total) / doneAt.Sub(first).Seconds(),
	}
	s.report.Consume.StartupS = first.Sub(began).Seconds()
	s.report.Consume.RebuiltMaxS = maxTook(agg.Lines(msgRebuilt))
	s.logger.Info("aggregator caught up",
		zap.Int64("records", total),
		zap.Float64("per_s", s.report.Consume.Aggregator.PerSecond),
		zap.Float64("startup_s", s.report.Consume.StartupS))
	s.stop(agg)
	if err := s.rawConsume(ctx, topic, bounds); err != nil {
		return err
	}
	return s.collectProfile("aggregator-catchup", "aggregator")
}

// rawConsume reads the topic with kafka-go alone and keeps the better of this run and the
// ones before.
func (s *suite) rawConsume(ctx context.Context, topic string, bounds map[int]ceiling.Bounds) error {
	raw, err := ceiling.Consume(ctx, s.brokers, topic, bounds, waitTimeout)
	if err != nil {
		return err
	}
	s.report.Consume.RawRuns = append(s.report.Consume.RawRuns, raw)
	if raw.PerSecond > s.report.Consume.Raw.PerSecond {
		s.report.Consume.Raw = raw
	}
	s.logger.Info("raw consume done", zap.Int64("records", raw.Records),
		zap.Float64("per_s", raw.PerSecond))
	return nil
}

// httpCeiling loads a bare handler, then the gateway, then the bare handler again, with
// single-counter POSTs; the better bare run is the ceiling, as for the consume ceiling.
func (s *suite) httpCeiling(ctx context.Context) error {
	lc := load.DefaultConfig()
	lc.Concurrency = 64
	lc.Batch = 1
	lc.DomainsPerCounter = 1
	lc.Domains = loadDomains
	lc.Duration = s.cfg.HTTPDuration

	if err := s.bareRun(ctx, lc); err != nil {
		return err
	}
	gw, url, err := s.startGateway(ctx, "gateway-http", s.topic("http-counters"), "",
		s.profileEnv("gateway-http")...)
	if err != nil {
		return err
	}
	lc.URL = url
	s.report.HTTP.Gateway, err = s.loadRun(ctx, "http-gateway", lc)
	s.stop(gw)
	if err != nil {
		return err
	}
	if err := s.collectProfile("gateway-http", "ingest"); err != nil {
		return err
	}
	return s.bareRun(ctx, lc)
}

// bareRun loads the bare handler, run as a process of its own like the gateway.
func (s *suite) bareRun(ctx context.Context, lc load.Config) error {
	addr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	bare, err := s.start(ctx, "bare-http", "bare-http", []string{"bare-http", "-addr", addr})
	if err != nil {
		return err
	}
	defer s.stop(bare)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := procs.WaitTCP(wctx, addr); err != nil {
		return err
	}
	lc.URL = "http://" + addr
	res, err := s.loadRun(ctx, "http-bare", lc)
	if err != nil {
		return err
	}
	s.report.HTTP.BareRuns = append(s.report.HTTP.BareRuns, res.Posts.PerSecond)
	if res.Posts.PerSecond > s.report.HTTP.Bare.Posts.PerSecond {
		s.report.HTTP.Bare = res
	}
	return nil
}

// gatewayBatched loads a fresh gateway with batched POSTs as fast as it takes them.
func (s *suite) gatewayBatched(ctx context.Context) error {
	gw, url, err := s.startGateway(ctx, "gateway-batched", s.topic("batched-counters"), "",
		s.profileEnv("gateway-batched")...)
	if err != nil {
		return err
	}
	lc := batchedLoad(url)
	lc.Concurrency = 16
	lc.Duration = s.cfg.ProduceDuration
	s.report.Produce.Gateway, err = s.loadRun(ctx, "gateway-batched", lc)
	s.stop(gw)
	if err != nil {
		return err
	}
	return s.collectProfile("gateway-batched", "ingest")
}

func batchedLoad(url string) load.Config {
	lc := load.DefaultConfig()
	lc.URL = url
	lc.Batch = batchCounters
	lc.DomainsPerCounter = batchDomains
	lc.Domains = loadDomains
	lc.ZipfS = loadZipfS
	return lc
}

// endToEnd runs the whole pipeline at the target rate with statistics read alongside.
func (s *suite) endToEnd(ctx context.Context) error {
	counters, snaps := s.topic("e2e-counters"), s.topic("e2e-snapshots")
	q, queryURL, err := s.startQuery(ctx, "query-e2e", snaps)
	if err != nil {
		return err
	}
	agg, err := s.startAggregator(ctx, "aggregator-e2e", counters, snaps, visibleLateness,
		s.profileEnv("aggregator-e2e")...)
	if err != nil {
		return err
	}
	gw, url, err := s.startGateway(ctx, "gateway-e2e", counters, queryURL,
		s.profileEnv("gateway-e2e", "ALLOWED_LATENESS="+visibleLateness)...)
	if err != nil {
		return err
	}

	lc := batchedLoad(url)
	lc.Rate = s.cfg.E2EEventsPerSec / (batchCounters * batchDomains)
	lc.Concurrency = 64
	lc.Duration = s.cfg.E2EDuration
	lc.GetRate = s.cfg.GetRate
	// Dashboards do not wait for each other: enough GETs in flight that the schedule, not
	// the number of connections, sets their rate.
	lc.GetConcurrency = 128
	lc.MarkerInterval = time.Second
	lc.MarkerTimeout = 5 * time.Second

	services := []*procs.Proc{gw, agg, q}
	for _, p := range s.running {
		if p.Name == "devbroker" {
			services = append(services, p)
		}
	}
	before := cpuTimes(services)
	selfBefore := selfCPU()
	began := time.Now()
	s.report.E2E.Load, err = s.loadRun(ctx, "e2e", lc)
	wall := time.Since(began)
	if err != nil {
		return err
	}
	after := cpuTimes(services)
	s.report.E2E.CPU = map[string]float64{
		"bench (load generator)": (selfCPU() - selfBefore).Seconds() / wall.Seconds(),
	}
	for name, t := range after {
		s.report.E2E.CPU[name] = (t - before[name]).Seconds() / wall.Seconds()
	}

	// Stop order as in production: the gateway first, then the aggregator, then the query.
	for _, p := range []*procs.Proc{gw, agg, q} {
		s.stop(p)
	}
	if err := s.collectProfile("gateway-e2e", "ingest"); err != nil {
		return err
	}
	return s.collectProfile("aggregator-e2e", "aggregator")
}

// memory opens windows for many distinct domains in a fresh aggregator and reads its resident
// memory before and after.
func (s *suite) memory(ctx context.Context) error {
	counters, snaps := s.topic("memory-counters"), s.topic("memory-snapshots")
	if err := s.ensureTopic(ctx, counters); err != nil {
		return err
	}
	// A lateness of minutes keeps both the minute and the hour window of the records open
	// for the whole phase; the snapshots say how many domain-windows that is.
	agg, err := s.startAggregator(ctx, "aggregator-memory", counters, snaps, "5m")
	if err != nil {
		return err
	}
	baseline, err := settledMemory(ctx, agg)
	if err != nil {
		return err
	}

	pc := s.produceConfig(counters)
	pc.Records = s.cfg.MemoryDomains
	pc.Keys = ceiling.KeysDistinct
	pc.DomainPrefix = "memory-domain"
	if _, err := ceiling.Produce(ctx, pc, ceiling.Messages(pc)); err != nil {
		return err
	}
	bounds, err := ceiling.Offsets(ctx, s.client, counters)
	if err != nil {
		return err
	}
	watch := watchSnapshots(s.brokers, snaps)
	defer watch.close()
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if _, err := watch.waitPublished(wctx, bounds); err != nil {
		return err
	}
	loaded, err := settledMemory(ctx, agg)
	if err != nil {
		return err
	}
	dw := watch.openDomainWindows()
	m := MemoryResult{
		Domains:       int64(pc.Records),
		DomainWindows: dw,
		Baseline:      baseline,
		Loaded:        loaded,
	}
	if dw > 0 {
		m.BytesPerDomainWindow = float64(loaded.RSS-baseline.RSS) / float64(dw)
		m.PeakBytesPerDomainWindow = float64(loaded.HWM-baseline.RSS) / float64(dw)
	}
	s.report.Memory = m
	s.logger.Info("memory measured",
		zap.Int64("domain_windows", dw),
		zap.Int64("baseline_rss", baseline.RSS),
		zap.Int64("loaded_rss", loaded.RSS),
		zap.Float64("bytes_per_domain_window", m.BytesPerDomainWindow))
	s.stop(agg)
	return nil
}

// settledMemory samples the process's memory for a second, long enough for the GC cycle a
// burst of work triggers, and returns the last RSS with the peak.
func settledMemory(ctx context.Context, p *procs.Proc) (procs.Memory, error) {
	var m procs.Memory
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 10 {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-tick.C:
		}
		cur, err := p.Memory()
		if err != nil {
			return m, err
		}
		m.RSS, m.HWM = cur.RSS, max(m.HWM, cur.HWM)
	}
	return m, nil
}

// startGateway starts the ingest gateway on a free port and waits until it is ready.
func (s *suite) startGateway(
	ctx context.Context,
	name, topic, queryURL string,
	env ...string,
) (*procs.Proc, string, error) {
	addr, err := procs.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	if queryURL == "" {
		// Nothing listens there; these phases never read statistics.
		other, err := procs.FreeAddr()
		if err != nil {
			return nil, "", err
		}
		queryURL = "http://" + other
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	p, err := s.start(ctx, name, "ingest", nil, append([]string{
		"PORT=" + port,
		"COUNTERS_TOPIC=" + topic,
		"QUERY_URL=" + queryURL,
	}, env...)...)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := procs.WaitReady(wctx, p, url+"/readyz"); err != nil {
		return nil, "", err
	}
	return p, url, nil
}

// startQuery starts the query service on a free port and waits until it is ready.
func (s *suite) startQuery(ctx context.Context, name, snaps string) (*procs.Proc, string,
	error) {
	addr, err := procs.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := s.start(ctx, name, "query", nil,
		"QUERY_ADDR="+addr,
		"SNAPSHOTS_TOPIC="+snaps,
		"SNAPSHOTS_PARTITIONS=1")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := procs.WaitReady(wctx, p, url+"/readyz"); err != nil {
		return nil, "", err
	}
	return p, url, nil
}

// startAggregator starts an aggregator with a group of its own on an empty counters topic and
// waits until it owns every partition.
func (s *suite) startAggregator(
	ctx context.Context,
	name, counters, snaps, lateness string,
	env ...string,
) (*procs.Proc, error) {
	p, err := s.start(ctx, name, "aggregator", nil, append([]string{
		"COUNTERS_TOPIC=" + counters,
		"SNAPSHOTS_TOPIC=" + snaps,
		"SNAPSHOTS_PARTITIONS=1",
		"AGGREGATOR_GROUP_ID=" + s.prefix + name,
		"ALLOWED_LATENESS=" + lateness,
	}, env...)...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if _, err := p.WaitLines(wctx, msgReady, partitions); err != nil {
		return nil, err
	}
	return p, nil
}

func cpuTimes(ps []*procs.Proc) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range ps {
		if t, err := p.CPUTime(); err == nil {
			out[p.Name] = t
		}
	}
	return out
}

// selfCPU is the CPU time this process has used, which during a load run is the load
// generator's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxTook returns the longest "took" of the aggregator's JSON log lines, in seconds (zap's
// JSON encoder writes durations as seconds).
func maxTook(lines []procs.Line) float64 {
	var most float64
	for _, l := range lines {
		var v struct {
			Took float64 `json:"took"`
		}
		if json.Unmarshal([]byte(l.Text), &v) == nil {
			most = max(most, v.Took)
		}
	}
	return most
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// profilePath is where a profiled process writes its CPU profile.
func (s *suite) profilePath(name string) string {
	return filepath.Join(s.cfg.Out, "profiles", name+".pprof")
}

// profileEnv adds the CPU-profile setting to env when the run profiles.
func (s *suite) profileEnv(name string, env ...string) []string {
	if !s.cfg.Profile {
		return env
	}
	s.profiled[name] = true
	return append(env, fmt.Sprintf("%s=%s", profileEnvVar, s.profilePath(name)))
}
