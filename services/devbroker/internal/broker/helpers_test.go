package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const (
	// waitFor bounds every poll: long enough for a slow CI machine, short enough to fail fast.
	waitFor = 15 * time.Second
	// attemptTimeout bounds one client call inside a poll.
	attemptTimeout = 3 * time.Second
	// pollEvery is the pause between attempts of a poll, not a wait for anything to happen.
	pollEvery = 50 * time.Millisecond
)

// testConfig is a loopback broker on a free port with short group sessions.
func testConfig(dataDir string) Config {
	return Config{
		Addr:                   "127.0.0.1:0",
		DataDir:                dataDir,
		GroupMinSessionTimeout: time.Second,
		GroupMaxSessionTimeout: 5 * time.Minute,
	}
}

// observedLogger records log entries in memory. It is used instead of zaptest because kfake's
// connection goroutines may still log a line after the test has returned, which zaptest
// turns into a panic. The entries are printed if the test fails.
func observedLogger(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, e := range logs.All() {
			t.Logf("log: %s %s %v", e.Level, e.Message, e.ContextMap())
		}
	})
	return zap.New(core), logs
}

// startBroker starts a broker and closes it when the test ends.
func startBroker(t *testing.T, cfg Config, logger *zap.Logger) *Broker {
	t.Helper()
	b, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// eventually calls try until it succeeds or waitFor has passed, giving each attempt its own
// deadline, and fails the test with the last error.
func eventually(t *testing.T, what string, try func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), attemptTimeout)
		err := try(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, waitFor, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(pollEvery):
		}
	}
}

// newClient returns a kafka-go client on its own transport. A fresh transport has no cached
// metadata, which matters right after CreateTopics: a reused one can keep answering "unknown
// topic" for its whole metadata TTL (6 s by default).
func newClient(t *testing.T, addr string) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addr), Transport: tr, Timeout: attemptTimeout}
}

// createTopic creates a one-partition topic with the given configs.
func createTopic(t *testing.T, addr, topic string, configs ...kafka.ConfigEntry) {
	t.Helper()
	eventually(t, "create topic "+topic, func(ctx context.Context) error {
		resp, err := newClient(t, addr).CreateTopics(ctx, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{
				Topic:             topic,
				NumPartitions:     1,
				ReplicationFactor: 1,
				ConfigEntries:     configs,
			}},
		})
		if err != nil {
			return err
		}
		if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return err
		}
		return nil
	})
}

// produce writes msg with acks from all in-sync replicas, retrying on a fresh transport until
// the broker has acknowledged it.
func produce(t *testing.T, addr, topic string, msg kafka.Message) {
	t.Helper()
	eventually(t, "produce to "+topic, func(ctx context.Context) error {
		tr := &kafka.Transport{}
		defer tr.CloseIdleConnections()
		w := &kafka.Writer{
			Addr:         kafka.TCP(addr),
			Topic:        topic,
			RequiredAcks: kafka.RequireAll,
			Transport:    tr,
			// One message makes a full batch, so it goes out without waiting for the 1 s
			// batch timeout.
			BatchSize: 1,
			// Retries belong to eventually, which brings a fresh transport each time.
			MaxAttempts: 1,
		}
		err := w.WriteMessages(ctx, msg)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// record is a fetched record with its bytes read out.
type record struct {
	offset     int64
	key, value string
	time       time.Time
}

// fetchAll polls partition 0 of topic until it holds want records and returns them.
func fetchAll(t *testing.T, addr, topic string, want int) []record {
	t.Helper()
	var got []record
	what := fmt.Sprintf("fetch %d records from %s", want, topic)
	eventually(t, what, func(ctx context.Context) error {
		resp, err := newClient(t, addr).Fetch(ctx, &kafka.FetchRequest{
			Topic:    topic,
			Offset:   0,
			MinBytes: 1,
			MaxBytes: 1 << 20,
			MaxWait:  100 * time.Millisecond,
		})
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error
		}
		got, err = readRecords(resp.Records)
		if err != nil {
			return err
		}
		if len(got) != want {
			return fmt.Errorf("got %d records, high watermark %d", len(got), resp.HighWatermark)
		}
		return nil
	})
	return got
}

func readRecords(rr kafka.RecordReader) ([]record, error) {
	var out []record
	if rr == nil {
		return out, nil
	}
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read record: %w", err)
		}
		key, err := readBytes(r.Key)
		if err != nil {
			return nil, fmt.Errorf("read key at offset %d: %w", r.Offset, err)
		}
		value, err := readBytes(r.Value)
		if err != nil {
			return nil, fmt.Errorf("read value at offset %d: %w", r.Offset, err)
		}
		out = append(out, record{offset: r.Offset, key: key, value: value, time: r.Time})
	}
}

func readBytes(b kafka.Bytes) (string, error) {
	if b == nil {
		return "", nil
	}
	data, err := io.ReadAll(b)
	return string(data), err
}
