// Package logging builds the zap logger every toptraffic process uses, so that level names,
// encodings and field conventions are the same across services.
package logging

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Format selects how log lines are encoded.
type Format string

const (
	// FormatConsole is human-readable, coloured output for a terminal (the `make run` default).
	FormatConsole Format = "console"
	// FormatJSON is one JSON object per line, for log collectors.
	FormatJSON Format = "json"
)

// New returns a logger at level ("debug", "info", "warn", "error") in the given format, tagged
// with the service name. The caller owns it and should Sync it last during shutdown.
func New(service, level string, format Format) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("parse log level %q: %w", level, err)
	}

	var cfg zap.Config
	switch format {
	case FormatConsole, "":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.Development = false
	case FormatJSON:
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	default:
		return nil, fmt.Errorf("unknown log format %q: want %q or %q", format, FormatConsole, FormatJSON)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	// Stack traces belong to panics, not to every error a service handles and reports.
	cfg.DisableStacktrace = true

	logger, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return logger.With(zap.String("service", service)), nil
}
