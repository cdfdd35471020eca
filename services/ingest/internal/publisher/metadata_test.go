package publisher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
	"github.com/twmb/franz-go/pkg/kfake"

	"toptraffic/libs/kafkasetup"
)

// fakeTransport answers every request with the answer it was last given, and counts requests.
type fakeTransport struct {
	mu     sync.Mutex
	resp   kafka.Response
	err    error
	calls  int
	closed int
}

func (f *fakeTransport) RoundTrip(
	context.Context,
	net.Addr,
	kafka.Request,
) (kafka.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.resp, f.err
}

func (f *fakeTransport) CloseIdleConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
}

func (f *fakeTransport) answer(resp kafka.Response, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp, f.err = resp, err
}

func (f *fakeTransport) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// topicMetadata is what the Transport answers about one topic.
func topicMetadata(name string, partitions int, code kafka.Error) *metadata.Response {
	t := metadata.ResponseTopic{Name: name, ErrorCode: int16(code)}
	for i := range partitions {
		t.Partitions = append(t.Partitions, metadata.ResponsePartition{PartitionIndex: int32(i)})
	}
	return &metadata.Response{Topics: []metadata.ResponseTopic{t}}
}

// writerLookup is the request kafka-go's Writer sends for every message.
func writerLookup(topic string) *metadata.Request {
	return &metadata.Request{TopicNames: []string{topic}}
}

// fakeTimers holds the functions the cache asks to run later, until the test fires them.
type fakeTimers struct {
	mu      sync.Mutex
	pending []func()
	delays  []time.Duration
}

func (f *fakeTimers) afterFunc(d time.Duration, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, fn)
	f.delays = append(f.delays, d)
}

// fire runs every pending function, as if their time had come.
func (f *fakeTimers) fire() {
	f.mu.Lock()
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, fn := range pending {
		fn()
	}
}

func TestMetadataCache(t *testing.T) {
	const ttl = time.Second
	refused := errors.New("connection refused")
	fresh := topicMetadata(testTopic, 4, 0)
	grown := topicMetadata(testTopic, 8, 0)
	unknown := topicMetadata(testTopic, 0, kafka.UnknownTopicOrPartition)

	// Each step fires the pending timers when expire is set, sets the Transport's answer,
	// then sends req.
	type step struct {
		expire bool
		resp   kafka.Response
		err    error
		req    kafka.Request
		// want is the answer the caller must get, wantErr its error; wantCalls counts the
		// requests that reached the Transport so far.
		want      kafka.Response
		wantErr   error
		wantCalls int
	}
	tests := []struct {
		name  string
		steps []step
		// wantTimers is how many times the cache set a timer.
		wantTimers int
	}{
		{
			name: "an answer is reused until the ttl passes",
			steps: []step{
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{resp: grown, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{resp: grown, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
			},
			wantTimers: 1,
		},
		{
			name: "the Transport is asked again after the ttl",
			steps: []step{
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{expire: true, resp: grown, req: writerLookup(testTopic),
					want: grown, wantCalls: 2},
				{resp: fresh, req: writerLookup(testTopic), want: grown, wantCalls: 2},
			},
			wantTimers: 2,
		},
		{
			name: "errors pass through and are not remembered",
			steps: []step{
				{err: refused, req: writerLookup(testTopic), wantErr: refused, wantCalls: 1},
				{err: refused, req: writerLookup(testTopic), wantErr: refused, wantCalls: 2},
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 3},
			},
			wantTimers: 1,
		},
		{
			name: "an error after the ttl is passed on, not hidden by the old answer",
			steps: []step{
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{expire: true, err: refused, req: writerLookup(testTopic),
					wantErr: refused, wantCalls: 2},
			},
			wantTimers: 1,
		},
		{
			name: "an unknown topic passes through and is not remembered",
			steps: []step{
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{expire: true, resp: unknown, req: writerLookup(testTopic),
					want: unknown, wantCalls: 2},
				{resp: unknown, req: writerLookup(testTopic), want: unknown, wantCalls: 3},
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 4},
			},
			wantTimers: 2,
		},
		{
			name: "a topic without partitions is not remembered",
			steps: []step{
				{resp: topicMetadata(testTopic, 0, 0), req: writerLookup(testTopic),
					want: topicMetadata(testTopic, 0, 0), wantCalls: 1},
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 2},
			},
			wantTimers: 1,
		},
		{
			name: "an answer about another topic is not remembered",
			steps: []step{
				{resp: topicMetadata("other", 4, 0), req: writerLookup(testTopic),
					want: topicMetadata("other", 4, 0), wantCalls: 1},
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 2},
			},
			wantTimers: 1,
		},
		{
			name: "other requests always pass through",
			steps: []step{
				{resp: fresh, req: writerLookup(testTopic), want: fresh, wantCalls: 1},
				{resp: grown, req: writerLookup("other"), want: grown, wantCalls: 2},
				{resp: grown, req: &metadata.Request{}, want: grown, wantCalls: 3},
				{resp: grown, req: &metadata.Request{
					TopicNames:             []string{testTopic},
					AllowAutoTopicCreation: true,
				}, want: grown, wantCalls: 4},
				{resp: grown, req: &metadata.Request{
					TopicNames: []string{testTopic, "other"},
				}, want: grown, wantCalls: 5},
				{resp: &produce.Response{}, req: &produce.Request{},
					want: &produce.Response{}, wantCalls: 6},
				{resp: grown, req: writerLookup(testTopic), want: fresh, wantCalls: 6},
			},
			wantTimers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &fakeTransport{}
			timers := &fakeTimers{}
			c := newMetadataCache(next, testTopic, ttl, timers.afterFunc)
			addr := kafka.TCP("127.0.0.1:9092")
			for i, s := range tt.steps {
				if s.expire {
					timers.fire()
				}
				next.answer(s.resp, s.err)
				got, err := c.RoundTrip(context.Background(), addr, s.req)
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
				}
				if !sameResponse(got, s.want) {
					t.Errorf("step %d: answer = %+v, want %+v", i, got, s.want)
				}
				if n := next.count(); n != s.wantCalls {
					t.Errorf("step %d: %d requests reached the Transport, want %d",
						i, n, s.wantCalls)
				}
			}
			if len(timers.delays) != tt.wantTimers {
				t.Errorf("%d timers set, want %d", len(timers.delays), tt.wantTimers)
			}
			for _, d := range timers.delays {
				if d != ttl {
					t.Errorf("timer set for %s, want the ttl %s", d, ttl)
				}
			}
		})
	}
}

// sameResponse compares answers by what the Writer reads from them: the topics and their
// partition counts, or the type of any other answer.
func sameResponse(a, b kafka.Response) bool {
	ma, aok := a.(*metadata.Response)
	mb, bok := b.(*metadata.Response)
	if aok != bok {
		return false
	}
	if !aok {
		return (a == nil) == (b == nil)
	}
	if len(ma.Topics) != len(mb.Topics) {
		return false
	}
	for i := range ma.Topics {
		ta, tb := ma.Topics[i], mb.Topics[i]
		if ta.Name != tb.Name || ta.ErrorCode != tb.ErrorCode ||
			len(ta.Partitions) != len(tb.Partitions) {
			return false
		}
	}
	return true
}

func TestMetadataCacheClosesTheTransport(t *testing.T) {
	next := &fakeTransport{}
	c := newMetadataCache(next, testTopic, time.Second, afterFunc)
	c.CloseIdleConnections()
	if next.closed != 1 {
		t.Errorf("Transport closed %d times, want 1", next.closed)
	}
}

// TestMetadataCacheConcurrent runs look-ups from many goroutines while the answer expires, for
// the race detector.
func TestMetadataCacheConcurrent(t *testing.T) {
	next := &fakeTransport{resp: topicMetadata(testTopic, 4, 0)}
	c := newMetadataCache(next, testTopic, time.Microsecond, afterFunc)
	addr := kafka.TCP("127.0.0.1:9092")

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				resp, err := c.RoundTrip(context.Background(), addr, writerLookup(testTopic))
				if err != nil {
					errs <- err
					return
				}
				if m := resp.(*metadata.Response); len(m.Topics[0].Partitions) != 4 {
					errs <- errors.New("wrong partition count")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// countingTransport passes requests to a real Transport and counts the metadata look-ups.
type countingTransport struct {
	*kafka.Transport
	lookups atomic.Int64
}

func (c *countingTransport) RoundTrip(
	ctx context.Context,
	addr net.Addr,
	req kafka.Request,
) (kafka.Response, error) {
	if _, ok := req.(*metadata.Request); ok {
		c.lookups.Add(1)
	}
	return c.Transport.RoundTrip(ctx, addr, req)
}

// TestMetadataCacheAnswersTheWriter checks that the cache recognises the look-ups kafka-go's
// Writer really sends, so that a kafka-go upgrade that changes them shows up here rather than
// as a silent loss of the saving.
func TestMetadataCacheAnswersTheWriter(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(4, testTopic))
	inner := &countingTransport{Transport: kafkasetup.NewTransport("ingest-test")}
	w := &kafka.Writer{
		Addr:      kafka.TCP(cluster.ListenAddrs()...),
		Topic:     testTopic,
		Balancer:  &kafka.Murmur2Balancer{},
		Transport: newMetadataCache(inner, testTopic, time.Hour, afterFunc),
		// Synchronous: WriteMessages returns once the records are written, after at most a
		// batch timeout.
		BatchTimeout: 10 * time.Millisecond,
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		inner.CloseIdleConnections()
	}()

	const records = 100
	msgs := make([]kafka.Message, records)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("site%d.com", i), 1608102631, 1)
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("WriteMessages = %v", err)
	}
	if n := inner.lookups.Load(); n != 1 {
		t.Errorf("%d metadata look-ups reached the Transport for %d records, want 1", n, records)
	}
}
