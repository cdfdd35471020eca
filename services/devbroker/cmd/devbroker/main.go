// Command devbroker runs the single-node Kafka broker that `make run` and the tests use when
// KAFKA_BROKERS is unset. It only wires: settings from the environment, a logger, the broker,
// and an ordered stop on SIGINT or SIGTERM; a second signal exits at once.
package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"

	"toptraffic/libs/lifecycle"
	"toptraffic/libs/logging"
	"toptraffic/services/devbroker/internal/broker"
	"toptraffic/services/devbroker/internal/config"
)

const service = "devbroker"

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

	// run returns its errors unlogged so that each is logged here, once. Syncing the logger
	// is the last step either way; its error is dropped because a terminal's stderr refuses
	// fsync and there is nowhere left to report it.
	if err := run(cfg, logger); err != nil {
		logger.Error("devbroker failed", zap.Error(err))
		_ = logger.Sync()
		os.Exit(1)
	}
	_ = logger.Sync()
}

func run(cfg config.Config, logger *zap.Logger) error {
	// Take the signals over before the broker starts so that none is lost. Close may take a
	// while to write state out; a second signal means stop waiting.
	ctx, stop := lifecycle.SignalContext(logger, os.Exit)
	defer stop()

	b, err := broker.New(broker.Config{
		Addr:                   cfg.Addr,
		DataDir:                cfg.DataDir,
		SyncWrites:             cfg.SyncWrites,
		GroupMinSessionTimeout: cfg.GroupMinSessionTimeout,
		GroupMaxSessionTimeout: cfg.GroupMaxSessionTimeout,
	}, logger)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}

	runErr := b.Run(ctx)

	// Shutdown order: the broker stops accepting connections, finishes queued offset commits
	// and writes its state to the data dir (Close); main then syncs the logger.
	if err := b.Close(); err != nil {
		return fmt.Errorf("close broker: %w", err)
	}
	if runErr != nil {
		return fmt.Errorf("run broker: %w", runErr)
	}
	return nil
}
