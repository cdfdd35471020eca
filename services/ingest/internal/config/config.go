// Package config holds the settings of the ingest gateway. They are read from environment
// variables that main hands in, checked once at start, and logged once with secrets hidden;
// nothing below main reads the environment itself.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"toptraffic/libs/envconfig"
	"toptraffic/libs/logging"
)

// Names of the environment variables read by Parse. The env tags on Config use the same
// strings; a test checks that they agree.
const (
	KeyPort                  = "PORT"
	KeyKafkaBrokers          = "KAFKA_BROKERS"
	KeyCountersTopic         = "COUNTERS_TOPIC"
	KeyCountersPartitions    = "COUNTERS_PARTITIONS"
	KeyTopicReplication      = "TOPIC_REPLICATION_FACTOR"
	KeyQueryURL              = "QUERY_URL"
	KeyQueryTimeout          = "QUERY_TIMEOUT"
	KeyAllowedLateness       = "ALLOWED_LATENESS"
	KeyMaxFutureSkew         = "MAX_FUTURE_SKEW"
	KeyMaxBodyBytes          = "MAX_BODY_BYTES"
	KeyMaxDomainsPerCounter  = "MAX_DOMAINS_PER_COUNTER"
	KeyMaxCountersPerRequest = "MAX_COUNTERS_PER_REQUEST"
	KeyProduceTimeout        = "PRODUCE_TIMEOUT"
	KeyProduceBatchTimeout   = "PRODUCE_BATCH_TIMEOUT"
	KeyProduceBatchSize      = "PRODUCE_BATCH_SIZE"
	KeyIngestTokens          = "INGEST_TOKENS"
	KeyStatsTokens           = "STATS_TOKENS"
	KeyHTTPReadHeaderTimeout = "HTTP_READ_HEADER_TIMEOUT"
	KeyHTTPReadTimeout       = "HTTP_READ_TIMEOUT"
	KeyHTTPWriteTimeout      = "HTTP_WRITE_TIMEOUT"
	KeyHTTPIdleTimeout       = "HTTP_IDLE_TIMEOUT"
	KeyShutdownTimeout       = "SHUTDOWN_TIMEOUT"
	KeyLogLevel              = "LOG_LEVEL"
	KeyLogFormat             = "LOG_FORMAT"
)

const (
	// maxReplicationFactor and maxPort are the largest values the wire formats carry.
	maxReplicationFactor = 1<<15 - 1
	maxPort              = 1<<16 - 1

	// maxTopicNameLen is the longest topic name Kafka accepts.
	maxTopicNameLen = 249

	// minWriteHeadroom is how much longer than PRODUCE_TIMEOUT the HTTP write timeout must
	// be, so that a produce timeout still leaves time to send the 503.
	minWriteHeadroom = time.Second

	// exampleQueryURL is quoted in the QUERY_URL error.
	exampleQueryURL = "http://127.0.0.1:3001"
)

// Config is everything the ingest gateway can be told. Each field's comment is the meaning
// that the README's settings table repeats.
type Config struct {
	// Port is the TCP port the HTTP API listens on, on every interface.
	Port int `env:"PORT" envDefault:"3000"`

	// KafkaBrokers are the host:port addresses to bootstrap from.
	KafkaBrokers []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`

	// CountersTopic is the topic that gets one record per (counter, domain).
	CountersTopic string `env:"COUNTERS_TOPIC" envDefault:"counters"`

	// CountersPartitions is the partition count used when the gateway creates the topic. An
	// existing topic keeps its count; a different one is logged as a warning, because
	// changing it moves domains to other partitions.
	CountersPartitions int `env:"COUNTERS_PARTITIONS" envDefault:"12"`

	// TopicReplicationFactor is the replication factor used when the gateway creates the topic.
	TopicReplicationFactor int `env:"TOPIC_REPLICATION_FACTOR" envDefault:"1"`

	// QueryURL is the base URL of the query service that the stats routes are forwarded to.
	QueryURL string `env:"QUERY_URL" envDefault:"http://127.0.0.1:3001"`

	// QueryTimeout bounds one forwarded stats request, connection included.
	QueryTimeout time.Duration `env:"QUERY_TIMEOUT" envDefault:"2s"`

	// AllowedLateness is how long after a window ends the aggregators still count events
	// for it; the gateway drops an event whose hour window closed longer ago than this.
	AllowedLateness time.Duration `env:"ALLOWED_LATENESS" envDefault:"1m"`

	// MaxFutureSkew is how far ahead of the gateway's clock a timestamp may be.
	MaxFutureSkew time.Duration `env:"MAX_FUTURE_SKEW" envDefault:"5m"`

	// MaxBodyBytes caps the size of a POST body.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"1048576"`

	// MaxDomainsPerCounter caps the domain keys of one counter object.
	MaxDomainsPerCounter int `env:"MAX_DOMAINS_PER_COUNTER" envDefault:"10000"`

	// MaxCountersPerRequest caps the counter objects of one request.
	MaxCountersPerRequest int `env:"MAX_COUNTERS_PER_REQUEST" envDefault:"10000"`

	// ProduceTimeout bounds how long a request waits for the broker to acknowledge its
	// records; it is also the timeout of one produce attempt.
	ProduceTimeout time.Duration `env:"PRODUCE_TIMEOUT" envDefault:"5s"`

	// ProduceBatchTimeout is how long the producer waits to fill a batch before sending it:
	// the latency every request pays so that concurrent requests share batches.
	ProduceBatchTimeout time.Duration `env:"PRODUCE_BATCH_TIMEOUT" envDefault:"2ms"`

	// ProduceBatchSize is the most records the producer puts in one batch for a partition.
	// kafka-go allocates room for this many records with every new batch, however few it
	// then holds, so a large value makes small requests pay in allocation and GC.
	ProduceBatchSize int `env:"PRODUCE_BATCH_SIZE" envDefault:"100"`

	// IngestTokens, when set, are the bearer tokens POST /api/counters accepts.
	IngestTokens Secrets `env:"INGEST_TOKENS" envSeparator:","`

	// StatsTokens, when set, are the bearer tokens the stats routes accept.
	StatsTokens Secrets `env:"STATS_TOKENS" envSeparator:","`

	// HTTPReadHeaderTimeout bounds how long a client may take to send its request headers.
	HTTPReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"5s"`

	// HTTPReadTimeout bounds reading a whole request, body included.
	HTTPReadTimeout time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"15s"`

	// HTTPWriteTimeout bounds the time from the end of the request headers to the end of the
	// response; it must leave room for PRODUCE_TIMEOUT.
	HTTPWriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"30s"`

	// HTTPIdleTimeout bounds how long a keep-alive connection waits for its next request.
	HTTPIdleTimeout time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"120s"`

	// ShutdownTimeout bounds how long requests in flight may run after a stop signal, and
	// then again how long flushing the producer may take.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`

	// LogLevel is a zap level name: debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// LogFormat is console for people or json for log collectors.
	LogFormat logging.Format `env:"LOG_FORMAT" envDefault:"console"`
}

// Secrets is a list of bearer tokens. It prints as a count, so a config dumped with %v or
// logged by mistake does not leak them.
type Secrets []string

// String reports how many secrets there are, never their values.
func (s Secrets) String() string {
	return strconv.Itoa(len(s)) + " hidden"
}

// GoString hides the values from %#v too.
func (s Secrets) GoString() string { return s.String() }

// Parse fills a Config from environ, given as os.Environ returns it, and validates it.
func Parse(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ, ErrInvalid)
	if err != nil {
		// Token fields are strings and never fail to parse, so no secret is quoted here.
		return Config{}, err
	}

	// Tokens are often pasted with a space after the comma; the space is not part of them.
	cfg.IngestTokens = trimAll(cfg.IngestTokens)
	cfg.StatsTokens = trimAll(cfg.StatsTokens)
	for i, b := range cfg.KafkaBrokers {
		cfg.KafkaBrokers[i] = strings.TrimSpace(b)
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Addr is the listen address of the HTTP API.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }

// ParsedQueryURL returns QueryURL parsed; Validate has checked that it parses.
func (c Config) ParsedQueryURL() *url.URL {
	u, _ := url.Parse(c.QueryURL)
	return u
}

// topicName is what Kafka accepts as a topic name.
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// Validate reports every setting that cannot be used, each error naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(key string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %v: %w: %s", key, value, ErrInvalid,
			fmt.Sprintf(format, args...)))
	}

	if c.Port < 1 || c.Port > maxPort {
		bad(KeyPort, c.Port, "want a port from 1 to %d", maxPort)
	}

	if len(c.KafkaBrokers) == 0 {
		bad(KeyKafkaBrokers, `""`, "want at least one host:port")
	}
	for _, b := range c.KafkaBrokers {
		if err := checkHostPort(b); err != nil {
			bad(KeyKafkaBrokers, strconv.Quote(b), "want host:port: %v", err)
		}
	}

	if len(c.CountersTopic) > maxTopicNameLen || !topicName.MatchString(c.CountersTopic) {
		bad(KeyCountersTopic, strconv.Quote(c.CountersTopic),
			"want 1 to %d of the characters a-z A-Z 0-9 . _ -", maxTopicNameLen)
	}
	if c.CountersPartitions < 1 {
		bad(KeyCountersPartitions, c.CountersPartitions, "want at least 1")
	}
	if c.TopicReplicationFactor < 1 || c.TopicReplicationFactor > maxReplicationFactor {
		bad(KeyTopicReplication, c.TopicReplicationFactor,
			"want 1 to %d", maxReplicationFactor)
	}

	if err := checkBaseURL(c.QueryURL); err != nil {
		bad(KeyQueryURL, strconv.Quote(c.QueryURL), "want an absolute http(s) URL such as %s: %v",
			exampleQueryURL, err)
	}

	positive := []struct {
		key string
		d   time.Duration
	}{
		{KeyQueryTimeout, c.QueryTimeout},
		{KeyProduceTimeout, c.ProduceTimeout},
		{KeyProduceBatchTimeout, c.ProduceBatchTimeout},
		{KeyHTTPReadHeaderTimeout, c.HTTPReadHeaderTimeout},
		{KeyHTTPReadTimeout, c.HTTPReadTimeout},
		{KeyHTTPWriteTimeout, c.HTTPWriteTimeout},
		{KeyHTTPIdleTimeout, c.HTTPIdleTimeout},
		{KeyShutdownTimeout, c.ShutdownTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.key, p.d, "want a positive duration such as 5s")
		}
	}
	// Zero lateness and zero skew are strict but meaningful policies, so only negative ones
	// are refused.
	if c.AllowedLateness < 0 {
		bad(KeyAllowedLateness, c.AllowedLateness, "want zero or a positive duration")
	}
	if c.MaxFutureSkew < 0 {
		bad(KeyMaxFutureSkew, c.MaxFutureSkew, "want zero or a positive duration")
	}
	if c.ProduceBatchTimeout > 0 && c.ProduceBatchTimeout >= c.ProduceTimeout {
		bad(KeyProduceBatchTimeout, c.ProduceBatchTimeout,
			"must be below %s (%s), or no request could ever be acknowledged in time",
			KeyProduceTimeout, c.ProduceTimeout)
	}
	// A response cut off by the server's write timeout reaches the client as a broken
	// connection instead of the 503 the produce timeout is there to give.
	if c.HTTPWriteTimeout > 0 && c.HTTPWriteTimeout < c.ProduceTimeout+minWriteHeadroom {
		bad(KeyHTTPWriteTimeout, c.HTTPWriteTimeout, "must be at least %s (%s) plus %s",
			KeyProduceTimeout, c.ProduceTimeout, minWriteHeadroom)
	}

	if c.MaxBodyBytes < 1 {
		bad(KeyMaxBodyBytes, c.MaxBodyBytes, "want at least 1")
	}
	if c.MaxDomainsPerCounter < 1 {
		bad(KeyMaxDomainsPerCounter, c.MaxDomainsPerCounter, "want at least 1")
	}
	if c.MaxCountersPerRequest < 1 {
		bad(KeyMaxCountersPerRequest, c.MaxCountersPerRequest, "want at least 1")
	}
	if c.ProduceBatchSize < 1 {
		bad(KeyProduceBatchSize, c.ProduceBatchSize, "want at least 1")
	}

	// The token values never go into an error message; the position is enough to find one.
	for key, tokens := range map[string]Secrets{
		KeyIngestTokens: c.IngestTokens,
		KeyStatsTokens:  c.StatsTokens,
	} {
		for i, t := range tokens {
			if t == "" {
				bad(key, tokens, "token %d is empty: separate tokens with single commas", i+1)
			}
		}
	}

	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		bad(KeyLogLevel, strconv.Quote(c.LogLevel), "want debug, info, warn or error")
	}
	switch c.LogFormat {
	case logging.FormatConsole, logging.FormatJSON:
	default:
		bad(KeyLogFormat, strconv.Quote(string(c.LogFormat)), "want %q or %q",
			logging.FormatConsole, logging.FormatJSON)
	}

	return errors.Join(errs...)
}

// MarshalLogObject logs the settings for the start-up line, with tokens as counts only.
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddInt("port", c.Port)
	enc.AddString("kafka_brokers", strings.Join(c.KafkaBrokers, ","))
	enc.AddString("counters_topic", c.CountersTopic)
	enc.AddInt("counters_partitions", c.CountersPartitions)
	enc.AddInt("topic_replication_factor", c.TopicReplicationFactor)
	enc.AddString("query_url", c.QueryURL)
	enc.AddDuration("query_timeout", c.QueryTimeout)
	enc.AddDuration("allowed_lateness", c.AllowedLateness)
	enc.AddDuration("max_future_skew", c.MaxFutureSkew)
	enc.AddInt64("max_body_bytes", c.MaxBodyBytes)
	enc.AddInt("max_domains_per_counter", c.MaxDomainsPerCounter)
	enc.AddInt("max_counters_per_request", c.MaxCountersPerRequest)
	enc.AddDuration("produce_timeout", c.ProduceTimeout)
	enc.AddDuration("produce_batch_timeout", c.ProduceBatchTimeout)
	enc.AddInt("produce_batch_size", c.ProduceBatchSize)
	enc.AddInt("ingest_tokens", len(c.IngestTokens))
	enc.AddInt("stats_tokens", len(c.StatsTokens))
	enc.AddDuration("http_read_header_timeout", c.HTTPReadHeaderTimeout)
	enc.AddDuration("http_read_timeout", c.HTTPReadTimeout)
	enc.AddDuration("http_write_timeout", c.HTTPWriteTimeout)
	enc.AddDuration("http_idle_timeout", c.HTTPIdleTimeout)
	enc.AddDuration("shutdown_timeout", c.ShutdownTimeout)
	enc.AddString("log_level", c.LogLevel)
	enc.AddString("log_format", string(c.LogFormat))
	return nil
}

func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > maxPort {
		return fmt.Errorf("port %q is not a number from 1 to %d", port, maxPort)
	}
	return nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("missing host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("a query or fragment cannot be forwarded to")
	}
	return nil
}

func trimAll(s Secrets) Secrets {
	if len(s) == 0 {
		return nil
	}
	out := make(Secrets, len(s))
	for i, v := range s {
		out[i] = strings.TrimSpace(v)
	}
	return out
}
