// Package config holds the settings of the devbroker process. They come from environment
// variables handed in by main, so nothing below main reads the environment itself.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"

	"toptraffic/libs/envconfig"
	"toptraffic/libs/logging"
)

// Names of the environment variables read by Parse.
const (
	KeyAddr                   = "DEVBROKER_ADDR"
	KeyDataDir                = "DEVBROKER_DATA_DIR"
	KeySyncWrites             = "DEVBROKER_SYNC_WRITES"
	KeyGroupMinSessionTimeout = "DEVBROKER_GROUP_MIN_SESSION_TIMEOUT"
	KeyGroupMaxSessionTimeout = "DEVBROKER_GROUP_MAX_SESSION_TIMEOUT"
	KeyLogLevel               = "LOG_LEVEL"
	KeyLogFormat              = "LOG_FORMAT"
)

// Config is everything the devbroker process can be told. The env tags must use the Key
// constants above; a test checks that they agree.
type Config struct {
	// Addr is the host:port the broker listens on and advertises to clients. The host is
	// bound as given, so the loopback default keeps the broker off other interfaces.
	Addr string `env:"DEVBROKER_ADDR" envDefault:"127.0.0.1:9092"`

	// DataDir is where the broker keeps topics, records and group offsets so that a restarted
	// dev stack finds them again. Relative paths are taken from the working directory. Empty
	// keeps everything in memory.
	DataDir string `env:"DEVBROKER_DATA_DIR" envDefault:".data/devbroker"`

	// SyncWrites fsyncs every produced batch. Off, a crash of the process can lose the last
	// batches, which is usually fine for a development broker.
	SyncWrites bool `env:"DEVBROKER_SYNC_WRITES" envDefault:"false"`

	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session timeout consumers
	// may ask for when they join a group. The low minimum lets tests use short sessions.
	GroupMinSessionTimeout time.Duration `env:"DEVBROKER_GROUP_MIN_SESSION_TIMEOUT" envDefault:"1s"`
	GroupMaxSessionTimeout time.Duration `env:"DEVBROKER_GROUP_MAX_SESSION_TIMEOUT" envDefault:"5m"`

	// LogLevel is a zap level name: debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// LogFormat is console for people or json for log collectors.
	LogFormat logging.Format `env:"LOG_FORMAT" envDefault:"console"`
}

// Parse fills a Config from environ, given as os.Environ returns it, and validates it.
func Parse(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ, ErrInvalid)
	if err != nil {
		return Config{}, fmt.Errorf("parse environment: %w", err)
	}

	// The env library treats a variable that is set but empty like one that is unset and
	// applies the default; an explicitly empty data dir means "memory only", so honour it.
	if v, ok := envconfig.Lookup(environ, KeyDataDir); ok && v == "" {
		cfg.DataDir = ""
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every setting that cannot be used, each error naming its variable.
func (c Config) Validate() error {
	var errs []error

	if err := validateAddr(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("%s %q: %w: %w", KeyAddr, c.Addr, ErrInvalid, err))
	}

	if c.GroupMinSessionTimeout <= 0 {
		errs = append(errs, fmt.Errorf(
			"%s %s: %w: must be positive",
			KeyGroupMinSessionTimeout,
			c.GroupMinSessionTimeout,
			ErrInvalid,
		))
	}
	if c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout {
		errs = append(errs, fmt.Errorf(
			"%s %s: %w: must not be below %s (%s)",
			KeyGroupMaxSessionTimeout,
			c.GroupMaxSessionTimeout,
			ErrInvalid,
			KeyGroupMinSessionTimeout,
			c.GroupMinSessionTimeout,
		))
	}

	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("%s %q: %w: %w", KeyLogLevel, c.LogLevel, ErrInvalid, err))
	}

	switch c.LogFormat {
	case logging.FormatConsole, logging.FormatJSON:
	default:
		errs = append(errs, fmt.Errorf(
			"%s %q: %w: want %q or %q",
			KeyLogFormat,
			c.LogFormat,
			ErrInvalid,
			logging.FormatConsole,
			logging.FormatJSON,
		))
	}

	return errors.Join(errs...)
}

// validateAddr accepts host:port with a named host and a port from 0 (any free port) to 65535.
func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	// An empty host would bind every interface; make that a deliberate 0.0.0.0 instead.
	if host == "" {
		return errors.New(
			"host is empty; use 127.0.0.1 for loopback or 0.0.0.0 for all interfaces",
		)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// MarshalLogObject lets the whole config be logged once at start as one structured field.
// Nothing here is secret.
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("addr", c.Addr)
	enc.AddString("data_dir", c.DataDir)
	enc.AddBool("sync_writes", c.SyncWrites)
	enc.AddDuration("group_min_session_timeout", c.GroupMinSessionTimeout)
	enc.AddDuration("group_max_session_timeout", c.GroupMaxSessionTimeout)
	enc.AddString("log_level", c.LogLevel)
	enc.AddString("log_format", string(c.LogFormat))
	return nil
}
