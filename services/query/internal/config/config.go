// Package config holds the settings of the query process. main hands it the environment, so
// nothing below main reads environment variables itself.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"toptraffic/libs/envconfig"
	"toptraffic/libs/logging"
)

// Names of the environment variables read by Parse.
const (
	KeyAddr                    = "QUERY_ADDR"
	KeyKafkaBrokers            = "KAFKA_BROKERS"
	KeySnapshotsTopic          = "SNAPSHOTS_TOPIC"
	KeySnapshotsPartitions     = "SNAPSHOTS_PARTITIONS"
	KeyTopicReplicationFactor  = "TOPIC_REPLICATION_FACTOR"
	KeySnapshotRetention       = "SNAPSHOT_RETENTION"
	KeySnapshotsTopicRetention = "SNAPSHOTS_TOPIC_RETENTION"
	KeyLogLevel                = "LOG_LEVEL"
	KeyLogFormat               = "LOG_FORMAT"
	KeyShutdownTimeout         = "SHUTDOWN_TIMEOUT"
)

// Config is everything the query process can be told. The env tags must use the Key constants
// above; a test checks that they agree.
type Config struct {
	// Addr is the host:port the HTTP API listens on. The loopback default keeps it off other
	// interfaces; the gateway forwards the public statistics paths to it.
	Addr string `env:"QUERY_ADDR" envDefault:"127.0.0.1:3001"`

	// KafkaBrokers are the bootstrap brokers, comma-separated in the environment.
	KafkaBrokers []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`

	// SnapshotsTopic is the compacted topic the aggregators publish per-partition top lists to.
	SnapshotsTopic string `env:"SNAPSHOTS_TOPIC" envDefault:"snapshots"`

	// SnapshotsPartitions and TopicReplicationFactor are used only when this process is the
	// first to create the snapshots topic; an existing topic keeps its own layout.
	SnapshotsPartitions    int `env:"SNAPSHOTS_PARTITIONS" envDefault:"1"`
	TopicReplicationFactor int `env:"TOPIC_REPLICATION_FACTOR" envDefault:"1"`

	// SnapshotRetention is how long after its end a window is still kept in memory. The
	// default keeps a full day of hours plus the hour being answered.
	SnapshotRetention time.Duration `env:"SNAPSHOT_RETENTION" envDefault:"25h"`

	// SnapshotsTopicRetention is how long the broker keeps a snapshot, when this process is
	// the first to create the topic. It must cover SnapshotRetention, or a restarted query
	// service could not rebuild every window it is meant to hold.
	SnapshotsTopicRetention time.Duration `env:"SNAPSHOTS_TOPIC_RETENTION" envDefault:"48h"`

	// LogLevel is a zap level name: debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// LogFormat is console for people or json for log collectors.
	LogFormat logging.Format `env:"LOG_FORMAT" envDefault:"console"`

	// ShutdownTimeout bounds how long HTTP requests in flight may run once shutdown starts.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
}

// Parse fills a Config from environ, given as os.Environ returns it, and validates it.
func Parse(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ, ErrInvalid)
	if err != nil {
		return Config{}, fmt.Errorf("parse environment: %w", err)
	}

	// "a, b" is a natural way to write a list; drop the spaces and the empty items.
	brokers := cfg.KafkaBrokers[:0]
	for _, b := range cfg.KafkaBrokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	cfg.KafkaBrokers = brokers

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every setting that cannot be used, each error naming its variable.
func (c Config) Validate() error {
	var errs []error
	invalid := func(key string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %q: %w: %s",
			key,
			fmt.Sprint(value),
			ErrInvalid,
			fmt.Sprintf(format, args...),
		))
	}

	if err := validateAddr(c.Addr); err != nil {
		invalid(KeyAddr, c.Addr, "%v", err)
	}

	if len(c.KafkaBrokers) == 0 {
		invalid(KeyKafkaBrokers, "", "want at least one host:port")
	}
	for _, b := range c.KafkaBrokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			invalid(KeyKafkaBrokers, b, "want host:port: %v", err)
		}
	}

	if c.SnapshotsTopic == "" {
		invalid(KeySnapshotsTopic, c.SnapshotsTopic, "must not be empty")
	}
	if c.SnapshotsPartitions < 1 {
		invalid(KeySnapshotsPartitions, c.SnapshotsPartitions, "must be at least 1")
	}
	if c.TopicReplicationFactor < 1 {
		invalid(KeyTopicReplicationFactor, c.TopicReplicationFactor, "must be at least 1")
	}

	// The last full hour ends up to an hour ago, so a shorter retention would evict the very
	// window the API answers.
	if c.SnapshotRetention < time.Hour {
		invalid(KeySnapshotRetention, c.SnapshotRetention, "must be at least 1h")
	}
	if c.SnapshotsTopicRetention < c.SnapshotRetention {
		invalid(KeySnapshotsTopicRetention, c.SnapshotsTopicRetention,
			"must be at least %s (%v), which a restarted query service rebuilds from the topic",
			KeySnapshotRetention, c.SnapshotRetention)
	}

	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		invalid(KeyLogLevel, c.LogLevel, "%v", err)
	}
	switch c.LogFormat {
	case logging.FormatConsole, logging.FormatJSON:
	default:
		invalid(KeyLogFormat, c.LogFormat,
			"want %q or %q", logging.FormatConsole, logging.FormatJSON)
	}

	if c.ShutdownTimeout <= 0 {
		invalid(KeyShutdownTimeout, c.ShutdownTimeout, "must be positive")
	}

	return errors.Join(errs...)
}

// MarshalLogObject lets the whole config be logged once at start as one structured field.
// Nothing here is secret.
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("addr", c.Addr)
	enc.AddString("kafka_brokers", strings.Join(c.KafkaBrokers, ","))
	enc.AddString("snapshots_topic", c.SnapshotsTopic)
	enc.AddInt("snapshots_partitions", c.SnapshotsPartitions)
	enc.AddInt("topic_replication_factor", c.TopicReplicationFactor)
	enc.AddDuration("snapshot_retention", c.SnapshotRetention)
	enc.AddDuration("snapshots_topic_retention", c.SnapshotsTopicRetention)
	enc.AddString("log_level", c.LogLevel)
	enc.AddString("log_format", string(c.LogFormat))
	enc.AddDuration("shutdown_timeout", c.ShutdownTimeout)
	return nil
}

// validateAddr accepts host:port with a named host and a port from 0 (any free port) to 65535.
func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	// An empty host would bind every interface; make that a deliberate 0.0.0.0 instead.
	if host == "" {
		return errors.New("host is empty; use 127.0.0.1 for loopback or 0.0.0.0 for all")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
