package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatalf("Parse(nil) = %v", err)
	}
	want := Config{
		Port:                   3000,
		KafkaBrokers:           []string{"127.0.0.1:9092"},
		CountersTopic:          "counters",
		CountersPartitions:     12,
		TopicReplicationFactor: 1,
		QueryURL:               "http://127.0.0.1:3001",
		QueryTimeout:           2 * time.Second,
		AllowedLateness:        time.Minute,
		MaxFutureSkew:          5 * time.Minute,
		MaxBodyBytes:           1 << 20,
		MaxDomainsPerCounter:   10000,
		MaxCountersPerRequest:  10000,
		ProduceTimeout:         5 * time.Second,
		ProduceBatchTimeout:    2 * time.Millisecond,
		ProduceBatchSize:       100,
		HTTPReadHeaderTimeout:  5 * time.Second,
		HTTPReadTimeout:        15 * time.Second,
		HTTPWriteTimeout:       30 * time.Second,
		HTTPIdleTimeout:        120 * time.Second,
		ShutdownTimeout:        15 * time.Second,
		LogLevel:               "info",
		LogFormat:              "console",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.Addr(); got != ":3000" {
		t.Errorf("Addr() = %q, want :3000", got)
	}
}

func TestParseValues(t *testing.T) {
	cfg, err := Parse([]string{
		"PORT=8080",
		"KAFKA_BROKERS=k1:9092, k2:9093",
		"INGEST_TOKENS=alpha, beta",
		"STATS_TOKENS=gamma",
		"ALLOWED_LATENESS=0s",
		"QUERY_URL=https://query.internal:8443/base",
	})
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if want := []string{"k1:9092", "k2:9093"}; !slices.Equal(cfg.KafkaBrokers, want) {
		t.Errorf("KafkaBrokers = %q, want %q", cfg.KafkaBrokers, want)
	}
	if want := (Secrets{"alpha", "beta"}); !slices.Equal(cfg.IngestTokens, want) {
		t.Errorf("IngestTokens = %q, want %q", []string(cfg.IngestTokens), []string(want))
	}
	if cfg.AllowedLateness != 0 {
		t.Errorf("AllowedLateness = %s, want 0s", cfg.AllowedLateness)
	}
	if got := cfg.ParsedQueryURL().String(); got != "https://query.internal:8443/base" {
		t.Errorf("ParsedQueryURL = %s", got)
	}
}

func TestParseErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "port not a number", env: []string{"PORT=abc"}, want: "PORT"},
		{name: "port out of range", env: []string{"PORT=70000"}, want: "PORT"},
		{name: "port zero", env: []string{"PORT=0"}, want: "PORT"},
		{name: "broker without port", env: []string{"KAFKA_BROKERS=localhost"},
			want: "KAFKA_BROKERS"},
		{name: "broker empty entry", env: []string{"KAFKA_BROKERS=a:1,,b:2"},
			want: "KAFKA_BROKERS"},
		{name: "topic with space", env: []string{"COUNTERS_TOPIC=a b"}, want: "COUNTERS_TOPIC"},
		{name: "partitions zero", env: []string{"COUNTERS_PARTITIONS=0"},
			want: "COUNTERS_PARTITIONS"},
		{name: "replication zero", env: []string{"TOPIC_REPLICATION_FACTOR=0"},
			want: "TOPIC_REPLICATION_FACTOR"},
		{name: "query url relative", env: []string{"QUERY_URL=/stats"}, want: "QUERY_URL"},
		{name: "query url ftp", env: []string{"QUERY_URL=ftp://x"}, want: "QUERY_URL"},
		{name: "query timeout zero", env: []string{"QUERY_TIMEOUT=0s"}, want: "QUERY_TIMEOUT"},
		{name: "lateness negative", env: []string{"ALLOWED_LATENESS=-1s"},
			want: "ALLOWED_LATENESS"},
		{name: "lateness not a duration", env: []string{"ALLOWED_LATENESS=30"},
			want: "ALLOWED_LATENESS"},
		{name: "skew negative", env: []string{"MAX_FUTURE_SKEW=-1m"}, want: "MAX_FUTURE_SKEW"},
		{name: "body zero", env: []string{"MAX_BODY_BYTES=0"}, want: "MAX_BODY_BYTES"},
		{name: "domains zero", env: []string{"MAX_DOMAINS_PER_COUNTER=0"},
			want: "MAX_DOMAINS_PER_COUNTER"},
		{name: "counters zero", env: []string{"MAX_COUNTERS_PER_REQUEST=0"},
			want: "MAX_COUNTERS_PER_REQUEST"},
		{name: "produce timeout zero", env: []string{"PRODUCE_TIMEOUT=0s"},
			want: "PRODUCE_TIMEOUT"},
		{name: "batch timeout above produce timeout",
			env:  []string{"PRODUCE_TIMEOUT=1s", "PRODUCE_BATCH_TIMEOUT=2s"},
			want: "PRODUCE_BATCH_TIMEOUT"},
		{name: "batch size zero", env: []string{"PRODUCE_BATCH_SIZE=0"},
			want: "PRODUCE_BATCH_SIZE"},
		{name: "write timeout below produce timeout", env: []string{"HTTP_WRITE_TIMEOUT=5s"},
			want: "HTTP_WRITE_TIMEOUT"},
		{name: "read header timeout zero", env: []string{"HTTP_READ_HEADER_TIMEOUT=0s"},
			want: "HTTP_READ_HEADER_TIMEOUT"},
		{name: "empty token", env: []string{"INGEST_TOKENS=a,,b"}, want: "INGEST_TOKENS"},
		{name: "empty stats token", env: []string{"STATS_TOKENS=a, "}, want: "STATS_TOKENS"},
		{name: "shutdown zero", env: []string{"SHUTDOWN_TIMEOUT=0s"}, want: "SHUTDOWN_TIMEOUT"},
		{name: "log level", env: []string{"LOG_LEVEL=loud"}, want: "LOG_LEVEL"},
		{name: "log format", env: []string{"LOG_FORMAT=xml"}, want: "LOG_FORMAT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.env)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one naming %s", tt.env, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want+" ") &&
				!strings.HasPrefix(err.Error(), tt.want+":") {
				t.Errorf("error %q does not start with %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestTokensNeverPrinted(t *testing.T) {
	cfg, err := Parse([]string{"INGEST_TOKENS=s3cret-one,s3cret-two", "STATS_TOKENS=s3cret-3"})
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	zap.New(core).Info("config loaded", zap.Object("config", cfg))
	var sb strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&sb, "%v", e.ContextMap())
	}
	fmt.Fprintf(&sb, "%v %+v %#v %s", cfg, cfg, cfg, cfg.IngestTokens)

	if strings.Contains(sb.String(), "s3cret") {
		t.Errorf("a token leaked into printed config: %s", sb.String())
	}

	// An invalid token list must not leak its values through the error either.
	_, err = Parse([]string{"INGEST_TOKENS=s3cret-one,,x"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error for bad tokens = %v, want one without the token", err)
	}
}

func TestKeysMatchTags(t *testing.T) {
	keys := []string{
		KeyPort, KeyKafkaBrokers, KeyCountersTopic, KeyCountersPartitions, KeyTopicReplication,
		KeyQueryURL, KeyQueryTimeout, KeyAllowedLateness, KeyMaxFutureSkew, KeyMaxBodyBytes,
		KeyMaxDomainsPerCounter, KeyMaxCountersPerRequest, KeyProduceTimeout,
		KeyProduceBatchTimeout, KeyProduceBatchSize, KeyIngestTokens, KeyStatsTokens,
		KeyHTTPReadHeaderTimeout, KeyHTTPReadTimeout, KeyHTTPWriteTimeout, KeyHTTPIdleTimeout,
		KeyShutdownTimeout, KeyLogLevel, KeyLogFormat,
	}
	var tags []string
	for f := range reflect.TypeFor[Config]().Fields() {
		tags = append(tags, f.Tag.Get("env"))
	}
	slices.Sort(keys)
	slices.Sort(tags)
	if !slices.Equal(keys, tags) {
		t.Errorf("Key constants and env tags differ:\nkeys %q\ntags %q", keys, tags)
	}
}
