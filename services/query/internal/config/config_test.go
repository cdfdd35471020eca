package config_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"toptraffic/libs/logging"
	"toptraffic/services/query/internal/config"
)

func TestParse(t *testing.T) {
	t.Parallel()
	defaults := config.Config{
		Addr:                    "127.0.0.1:3001",
		KafkaBrokers:            []string{"127.0.0.1:9092"},
		SnapshotsTopic:          "snapshots",
		SnapshotsPartitions:     1,
		TopicReplicationFactor:  1,
		SnapshotRetention:       25 * time.Hour,
		SnapshotsTopicRetention: 48 * time.Hour,
		LogLevel:                "info",
		LogFormat:               logging.FormatConsole,
		ShutdownTimeout:         15 * time.Second,
	}
	tests := []struct {
		name    string
		environ []string
		want    func(c *config.Config)
	}{
		{
			name:    "defaults",
			environ: nil,
			want:    func(*config.Config) {},
		},
		{
			name:    "empty variables take the default",
			environ: []string{"SNAPSHOTS_TOPIC=", "QUERY_ADDR="},
			want:    func(*config.Config) {},
		},
		{
			name: "every setting",
			environ: []string{
				"QUERY_ADDR=0.0.0.0:8080",
				"KAFKA_BROKERS=k1:9092, k2:9092,",
				"SNAPSHOTS_TOPIC=snaps",
				"SNAPSHOTS_PARTITIONS=4",
				"TOPIC_REPLICATION_FACTOR=3",
				"SNAPSHOT_RETENTION=48h",
				"SNAPSHOTS_TOPIC_RETENTION=72h",
				"LOG_LEVEL=debug",
				"LOG_FORMAT=json",
				"SHUTDOWN_TIMEOUT=2s",
				"UNRELATED=x",
			},
			want: func(c *config.Config) {
				c.Addr = "0.0.0.0:8080"
				c.KafkaBrokers = []string{"k1:9092", "k2:9092"}
				c.SnapshotsTopic = "snaps"
				c.SnapshotsPartitions = 4
				c.TopicReplicationFactor = 3
				c.SnapshotRetention = 48 * time.Hour
				c.SnapshotsTopicRetention = 72 * time.Hour
				c.LogLevel = "debug"
				c.LogFormat = logging.FormatJSON
				c.ShutdownTimeout = 2 * time.Second
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Parse(tt.environ)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := defaults
			want.KafkaBrokers = slices.Clone(defaults.KafkaBrokers)
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseNamesTheBadVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		wantKey string
	}{
		{
			name:    "addr without port",
			environ: []string{"QUERY_ADDR=localhost"},
			wantKey: "QUERY_ADDR",
		},
		{name: "addr without host", environ: []string{"QUERY_ADDR=:3001"}, wantKey: "QUERY_ADDR"},
		{name: "no brokers", environ: []string{"KAFKA_BROKERS= , "}, wantKey: "KAFKA_BROKERS"},
		{
			name:    "broker without port",
			environ: []string{"KAFKA_BROKERS=kafka"},
			wantKey: "KAFKA_BROKERS",
		},
		{
			name:    "partitions not a number",
			environ: []string{"SNAPSHOTS_PARTITIONS=many"},
			wantKey: "SNAPSHOTS_PARTITIONS",
		},
		{
			name:    "zero partitions",
			environ: []string{"SNAPSHOTS_PARTITIONS=0"},
			wantKey: "SNAPSHOTS_PARTITIONS",
		},
		{
			name:    "zero replication",
			environ: []string{"TOPIC_REPLICATION_FACTOR=0"},
			wantKey: "TOPIC_REPLICATION_FACTOR",
		},
		{
			name:    "retention shorter than an hour",
			environ: []string{"SNAPSHOT_RETENTION=30m"},
			wantKey: "SNAPSHOT_RETENTION",
		},
		{
			name:    "topic keeps less than memory",
			environ: []string{"SNAPSHOT_RETENTION=30h", "SNAPSHOTS_TOPIC_RETENTION=24h"},
			wantKey: "SNAPSHOTS_TOPIC_RETENTION",
		},
		{
			name:    "retention not a duration",
			environ: []string{"SNAPSHOT_RETENTION=a day"},
			wantKey: "SNAPSHOT_RETENTION",
		},
		{name: "log level", environ: []string{"LOG_LEVEL=loud"}, wantKey: "LOG_LEVEL"},
		{name: "log format", environ: []string{"LOG_FORMAT=xml"}, wantKey: "LOG_FORMAT"},
		{
			name:    "shutdown timeout",
			environ: []string{"SHUTDOWN_TIMEOUT=0s"},
			wantKey: "SHUTDOWN_TIMEOUT",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse(tt.environ)
			if err == nil {
				t.Fatal("Parse accepted a bad setting")
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %q is not ErrInvalid", err)
			}
		})
	}
}

func TestValidateEmptyTopic(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cfg.SnapshotsTopic = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "SNAPSHOTS_TOPIC") {
		t.Errorf("Validate = %v, want an error naming SNAPSHOTS_TOPIC", err)
	}
}

// TestTagsMatchKeys keeps the env tags and the exported Key constants in step.
func TestTagsMatchKeys(t *testing.T) {
	t.Parallel()
	keys := []string{
		config.KeyAddr,
		config.KeyKafkaBrokers,
		config.KeySnapshotsTopic,
		config.KeySnapshotsPartitions,
		config.KeyTopicReplicationFactor,
		config.KeySnapshotRetention,
		config.KeySnapshotsTopicRetention,
		config.KeyLogLevel,
		config.KeyLogFormat,
		config.KeyShutdownTimeout,
	}
	var tags []string
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		tags = append(tags, tag)
	}
	slices.Sort(keys)
	slices.Sort(tags)
	if !slices.Equal(keys, tags) {
		t.Errorf("env tags %v differ from Key constants %v", tags, keys)
	}
}
