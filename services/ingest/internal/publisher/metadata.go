package publisher

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// metadataCacheTTL is how long one metadata answer for the counters topic is reused. The
// Transport behind it refreshes its own view of the cluster every few seconds, so this adds at
// most a second to how late a change of the topic (deleted, more partitions) is seen.
const metadataCacheTTL = time.Second

// metadataCache sits between the Writer and its Transport and answers the Writer's metadata
// look-ups for the counters topic from one remembered response.
//
// kafka-go's Writer (v0.4.51) asks its Transport for the topic's partition count once per
// message, inside WriteMessages' loop over them. The Transport answers from its own cache, but
// each answer costs a pool look-up, a channel select and a freshly allocated copy of the
// response: a fifth of the gateway's CPU at saturation. Here a look-up is one atomic load.
// Not even the clock is read per look-up, since time.Now alone costs 70 to 90 ns on the
// 2-core virtual machine of BENCHMARKS.md; a timer forgets the answer ttl after it arrived.
//
// Only the exact request the Writer sends is answered from memory: metadata of the one topic,
// without topic auto-creation or authorized operations. Only a usable answer is remembered,
// the topic with no error and at least one partition; errors and answers about a missing or
// failing topic reach the Writer as the Transport gave them, so a lost topic is reported as
// soon as the Transport knows. Every other request, produce above all, passes through.
//
// The remembered response is handed to every caller; the Writer only reads it.
type metadataCache struct {
	next  kafka.RoundTripper
	topic string
	ttl   time.Duration
	// afterFunc runs f once d has passed, like time.AfterFunc; tests replace it.
	afterFunc func(d time.Duration, f func())

	// cached is nil until the first usable answer and again from ttl after it arrived; the
	// next look-up then asks next. Look-ups that miss at the same moment all ask, which costs
	// little since next has a cache of its own, and the first to finish is remembered.
	cached atomic.Pointer[metadata.Response]
}

func newMetadataCache(
	next kafka.RoundTripper,
	topic string,
	ttl time.Duration,
	afterFunc func(d time.Duration, f func()),
) *metadataCache {
	return &metadataCache{next: next, topic: topic, ttl: ttl, afterFunc: afterFunc}
}

// afterFunc is time.AfterFunc without the Timer, which the cache never stops: a timer left
// behind by a closed writer fires once, within ttl, and changes nothing that is still used.
func afterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// RoundTrip answers the Writer's metadata look-up for the topic from memory while an answer
// younger than ttl is remembered, and sends everything else to next.
func (c *metadataCache) RoundTrip(
	ctx context.Context,
	addr net.Addr,
	req kafka.Request,
) (kafka.Response, error) {
	m, ok := req.(*metadata.Request)
	if !ok || !c.answers(m) {
		return c.next.RoundTrip(ctx, addr, req)
	}
	if r := c.cached.Load(); r != nil {
		return r, nil
	}

	resp, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return resp, err
	}
	if r, ok := resp.(*metadata.Response); ok && c.usable(r) && c.cached.CompareAndSwap(nil, r) {
		c.afterFunc(c.ttl, func() { c.cached.CompareAndSwap(r, nil) })
	}
	return resp, nil
}

// CloseIdleConnections closes next's connections when next can, so that a writer's Transport
// does not outlive the writer.
func (c *metadataCache) CloseIdleConnections() {
	if t, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// answers reports whether m is the look-up the Writer makes for the topic.
func (c *metadataCache) answers(m *metadata.Request) bool {
	return len(m.TopicNames) == 1 &&
		m.TopicNames[0] == c.topic &&
		!m.AllowAutoTopicCreation &&
		!m.IncludeClusterAuthorizedOperations &&
		!m.IncludeTopicAuthorizedOperations
}

// usable reports whether r is worth remembering: it describes the topic, with partitions and
// without an error.
func (c *metadataCache) usable(r *metadata.Response) bool {
	if len(r.Topics) != 1 {
		return false
	}
	t := r.Topics[0]
	return t.Name == c.topic && t.ErrorCode == 0 && len(t.Partitions) > 0
}
