// Package publisher writes window snapshots to the compacted snapshots topic.
package publisher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"toptraffic/libs/kafkasetup"
	"toptraffic/libs/snapshot"
)

// Publisher writes snapshots with acks from all in-sync replicas. It is shared by the partition
// runners of one aggregator; their concurrent calls share producer batches.
type Publisher struct {
	w    *kafka.Writer
	once sync.Once
	err  error
}

// New returns a Publisher for topic. Create it after the topic exists: its transport caches
// metadata.
func New(brokers []string, topic string) *Publisher {
	return &Publisher{w: &kafka.Writer{
		Addr:  kafka.TCP(brokers...),
		Topic: topic,
		// A key must always land in the same partition, or compaction could keep a stale
		// snapshot next to a newer one in another partition.
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           2 * time.Millisecond,
		WriteTimeout:           5 * time.Second,
		MaxAttempts:            3,
		AllowAutoTopicCreation: false,
		Transport:              kafkasetup.NewTransport("toptraffic-aggregator-snapshots"),
	}}
}

// Publish writes snaps and returns once the broker acknowledged all of them.
func (p *Publisher) Publish(ctx context.Context, snaps []*snapshot.Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(snaps))
	for i, s := range snaps {
		v, err := snapshot.Encode(s)
		if err != nil {
			return err
		}
		msgs[i] = kafka.Message{Key: s.Key(), Value: v}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d snapshots: %w", len(snaps), err)
	}
	return nil
}

// Close flushes and closes the writer. It is safe to call twice.
func (p *Publisher) Close() error {
	p.once.Do(func() {
		if err := p.w.Close(); err != nil {
			p.err = fmt.Errorf("close snapshot writer: %w", err)
		}
	})
	return p.err
}
