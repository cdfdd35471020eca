// Command aggregator is one worker of the aggregators' consumer group: it rolls the counters of
// the partitions it owns into minute and hour windows and publishes their top lists.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/clock"
	"toptraffic/libs/httpserver"
	"toptraffic/libs/kafkasetup"
	"toptraffic/libs/lifecycle"
	"toptraffic/libs/logging"
	"toptraffic/libs/snapshot"
	"toptraffic/services/aggregator/internal/config"
	"toptraffic/services/aggregator/internal/group"
	"toptraffic/services/aggregator/internal/metrics"
	"toptraffic/services/aggregator/internal/partition"
	"toptraffic/services/aggregator/internal/publisher"
	"toptraffic/services/aggregator/internal/rollup"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := config.Parse(os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		return 2
	}
	logger, err := logging.New("aggregator", cfg.LogLevel, logging.Format(cfg.LogFormat))
	if err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		return 2
	}
	defer func() { _ = logger.Sync() }()
	logger.Info("starting", zap.Object("config", cfg))

	ctx, stop := lifecycle.SignalContext(logger, os.Exit)
	defer stop()

	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("aggregator failed", zap.Error(err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

func serve(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
	client := kafkasetup.NewClient(cfg.Brokers, "toptraffic-aggregator")
	metric := metrics.New()
	ready := &readiness{}
	// Probes and metrics are served from the start, so a worker waiting for Kafka shows up
	// as alive but not ready. Run logs the bound address, which matters with port 0.
	srv := httpserver.New(httpserver.Config{Addr: cfg.Addr, ShutdownTimeout: cfg.ShutdownTimeout},
		healthHandler(ready, metric.Handler()), logger.Named("http"))
	if err := srv.Listen(); err != nil {
		return err
	}

	// cancel stops the health server on the way out of a failed start, so g.Wait returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })

	// Topics first: the group and the publisher both need them, and waiting here lets an
	// aggregator start before the broker does.
	counts, err := kafkasetup.EnsureTopics(gctx, client, logger,
		kafkasetup.Topic{Name: cfg.CountersTopic, Partitions: cfg.CountersParts,
			ReplicationFactor: cfg.ReplicationFactor},
		kafkasetup.Topic{Name: cfg.SnapshotsTopic, Partitions: cfg.SnapshotsParts,
			ReplicationFactor: cfg.ReplicationFactor,
			Configs:           snapshot.TopicConfigs(cfg.SnapshotsTopicRetention)},
	)
	if err != nil {
		stopped := ctx.Err() != nil
		cancel()
		if stopped {
			return g.Wait()
		}
		return errors.Join(err, g.Wait())
	}
	ready.topicsSetUp()
	partitions := counts[cfg.CountersTopic]
	if partitions != cfg.CountersParts {
		logger.Warn("counters topic has a different partition count than configured; "+
			"statistics stay exact only while it never changes",
			zap.Int("partitions", partitions), zap.Int("configured", cfg.CountersParts))
	}

	pub := publisher.New(cfg.Brokers, cfg.SnapshotsTopic)
	runnerCfg := partition.Config{
		Brokers: cfg.Brokers,
		Topic:   cfg.CountersTopic,
		Rollup: rollup.Config{
			Partitions: partitions,
			LatenessMs: cfg.AllowedLateness.Milliseconds(),
			GraceMs:    cfg.CloseGrace.Milliseconds(),
			K:          cfg.TopK,
		},
		FlushInterval:  cfg.FlushInterval,
		CommitInterval: cfg.CommitInterval,
		MaxWait:        250 * time.Millisecond,
		StopTimeout:    cfg.ShutdownTimeout,
	}
	hooks := metric.Hooks()
	newRunner := func(p int, c partition.Committer) *partition.Runner {
		return partition.New(runnerCfg, p, clock.System{}, pub, c, hooks, logger)
	}
	grp, err := group.New(group.Config{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupID,
		Topic:             cfg.CountersTopic,
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		RebalanceTimeout:  cfg.RebalanceTimeout,
	}, client, newRunner, logger)
	if err != nil {
		cancel()
		return errors.Join(err, pub.Close(), g.Wait())
	}
	metric.TrackAssignment(grp.Assigned)
	g.Go(func() error { return grp.Run(gctx) })
	ready.memberStarted(grp)

	<-gctx.Done()
	// Shutdown order: end the generation so every partition publishes its open windows and
	// commits its replay point, and leave the group so the others take over at once; then
	// flush the snapshot writer; the health server stops with the context.
	closeErr := grp.Close()
	closeErr = errors.Join(closeErr, pub.Close())
	return errors.Join(closeErr, g.Wait())
}
