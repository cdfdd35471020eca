package ceiling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Bounds are a partition's first offset and its end (the offset the next record gets).
type Bounds struct {
	First, End int64
}

// Offsets returns the bounds of every partition of topic.
func Offsets(ctx context.Context, client *kafka.Client, topic string) (map[int]Bounds, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("read metadata of %s: topic missing or failed: %v", topic, md.Topics)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(md.Topics[0].Partitions))
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs},
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int]Bounds{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = Bounds{First: po.FirstOffset, End: po.LastOffset}
	}
	return out, nil
}

// Total returns the number of records between the bounds of all partitions.
func Total(b map[int]Bounds) int64 {
	var n int64
	for _, pb := range b {
		n += pb.End - pb.First
	}
	return n
}

// Consume reads every partition of topic from its first offset to its end with one kafka-go
// Reader per partition, as the aggregator does, configured as the aggregator's are, and reports
// the rate from the readers' start to the last record. It only counts the records: the rate
// of the client library and the broker, nothing else.
func Consume(
	ctx context.Context,
	brokers []string,
	topic string,
	bounds map[int]Bounds,
	timeout time.Duration,
) (Rate, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var read atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(bounds))
	began := time.Now()
	for p, b := range bounds {
		if b.End <= b.First {
			continue
		}
		wg.Go(func() {
			if err := consumePartition(ctx, brokers, topic, p, b, &read); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	took := time.Since(began)
	close(errs)
	return rateOf(read.Load(), took), errors.Join(collect(errs)...)
}

func consumePartition(
	ctx context.Context,
	brokers []string,
	topic string,
	p int,
	b Bounds,
	read *atomic.Int64,
) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       brokers,
		Topic:         topic,
		Partition:     p,
		MinBytes:      1,
		MaxBytes:      8 << 20,
		MaxWait:       250 * time.Millisecond,
		QueueCapacity: 1024,
	})
	defer r.Close()
	if err := r.SetOffset(b.First); err != nil {
		return fmt.Errorf("consume %s/%d: position at %d: %w", topic, p, b.First, err)
	}
	var n int64
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			read.Add(n)
			return fmt.Errorf("consume %s/%d at record %d: %w", topic, p, n, err)
		}
		n++
		if m.Offset >= b.End-1 {
			read.Add(n)
			return nil
		}
	}
}
