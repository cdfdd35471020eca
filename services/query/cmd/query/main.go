// Command query serves the top-domain statistics. It reads the per-partition top lists the
// aggregators publish to the snapshots topic into memory and answers
// GET /api/stats/lastMinute and /api/stats/lastHour, which the gateway forwards to it, the
// history routes /api/stats/minute and /api/stats/hour, a dashboard at / and /metrics.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/clock"
	"toptraffic/libs/httpserver"
	"toptraffic/libs/kafkasetup"
	"toptraffic/libs/logging"
	"toptraffic/libs/snapshot"
	"toptraffic/services/query/internal/api"
	"toptraffic/services/query/internal/config"
	"toptraffic/services/query/internal/consumer"
	"toptraffic/services/query/internal/metrics"
	"toptraffic/services/query/internal/store"
)

func main() { os.Exit(run()) }

// run wires the service together and returns the process exit code.
func run() int {
	cfg, err := config.Parse(os.Environ())
	if err != nil {
		// No logger yet: its level and format are part of what failed to parse.
		fmt.Fprintf(os.Stderr, "query: invalid configuration: %v\n", err)
		return 1
	}

	logger, err := logging.New("query", cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "query: build logger: %v\n", err)
		return 1
	}
	defer func() { _ = logger.Sync() }()
	logger.Info("starting", zap.Object("config", cfg))

	// Build the parts. Nothing talks to Kafka until the consumer runs.
	clk := clock.System{}
	st := store.New(clk, cfg.SnapshotRetention)
	m := metrics.New(st, clk)
	cons := consumer.New(consumer.Config{
		Brokers: cfg.KafkaBrokers,
		Topic: kafkasetup.Topic{
			Name:              cfg.SnapshotsTopic,
			Partitions:        cfg.SnapshotsPartitions,
			ReplicationFactor: cfg.TopicReplicationFactor,
			Configs:           snapshot.TopicConfigs(cfg.SnapshotsTopicRetention),
		},
		Observer: m,
	}, st, clk, logger.Named("consumer"))
	httpCfg := httpserver.DefaultConfig(cfg.Addr)
	httpCfg.ShutdownTimeout = cfg.ShutdownTimeout
	handler := api.New(api.Deps{
		Store:   st,
		Clock:   clk,
		Logger:  logger.Named("api"),
		Metrics: m,
	})
	srv := httpserver.New(httpCfg, handler, logger)

	// Bind before anything runs, so a taken port is one clear error and exit 1.
	if err := srv.Listen(); err != nil {
		logger.Error("cannot start http server", zap.Error(err))
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default handling: a second one kills the process
	// at once, whatever the graceful shutdown is waiting for.
	context.AfterFunc(ctx, stop)

	// The consumer gets a context of its own so that it stops only after HTTP has: requests
	// in flight are answered from a store that is still being fed.
	consumeCtx, stopConsuming := context.WithCancel(context.Background())
	defer stopConsuming()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// HTTP starts at once and answers 503 warming_up until the snapshots are loaded.
		err := srv.Run(gctx)
		// Shutdown, step 2 (step 1 is srv.Run returning): stop reading snapshots.
		stopConsuming()
		return err
	})
	g.Go(func() error {
		if err := cons.Run(consumeCtx); err != nil {
			return fmt.Errorf("consume snapshots: %w", err)
		}
		return nil
	})

	<-gctx.Done()
	if ctx.Err() != nil {
		logger.Info("shutting down; a second signal forces exit")
	}

	// Shutdown, in order:
	// 1. srv.Run stops accepting connections and gives requests in flight up to
	//    SHUTDOWN_TIMEOUT to finish;
	// 2. then the consumer's context ends and each reader is closed (about MaxWait each, in
	//    parallel);
	// 3. Close makes sure of step 2 even if Run had failed, and the deferred Sync flushes the
	//    logger last.
	err = g.Wait()
	_ = cons.Close()
	if err != nil {
		logger.Error("stopped with error", zap.Error(err))
		return 1
	}
	logger.Info("stopped")
	return 0
}
