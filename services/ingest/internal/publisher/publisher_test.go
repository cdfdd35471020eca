package publisher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/counter"
	"toptraffic/libs/kafkasetup"
)

const testTopic = "counters"

// recordTime is the receipt time the tests stamp on records, in whole milliseconds as Kafka
// keeps them.
var recordTime = time.UnixMilli(1608102640123)

func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func testConfig(brokers []string) Config {
	return Config{
		Brokers:             brokers,
		ClientID:            "ingest-test",
		Topic:               testTopic,
		Partitions:          4,
		ReplicationFactor:   1,
		ProduceTimeout:      3 * time.Second,
		BatchTimeout:        5 * time.Millisecond,
		BatchSize:           1000,
		CloseTimeout:        5 * time.Second,
		SetupAttemptTimeout: time.Second,
		SetupBackoff:        50 * time.Millisecond,
	}
}

// start runs p until the test ends. Run's result is checked at cleanup, on the test's
// goroutine.
func start(t testing.TB, p *Publisher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	g.Go(func() error { return p.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startReady(t testing.TB, cfg Config, logger *zap.Logger) *Publisher {
	t.Helper()
	p := New(cfg, logger)
	start(t, p)
	waitFor(t, 10*time.Second, "publisher ready", p.Ready)
	return p
}

// message builds the record the API would build for one domain count.
func message(domain string, ts int64, count uint64) kafka.Message {
	return kafka.Message{
		Key:   []byte(domain),
		Value: counter.AppendRecord(nil, ts, count),
		Time:  recordTime,
	}
}

// readAll consumes the topic from the start until it has n records or the deadline passes.
func readAll(t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records before the deadline", len(recs), n)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Errorf("fetch %s/%d: %v", topic, p, err)
		})
		recs = append(recs, fetches.Records()...)
	}
	return recs
}

func TestPublishConcurrentRequests(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	// A long batch timeout makes sharing certain: every request lands within one window.
	cfg.BatchTimeout = 50 * time.Millisecond
	p := startReady(t, cfg, zap.NewNop())

	const requests, domains = 16, 25
	type rec struct {
		key   string
		ts    int64
		count uint64
	}
	want := map[rec]bool{}
	batches := make([][]kafka.Message, requests)
	for i := range requests {
		for j := range domains {
			r := rec{
				key:   fmt.Sprintf("site%d.com", j),
				ts:    1608102631 + int64(i),
				count: uint64(i*100 + j + 1),
			}
			want[r] = true
			batches[i] = append(batches[i], message(r.key, r.ts, r.count))
		}
	}

	// Release every request at once so their records meet in the producer's batches.
	gate := make(chan struct{})
	var g errgroup.Group
	for i := range requests {
		g.Go(func() error {
			<-gate
			if err := p.Publish(context.Background(), batches[i]); err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			return nil
		})
	}
	close(gate)
	if err := g.Wait(); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// Each request spans every partition; unshared, that is one produce request per
	// request and partition.
	stats := p.writer.Load().Stats()
	if unshared := int64(requests * cfg.Partitions); stats.Writes >= unshared/2 {
		t.Errorf("%d produce requests for %d requests on %d partitions: batches not shared",
			stats.Writes, requests, cfg.Partitions)
	}

	// Publish returned, so every record must be readable now.
	got := readAll(t, brokers, requests*domains)
	partitioner := kgo.StickyKeyPartitioner(nil).ForTopic(testTopic)
	for _, r := range got {
		ts, count, err := counter.DecodeRecord(r.Value)
		if err != nil {
			t.Errorf("offset %d: %v", r.Offset, err)
			continue
		}
		k := rec{key: string(r.Key), ts: ts, count: count}
		if !want[k] {
			t.Errorf("unexpected or duplicate record %+v", k)
		}
		delete(want, k)

		// The same partition Kafka's Java client would pick for the key.
		wantP := partitioner.Partition(&kgo.Record{Key: r.Key}, cfg.Partitions)
		if int(r.Partition) != wantP {
			t.Errorf("key %s on partition %d, murmur2 says %d", r.Key, r.Partition, wantP)
		}
		if !r.Timestamp.Equal(recordTime) {
			t.Errorf("key %s timestamp %s, want %s", r.Key, r.Timestamp, recordTime)
		}
	}
	if len(want) > 0 {
		t.Errorf("%d records missing", len(want))
	}
}

func TestPartitionCountMismatchWarns(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(3, testTopic))
	core, logs := observer.New(zapcore.InfoLevel)
	p := startReady(t, testConfig(cluster.ListenAddrs()), zap.New(core))

	warn := logs.FilterMessage("counters topic partition count differs from the configured one")
	if warn.Len() != 1 {
		t.Fatalf("got %d partition warnings, want 1", warn.Len())
	}
	fields := warn.All()[0].ContextMap()
	if fields["partitions"] != int64(3) || fields["configured_partitions"] != int64(4) {
		t.Errorf("warning fields = %v", fields)
	}

	// The topic is used as it is.
	if err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}); err != nil {
		t.Fatalf("Publish = %v", err)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return addr, n
}

func TestNotReadyUntilBrokerAppears(t *testing.T) {
	addr, port := freeAddr(t)
	core, logs := observer.New(zapcore.InfoLevel)
	p := New(testConfig([]string{addr}), zap.New(core))
	start(t, p)

	// No broker: requests are refused at once, not queued.
	waitFor(t, 5*time.Second, "a failed set-up attempt", func() bool {
		return logs.FilterMessage("counters topic not ready, retrying").Len() > 0
	})
	err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)})
	if !errors.Is(err, ErrNotReady) || p.Ready() {
		t.Fatalf("Publish = %v, Ready = %v; want ErrNotReady and false", err, p.Ready())
	}

	// The broker comes up: the publisher finds it without a restart.
	newCluster(t, kfake.Ports(port))
	waitFor(t, 10*time.Second, "publisher ready", p.Ready)
	if err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}); err != nil {
		t.Fatalf("Publish after the broker came up = %v", err)
	}
}

func TestBrokerGone(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(cluster.ListenAddrs())
	cfg.ProduceTimeout = time.Second
	cfg.CloseTimeout = 3 * time.Second
	p := startReady(t, cfg, zap.NewNop())
	if err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}); err != nil {
		t.Fatalf("Publish before the broker stopped = %v", err)
	}

	cluster.Close()

	begin := time.Now()
	err = p.Publish(context.Background(), []kafka.Message{
		message("a.com", 1, 1),
		message("b.com", 1, 1),
	})
	took := time.Since(begin)
	if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrAckTimeout) {
		t.Errorf("Publish = %v, want ErrUnavailable or ErrAckTimeout", err)
	}
	if took > cfg.ProduceTimeout+500*time.Millisecond {
		t.Errorf("Publish took %s with a %s produce timeout", took, cfg.ProduceTimeout)
	}
}

func TestSilentBrokerTimesOut(t *testing.T) {
	cluster := newCluster(t)
	cfg := testConfig(cluster.ListenAddrs())
	cfg.ProduceTimeout = 500 * time.Millisecond
	p := startReady(t, cfg, zap.NewNop())

	// From now on the broker reads produce requests and never answers them.
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, nil, true
	})

	begin := time.Now()
	err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)})
	took := time.Since(begin)
	if !errors.Is(err, ErrAckTimeout) {
		t.Errorf("Publish = %v, want ErrAckTimeout", err)
	}
	if took < cfg.ProduceTimeout || took > cfg.ProduceTimeout+500*time.Millisecond {
		t.Errorf("Publish took %s, want about the %s produce timeout", took, cfg.ProduceTimeout)
	}
}

func TestClose(t *testing.T) {
	cluster := newCluster(t)
	p := startReady(t, testConfig(cluster.ListenAddrs()), zap.NewNop())

	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if p.Ready() {
		t.Error("Ready after Close")
	}
	err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestCloseBeforeReady(t *testing.T) {
	addr, _ := freeAddr(t)
	p := New(testConfig([]string{addr}), zap.NewNop())
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run after Close = %v", err)
	}
	err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Publish = %v, want ErrClosed", err)
	}
}

func TestComplete(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		// records per waiter, and the batches as runs of waiter indexes with an outcome
		records []int
		batches []struct {
			waiters []int
			err     error
		}
		wantDone []bool
		wantErr  []error
	}{
		{
			name:    "one request in one batch",
			records: []int{2},
			batches: []struct {
				waiters []int
				err     error
			}{{waiters: []int{0, 0}}},
			wantDone: []bool{true},
			wantErr:  []error{nil},
		},
		{
			name:    "two requests share two batches",
			records: []int{3, 2},
			batches: []struct {
				waiters []int
				err     error
			}{{waiters: []int{0, 1, 0}}, {waiters: []int{1, 0}}},
			wantDone: []bool{true, true},
			wantErr:  []error{nil, nil},
		},
		{
			name:    "a request waits for its last batch",
			records: []int{3, 1},
			batches: []struct {
				waiters []int
				err     error
			}{{waiters: []int{0, 1, 0}}},
			wantDone: []bool{false, true},
			wantErr:  []error{nil, nil},
		},
		{
			name:    "one failed batch fails only the requests in it",
			records: []int{2, 1, 1},
			batches: []struct {
				waiters []int
				err     error
			}{{waiters: []int{0, 1}, err: boom}, {waiters: []int{2}}},
			wantDone: []bool{true, true, true},
			wantErr:  []error{boom, boom, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := make([]*waiter, len(tt.records))
			for i, n := range tt.records {
				ws[i] = newWaiter(n)
			}
			for _, b := range tt.batches {
				msgs := make([]kafka.Message, len(b.waiters))
				for i, w := range b.waiters {
					msgs[i].WriterData = ws[w]
				}
				complete(msgs, b.err)
			}
			for i, w := range ws {
				var done bool
				select {
				case <-w.done:
					done = true
				default:
				}
				if done != tt.wantDone[i] {
					t.Errorf("waiter %d done = %v, want %v", i, done, tt.wantDone[i])
				}
				if done && !errors.Is(w.err, tt.wantErr[i]) {
					t.Errorf("waiter %d err = %v, want %v", i, w.err, tt.wantErr[i])
				}
			}
		})
	}
}

func TestRecoversWhenBrokerReturns(t *testing.T) {
	// The broker keeps its topics in a directory, so a restart on the same port finds the
	// counters topic again, as a real cluster would.
	dir := t.TempDir()
	_, port := freeAddr(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(cluster.ListenAddrs())
	cfg.ProduceTimeout = time.Second
	p := startReady(t, cfg, zap.NewNop())
	if err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}); err != nil {
		t.Fatalf("Publish before the restart = %v", err)
	}

	cluster.Close()
	if err := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}); err == nil {
		t.Fatal("Publish with the broker down = nil, want an error")
	}

	newCluster(t, kfake.Ports(port), kfake.DataDir(dir))
	waitFor(t, 15*time.Second, "publish after the broker returned", func() bool {
		return p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}) == nil
	})
}

func TestSetsUpLostTopicAgain(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	core, logs := observer.New(zapcore.InfoLevel)
	p := startReady(t, testConfig(brokers), zap.New(core))

	// The topic disappears, as it does when a development broker restarts without its data.
	admin := kafkasetup.NewClient(brokers, "ingest-test-admin")
	resp, err := admin.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{
		Topics: []string{testTopic},
	})
	if err != nil || resp.Errors[testTopic] != nil {
		t.Fatalf("delete topic: %v %v", err, resp)
	}

	// The first request after that fails; the publisher then sets the topic up again and
	// later requests succeed, without a restart.
	waitFor(t, 15*time.Second, "publish after the topic was lost", func() bool {
		return p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}) == nil
	})
	if n := logs.FilterMessage("counters topic unknown to the broker, setting it up again").
		Len(); n != 1 {
		t.Errorf("got %d set-up-again log lines, want 1", n)
	}
	if got := readAll(t, brokers, 1); string(got[0].Key) != "a.com" {
		t.Errorf("read back key %q, want a.com", got[0].Key)
	}
}

func TestCheckFollowsTheBroker(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(cluster.ListenAddrs())
	cfg.ProbeTTL = 50 * time.Millisecond
	cfg.ProbeTimeout = 500 * time.Millisecond
	cfg.CloseTimeout = 3 * time.Second
	p := New(cfg, zap.NewNop())
	if err := p.Check(context.Background()); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Check before Run = %v, want ErrNotReady", err)
	}

	start(t, p)
	waitFor(t, 10*time.Second, "Check passes", func() bool {
		return p.Check(context.Background()) == nil
	})

	// The topic stays confirmed, but with the broker gone Check fails within a ttl and a
	// probe timeout.
	cluster.Close()
	waitFor(t, 5*time.Second, "Check reports the broker unavailable", func() bool {
		return errors.Is(p.Check(context.Background()), ErrUnavailable)
	})
}

func TestHooks(t *testing.T) {
	var (
		mu     sync.Mutex
		acked  []int
		failed []error
	)
	cluster := newCluster(t)
	cfg := testConfig(cluster.ListenAddrs())
	cfg.Hooks = Hooks{
		Acked: func(records int, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if took <= 0 {
				t.Errorf("Acked took %s, want a positive duration", took)
			}
			acked = append(acked, records)
		},
		Failed: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, err)
		},
	}
	p := New(cfg, zap.NewNop())

	notReady := p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)})
	start(t, p)
	waitFor(t, 10*time.Second, "publisher ready", p.Ready)
	ok := p.Publish(context.Background(), []kafka.Message{
		message("a.com", 1, 1),
		message("b.com", 1, 2),
	})

	if !errors.Is(notReady, ErrNotReady) || ok != nil {
		t.Fatalf("Publish = %v then %v, want ErrNotReady then nil", notReady, ok)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != 1 || acked[0] != 2 {
		t.Errorf("Acked with %v, want [2]", acked)
	}
	if len(failed) != 1 || !errors.Is(failed[0], ErrNotReady) {
		t.Errorf("Failed with %v, want [ErrNotReady]", failed)
	}
}

// kafkaRefreshers counts the goroutines kafka-go Transports run to refresh their metadata;
// each one holds connections to the brokers.
func kafkaRefreshers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "kafka-go.(*connPool).discover")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestCloseReleasesTheTransports(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	before := kafkaRefreshers()
	core, logs := observer.New(zapcore.InfoLevel)
	p := startReady(t, testConfig(brokers), zap.New(core))

	// Losing the topic replaces the writer, and with it the writer's Transport.
	admin := kafkasetup.NewClient(brokers, "ingest-test-admin")
	defer admin.Transport.(*kafka.Transport).CloseIdleConnections()
	if _, err := admin.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{
		Topics: []string{testTopic},
	}); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	waitFor(t, 15*time.Second, "publish after the topic was lost", func() bool {
		return p.Publish(context.Background(), []kafka.Message{message("a.com", 1, 1)}) == nil
	})
	if n := logs.FilterMessage("counters topic unknown to the broker, setting it up again").
		Len(); n != 1 {
		t.Fatalf("got %d set-up-again log lines, want 1", n)
	}
	admin.Transport.(*kafka.Transport).CloseIdleConnections()

	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	waitFor(t, 5*time.Second, "every Transport closed", func() bool {
		return kafkaRefreshers() <= before
	})
}
