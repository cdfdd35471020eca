// Package lifecycle gives every toptraffic process the same reaction to signals: the first
// SIGINT or SIGTERM starts an orderly shutdown, a second one forces the process to exit at once.
package lifecycle

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// SignalContext returns a context that is cancelled by the first SIGINT or SIGTERM. After that a
// second signal calls exit(1) (os.Exit in production), for an operator whose shutdown is stuck.
// The returned stop releases the signal handlers.
func SignalContext(logger *zap.Logger, exit func(int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			logger.Info("shutting down, send the signal again to force exit",
				zap.String("signal", sig.String()))
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			logger.Warn("second signal, forcing exit", zap.String("signal", sig.String()))
			_ = logger.Sync()
			exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		select {
		case <-done:
		default:
			close(done)
		}
		cancel()
	}
}
