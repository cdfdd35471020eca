// Package config reads the aggregator's settings from the environment and checks them.
package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"toptraffic/libs/envconfig"
)

// Config is every setting of the aggregator. The defaults form a working stack on one machine
// with the dev broker, so any number of aggregators can be started without settings.
type Config struct {
	Brokers        []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	CountersTopic  string   `env:"COUNTERS_TOPIC" envDefault:"counters"`
	CountersParts  int      `env:"COUNTERS_PARTITIONS" envDefault:"12"`
	SnapshotsTopic string   `env:"SNAPSHOTS_TOPIC" envDefault:"snapshots"`
	SnapshotsParts int      `env:"SNAPSHOTS_PARTITIONS" envDefault:"1"`
	// SnapshotsTopicRetention is how long the broker keeps a snapshot, when this worker is the
	// first to create the topic; the query service's setting of the same name must agree.
	SnapshotsTopicRetention time.Duration `env:"SNAPSHOTS_TOPIC_RETENTION" envDefault:"48h"`
	ReplicationFactor       int           `env:"TOPIC_REPLICATION_FACTOR" envDefault:"1"`
	GroupID                 string        `env:"AGGREGATOR_GROUP_ID" envDefault:"toptraffic-aggregator"`
	AllowedLateness         time.Duration `env:"ALLOWED_LATENESS" envDefault:"1m"`
	CloseGrace              time.Duration `env:"WINDOW_CLOSE_GRACE" envDefault:"10s"`
	TopK                    int           `env:"TOP_K" envDefault:"100"`
	FlushInterval           time.Duration `env:"FLUSH_INTERVAL" envDefault:"200ms"`
	CommitInterval          time.Duration `env:"COMMIT_INTERVAL" envDefault:"1s"`
	SessionTimeout          time.Duration `env:"GROUP_SESSION_TIMEOUT" envDefault:"6s"`
	HeartbeatInterval       time.Duration `env:"GROUP_HEARTBEAT_INTERVAL" envDefault:"1s"`
	RebalanceTimeout        time.Duration `env:"GROUP_REBALANCE_TIMEOUT" envDefault:"15s"`
	// Addr serves /healthz, /readyz and /metrics. Port 0 lets several aggregators share a host.
	Addr            string        `env:"AGGREGATOR_ADDR" envDefault:"127.0.0.1:0"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat       string        `env:"LOG_FORMAT" envDefault:"console"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
}

// Parse reads the settings from environ (the process environment as os.Environ returns it,
// passed in by main) and validates them.
func Parse(environ []string) (Config, error) {
	c, err := envconfig.Parse[Config](environ, nil)
	if err != nil {
		return c, fmt.Errorf("read aggregator settings: %w", err)
	}
	return c, c.Validate()
}

// MarshalLogObject logs the settings under their environment variable names, durations
// readable. The aggregator has no secrets to hide.
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	v := reflect.ValueOf(c)
	for i, f := range reflect.VisibleFields(v.Type()) {
		name := f.Tag.Get("env")
		switch x := v.Field(i).Interface().(type) {
		case time.Duration:
			enc.AddString(name, x.String())
		case []string:
			enc.AddString(name, strings.Join(x, ","))
		case int:
			enc.AddInt(name, x)
		default:
			enc.AddString(name, fmt.Sprint(x))
		}
	}
	return nil
}

// Validate names the first setting that is out of range.
func (c Config) Validate() error {
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"WINDOW_CLOSE_GRACE", c.CloseGrace},
		{"FLUSH_INTERVAL", c.FlushInterval},
		{"COMMIT_INTERVAL", c.CommitInterval},
		{"GROUP_SESSION_TIMEOUT", c.SessionTimeout},
		{"GROUP_HEARTBEAT_INTERVAL", c.HeartbeatInterval},
		{"GROUP_REBALANCE_TIMEOUT", c.RebalanceTimeout},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("%s must be a positive duration, got %v", p.name, p.v)
		}
	}
	switch {
	case len(c.Brokers) == 0 || strings.TrimSpace(c.Brokers[0]) == "":
		return fmt.Errorf("KAFKA_BROKERS must list at least one host:port")
	case c.CountersTopic == "":
		return fmt.Errorf("COUNTERS_TOPIC must not be empty")
	case c.SnapshotsTopic == "":
		return fmt.Errorf("SNAPSHOTS_TOPIC must not be empty")
	case c.CountersTopic == c.SnapshotsTopic:
		return fmt.Errorf("SNAPSHOTS_TOPIC must differ from COUNTERS_TOPIC (%q)", c.CountersTopic)
	case c.CountersParts < 1:
		return fmt.Errorf("COUNTERS_PARTITIONS must be at least 1, got %d", c.CountersParts)
	case c.SnapshotsParts < 1:
		return fmt.Errorf("SNAPSHOTS_PARTITIONS must be at least 1, got %d", c.SnapshotsParts)
	case c.SnapshotsTopicRetention < 2*time.Hour:
		return fmt.Errorf("SNAPSHOTS_TOPIC_RETENTION must be at least 2h, so the last full "+
			"hour's snapshots outlive it, got %v", c.SnapshotsTopicRetention)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("TOPIC_REPLICATION_FACTOR must be at least 1, got %d", c.ReplicationFactor)
	case c.GroupID == "":
		return fmt.Errorf("AGGREGATOR_GROUP_ID must not be empty")
	case c.AllowedLateness < 0:
		return fmt.Errorf("ALLOWED_LATENESS must not be negative, got %v", c.AllowedLateness)
	case c.TopK < 10:
		return fmt.Errorf("TOP_K must be at least 10 (the API's top ten), got %d", c.TopK)
	case c.HeartbeatInterval >= c.SessionTimeout:
		return fmt.Errorf("GROUP_HEARTBEAT_INTERVAL (%v) must be below GROUP_SESSION_TIMEOUT (%v)",
			c.HeartbeatInterval, c.SessionTimeout)
	case c.FlushInterval > 500*time.Millisecond:
		return fmt.Errorf("FLUSH_INTERVAL must be at most 500ms so snapshots follow changes "+
			"within half a second, got %v", c.FlushInterval)
	}
	return nil
}
