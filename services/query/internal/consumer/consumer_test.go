package consumer_test

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"toptraffic/libs/clock"
	"toptraffic/libs/kafkasetup"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/consumer"
	"toptraffic/services/query/internal/store"
)

const topic = "snapshots"

var (
	base   = time.Date(2020, 12, 16, 10, 22, 5, 0, time.UTC)
	minute = window.LastFull(window.Minute, base)
	hour   = window.LastFull(window.Hour, base)
)

// record is one snapshots-topic record and the partition of that topic it goes to.
type record struct {
	partition int32
	key       []byte
	value     []byte
}

// snap encodes a snapshot of w from source partition p; args alternate domain and count.
func snap(
	t *testing.T,
	to int32,
	w window.Window,
	p int,
	offset int64,
	final bool,
	args ...any,
) record {
	t.Helper()
	top := make([]topk.Entry, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		top = append(top, topk.Entry{
			Domain: args[i].(string),
			Count:  topk.CountOf(uint64(args[i+1].(int))),
		})
	}
	topk.Sort(top)
	s := &snapshot.Snapshot{
		Size: w.Size, Start: w.Start, Partition: p, Partitions: 3, Offset: offset,
		Final: final, Domains: len(top), Top: top, PublishedAt: base.UnixMilli(),
	}
	b, err := snapshot.Encode(s)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return record{partition: to, key: s.Key(), value: b}
}

// entries builds an expected ranking; args alternate domain and count.
func entries(args ...any) []topk.Entry {
	out := make([]topk.Entry, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		out = append(out, topk.Entry{
			Domain: args[i].(string),
			Count:  topk.CountOf(uint64(args[i+1].(int))),
		})
	}
	return out
}

// newCluster starts an in-process broker; opts add to a single-broker default.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce writes records synchronously, each to its own partition.
func produce(t *testing.T, addrs []string, recs ...record) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Partition: r.partition, Key: r.key, Value: r.value}
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// running is a consumer started by start, with the store it feeds.
type running struct {
	store    *store.Store
	consumer *consumer.Consumer
	done     chan error
	// logs records every line at debug, so tests can wait for what the consumer saw.
	logs *observer.ObservedLogs
	// outcomes counts what became of every record read.
	outcomes *outcomeCounter
}

// outcomeCounter is a consumer.Observer that counts outcomes.
type outcomeCounter struct {
	mu     sync.Mutex
	counts map[consumer.Outcome]int
}

func (o *outcomeCounter) RecordRead(out consumer.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts[out]++
}

// snapshot returns the counts so far, keyed by outcome name.
func (o *outcomeCounter) snapshot() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.counts))
	for k, v := range o.counts {
		out[k.String()] = v
	}
	return out
}

// start runs a consumer with a fresh store against brokers and stops it when the test ends.
func start(t *testing.T, brokers []string) *running {
	t.Helper()
	clk := clock.NewFake(base)
	st := store.New(clk, 25*time.Hour)
	observed, logs := observer.New(zap.DebugLevel)
	logger := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel), zaptest.WrapOptions(
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, observed) }),
	))
	outcomes := &outcomeCounter{counts: make(map[consumer.Outcome]int)}
	c := consumer.New(consumer.Config{
		Brokers: brokers,
		Topic: kafkasetup.Topic{
			Name:              topic,
			Partitions:        1,
			ReplicationFactor: 1,
			Configs:           map[string]string{"cleanup.policy": "compact"},
		},
		MaxBackoff:         200 * time.Millisecond,
		TopicCheckInterval: 100 * time.Millisecond,
		Observer:           outcomes,
	}, st, clk, logger)

	r := &running{
		store:    st,
		consumer: c,
		done:     make(chan error, 1),
		logs:     logs,
		outcomes: outcomes,
	}
	go func() { r.done <- c.Run(context.Background()) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop closes the consumer, checks that Run ended cleanly and quickly, and may run twice.
func (r *running) stop(t *testing.T) {
	t.Helper()
	begin := time.Now()
	if err := r.consumer.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.consumer.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Close took %s, want well under 3s", d)
	}
	if r.done == nil {
		return // collected by an earlier stop
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Run did not return after Close")
	}
	r.done = nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// view is what the API would see of the windows the tests use.
type view struct {
	minute, hour         []topk.Entry
	minuteInfo, hourInfo store.Info
}

func viewOf(st *store.Store) view {
	mi, _ := st.Info(minute)
	hi, _ := st.Info(hour)
	return view{
		minute: st.Top(minute, 10), hour: st.Top(hour, 10),
		minuteInfo: mi, hourInfo: hi,
	}
}

func TestConsumerBuildsAndRebuildsTheView(t *testing.T) {
	t.Parallel()
	// Four snapshots-topic partitions; the last one stays empty.
	cluster := newCluster(t, kfake.SeedTopics(4, topic))
	addrs := cluster.ListenAddrs()

	tombstoned := snap(t, 2, minute, 2, 5, false, "gone.com", 99)
	produce(t, addrs,
		// Source partition 0: a newer snapshot, then a replayed older one that must lose.
		snap(t, 0, minute, 0, 20, true, "a.com", 5, "c.com", 2),
		snap(t, 0, minute, 0, 10, false, "a.com", 1),
		// Records that are not snapshots are skipped, not fatal.
		record{partition: 0, key: []byte("minute/60/9"), value: []byte("not json")},
		record{partition: 1, key: []byte("minute/60/9"), value: []byte(`{"start":60}`)},
		record{partition: 1, key: []byte("minute/0/0"), value: snap(t, 1, hour, 0, 1, true).value},
		// Source partition 1, in another snapshots partition.
		snap(t, 1, minute, 1, 7, true, "b.com", 7, "d.com", 2),
		snap(t, 1, hour, 1, 30, false, "b.com", 70),
		snap(t, 0, hour, 0, 40, true, "a.com", 50),
		// Source partition 2's snapshot is deleted again by a tombstone.
		tombstoned,
		record{partition: 2, key: tombstoned.key, value: nil},
	)

	want := view{
		minute: entries("b.com", 7, "a.com", 5, "c.com", 2, "d.com", 2),
		hour:   entries("b.com", 70, "a.com", 50),
		minuteInfo: store.Info{
			Window: minute, Partitions: 2, Expected: 3, Final: true,
			PublishedAt: base.Truncate(time.Millisecond),
		},
		hourInfo: store.Info{
			Window: hour, Partitions: 2, Expected: 3, Final: false,
			PublishedAt: base.Truncate(time.Millisecond),
		},
	}

	first := start(t, addrs)
	waitFor(t, "first consumer to catch up", first.store.CaughtUp)
	if got := viewOf(first.store); !equalViews(got, want) {
		t.Fatalf("view after catch-up =\n%+v\nwant\n%+v", got, want)
	}
	// Every record of the load is accounted for: the replayed older snapshot is stale, the
	// three bad records are malformed.
	wantOutcomes := map[string]int{"applied": 5, "stale": 1, "malformed": 3, "tombstone": 1}
	if got := first.outcomes.snapshot(); !maps.Equal(got, wantOutcomes) {
		t.Errorf("outcomes after catch-up = %v, want %v", got, wantOutcomes)
	}

	// Records published after the catch-up are applied as they arrive.
	// Same key as the tombstoned one, so the same snapshots partition, as a keyed producer
	// would choose.
	produce(t, addrs, snap(t, 2, minute, 2, 9, true, "new.com", 6))
	want.minute = entries("b.com", 7, "new.com", 6, "a.com", 5, "c.com", 2, "d.com", 2)
	want.minuteInfo.Partitions = 3
	waitFor(t, "live record", func() bool {
		return slices.Equal(first.store.Top(minute, 10), want.minute)
	})
	first.stop(t)

	// A replica started from scratch rebuilds the same view from the topic alone.
	second := start(t, addrs)
	waitFor(t, "second consumer to catch up", second.store.CaughtUp)
	if got := viewOf(second.store); !equalViews(got, want) {
		t.Fatalf("rebuilt view =\n%+v\nwant\n%+v", got, want)
	}
}

func TestConsumerCreatesTheTopicAndCatchesUpAtOnce(t *testing.T) {
	t.Parallel()
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()

	r := start(t, addrs)
	waitFor(t, "catch-up on an empty topic", r.store.CaughtUp)

	produce(t, addrs, snap(t, 0, hour, 0, 1, true, "first.com", 1))
	waitFor(t, "first record", func() bool {
		return slices.Equal(r.store.Top(hour, 10), entries("first.com", 1))
	})
}

func TestConsumerWaitsForTheBroker(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	// Nothing listens yet: the consumer keeps retrying and the store stays not ready.
	r := start(t, []string{addr})
	waitFor(t, "a failed attempt", func() bool {
		return r.logs.FilterMessage("create topics failed, retrying").Len() > 0
	})
	if r.store.CaughtUp() {
		t.Fatal("caught up without a broker")
	}

	newCluster(t, kfake.Ports(port))
	waitFor(t, "catch-up once the broker is up", r.store.CaughtUp)
	produce(t, []string{addr}, snap(t, 0, minute, 0, 1, true, "late.com", 3))
	waitFor(t, "record from the late broker", func() bool {
		return slices.Equal(r.store.Top(minute, 10), entries("late.com", 3))
	})
}

func TestConsumerRecoversFromAnOutage(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := t.TempDir()

	cluster := newCluster(t, kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(2, topic))
	produce(t, []string{addr}, snap(t, 0, minute, 0, 1, false, "before.com", 1))
	r := start(t, []string{addr})
	waitFor(t, "catch-up", r.store.CaughtUp)

	// The broker goes away and comes back with its data; the reader resumes by itself.
	cluster.Close()
	waitFor(t, "the reader to notice", func() bool {
		return r.logs.FilterMessage("kafka reader error").Len() > 0
	})
	newCluster(t, kfake.Ports(port), kfake.DataDir(dir))
	produce(t, []string{addr}, snap(t, 1, minute, 1, 1, false, "after.com", 2))
	waitFor(t, "record after the outage", func() bool {
		return slices.Equal(r.store.Top(minute, 10), entries("after.com", 2, "before.com", 1))
	})
}

func TestConsumerRebuildsWhenTheBrokerForgetsTheTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// restart is how the broker comes back, without the old data.
		restart []kfake.Opt
	}{
		{name: "topic gone", restart: nil},
		{name: "topic recreated empty", restart: []kfake.Opt{kfake.SeedTopics(2, topic)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

			cluster := newCluster(t, kfake.Ports(port), kfake.SeedTopics(2, topic))
			// A high source offset, which a snapshot of the new log must not lose to.
			produce(t, []string{addr}, snap(t, 0, minute, 0, 1000, true, "old.com", 9))
			r := start(t, []string{addr})
			waitFor(t, "catch-up", r.store.CaughtUp)

			cluster.Close()
			newCluster(t, append([]kfake.Opt{kfake.Ports(port)}, tt.restart...)...)
			waitFor(t, "the reset to be noticed", func() bool {
				const msg = "snapshots log was reset, rebuilding the view"
				return r.logs.FilterMessage(msg).Len() > 0
			})
			waitFor(t, "catch-up on the new log", r.store.CaughtUp)

			produce(t, []string{addr}, snap(t, 0, minute, 0, 3, false, "new.com", 1))
			waitFor(t, "the new log's snapshot", func() bool {
				return slices.Equal(r.store.Top(minute, 10), entries("new.com", 1))
			})
		})
	}
}

func TestConsumerReadsPartitionsAddedLater(t *testing.T) {
	t.Parallel()
	cluster := newCluster(t, kfake.SeedTopics(1, topic))
	addrs := cluster.ListenAddrs()
	produce(t, addrs, snap(t, 0, hour, 0, 1, true, "first.com", 2))
	r := start(t, addrs)
	waitFor(t, "catch-up", r.store.CaughtUp)

	// Grow the topic to three partitions and publish to the newest one.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatalf("new admin client: %v", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, 3
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create partitions: error code %d", code)
	}
	produce(t, addrs, snap(t, 2, hour, 1, 1, true, "second.com", 1))

	waitFor(t, "the new partition's record", func() bool {
		return slices.Equal(r.store.Top(hour, 10), entries("first.com", 2, "second.com", 1))
	})
	if !r.store.CaughtUp() {
		t.Error("store left ready state while re-reading")
	}
}

func TestCloseBeforeRun(t *testing.T) {
	t.Parallel()
	st := store.New(clock.NewFake(base), time.Hour)
	c := consumer.New(consumer.Config{
		Brokers: []string{"127.0.0.1:1"},
		Topic:   kafkasetup.Topic{Name: topic, Partitions: 1, ReplicationFactor: 1},
	}, st, clock.NewFake(base), zap.NewNop())
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Run after Close returns at once.
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := c.Run(context.Background()); err != consumer.ErrRunTwice {
		t.Fatalf("second Run = %v, want ErrRunTwice", err)
	}
}

func equalViews(a, b view) bool {
	return slices.Equal(a.minute, b.minute) && slices.Equal(a.hour, b.hour) &&
		a.minuteInfo == b.minuteInfo && a.hourInfo == b.hourInfo
}

// freePort asks the kernel for a port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
