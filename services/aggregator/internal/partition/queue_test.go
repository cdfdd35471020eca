package partition

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestQueueKeepsOrderAndBounds(t *testing.T) {
	q := newQueue(8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 10_000
	readErr := errors.New("reader stopped")
	go func() {
		for i := range n {
			if err := q.put(ctx, kafka.Message{Offset: int64(i)}); err != nil {
				return
			}
		}
		q.fail(readErr)
	}()

	var next int64
	var spare []kafka.Message
	for {
		select {
		case <-q.ready:
		case <-ctx.Done():
			t.Fatalf("took %d of %d records before the deadline", next, n)
		}
		batch, err := q.take(spare)
		if len(batch) > 8 {
			t.Fatalf("batch of %d records, want at most the queue's 8", len(batch))
		}
		for _, m := range batch {
			if m.Offset != next {
				t.Fatalf("got offset %d, want %d", m.Offset, next)
			}
			next++
		}
		spare = batch
		if err != nil {
			if !errors.Is(err, readErr) || next != n {
				t.Fatalf("take error %v after %d records, want %v after %d", err, next, readErr, n)
			}
			return
		}
	}
}

func TestQueuePutGivesUpWithTheContext(t *testing.T) {
	q := newQueue(1)
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.put(ctx, kafka.Message{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := q.put(ctx, kafka.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("put on a full queue after cancel = %v, want context.Canceled", err)
	}
}

// The reader's last records and its failure can arrive under one wake-up; the take that drains
// the records must leave a wake-up for the error, or the runner waits for ever.
func TestQueueWakesForTheErrorAfterTheLastRecords(t *testing.T) {
	q := newQueue(4)
	readErr := errors.New("reader stopped")
	if err := q.put(context.Background(), kafka.Message{Offset: 7}); err != nil {
		t.Fatal(err)
	}
	q.fail(readErr)

	<-q.ready
	batch, err := q.take(nil)
	if len(batch) != 1 || err != nil {
		t.Fatalf("take = %d records, %v; want the 1 record and no error yet", len(batch), err)
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no wake-up left for the reader's error")
	}
	if _, err := q.take(batch); !errors.Is(err, readErr) {
		t.Fatalf("take error = %v, want %v", err, readErr)
	}
}
