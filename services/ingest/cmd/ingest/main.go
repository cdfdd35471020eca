// Command ingest runs the gateway producers POST counters to. It only wires: settings from the
// environment, a logger, the Kafka publisher, the HTTP API and server, then an ordered stop on
// SIGINT or SIGTERM; a second signal exits at once.
package main

import (
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/libs/httpserver"
	"toptraffic/libs/lifecycle"
	"toptraffic/libs/logging"
	"toptraffic/services/ingest/internal/api"
	"toptraffic/services/ingest/internal/config"
	"toptraffic/services/ingest/internal/metrics"
	"toptraffic/services/ingest/internal/proxy"
	"toptraffic/services/ingest/internal/publisher"
	"toptraffic/services/ingest/internal/timepolicy"
)

const service = "ingest"

func main() {
	cfg, err := config.Parse(os.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: load config: %v\n", service, err)
		os.Exit(2)
	}

	logger, err := logging.New(service, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: build logger: %v\n", service, err)
		os.Exit(2)
	}
	logger.Info("config loaded", zap.Object("config", cfg))

	// run returns its error unlogged so that it is logged here, once. Syncing the logger is
	// the last step either way; its error is dropped because a terminal's stderr refuses
	// fsync and there is nowhere left to report it.
	if err := run(cfg, logger); err != nil {
		logger.Error("ingest failed", zap.Error(err))
		_ = logger.Sync()
		os.Exit(1)
	}
	_ = logger.Sync()
}

func run(cfg config.Config, logger *zap.Logger) error {
	// The first SIGINT or SIGTERM starts the orderly stop below; a second one exits at once.
	ctx, stop := lifecycle.SignalContext(logger, os.Exit)
	defer stop()

	clk := clock.System{}
	metric := metrics.New(clk)

	pub := publisher.New(publisher.Config{
		Brokers:           cfg.KafkaBrokers,
		ClientID:          "toptraffic-" + service,
		Topic:             cfg.CountersTopic,
		Partitions:        cfg.CountersPartitions,
		ReplicationFactor: cfg.TopicReplicationFactor,
		ProduceTimeout:    cfg.ProduceTimeout,
		BatchTimeout:      cfg.ProduceBatchTimeout,
		BatchSize:         cfg.ProduceBatchSize,
		CloseTimeout:      cfg.ShutdownTimeout,
		Hooks:             metric.PublisherHooks(),
	}, logger.Named("publisher"))

	stats := proxy.New(proxy.Config{
		Target:  cfg.ParsedQueryURL(),
		Timeout: cfg.QueryTimeout,
	}, logger.Named("proxy"), api.QueryUnavailable)
	defer stats.Close()

	handler := api.New(api.Config{
		MaxBodyBytes: cfg.MaxBodyBytes,
		Limits: counter.Limits{
			MaxDomainsPerCounter:  cfg.MaxDomainsPerCounter,
			MaxCountersPerRequest: cfg.MaxCountersPerRequest,
		},
		Policy: timepolicy.Policy{
			AllowedLateness: cfg.AllowedLateness,
			MaxFutureSkew:   cfg.MaxFutureSkew,
		},
		IngestTokens: cfg.IngestTokens,
		StatsTokens:  cfg.StatsTokens,
	}, api.Deps{
		Publisher: pub,
		Stats:     stats,
		Clock:     clk,
		Metrics:   metric,
		Logger:    logger.Named("api"),
	})

	srv := httpserver.New(httpserver.Config{
		Addr:              cfg.Addr(),
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ShutdownTimeout:   cfg.ShutdownTimeout,
	}, handler, logger.Named("http"))

	// Bind before anything runs, so a taken port is one clear start-up error.
	if err := srv.Listen(); err != nil {
		_ = pub.Close()
		return fmt.Errorf("start http server: %w", err)
	}

	// The HTTP server starts at once and answers POSTs with 503 until the publisher has
	// confirmed the counters topic; both stop when a signal arrives or either fails.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return pub.Run(gctx) })

	<-gctx.Done()

	// Shutdown order:
	// 1. Stop accepting HTTP requests and let those in flight finish, each bounded by the
	//    produce timeout and all by SHUTDOWN_TIMEOUT (srv.Run does this once gctx ends);
	//    the publisher's Run returns at the same time.
	runErr := g.Wait()
	// 2. Flush the batches the producer still holds and close it, bounded by
	//    SHUTDOWN_TIMEOUT. No request can add records any more.
	closeErr := pub.Close()
	// 3. The logger is synced by main, last.
	return errors.Join(runErr, closeErr)
}
