package partition

import (
	"context"
	"sync"

	"github.com/segmentio/kafka-go"
)

// queue hands records from the reader's goroutine to the runner's in batches. A channel would
// cost a synchronised send and receive per record, which profiles showed as a fifth of the
// aggregator's time; here the reader appends under a lock and the runner takes everything that
// has arrived in one step. It holds at most max records, so a slow runner slows the reader.
type queue struct {
	mu  sync.Mutex
	buf []kafka.Message
	max int
	err error

	// ready and space carry at most one pending wake-up each: records arrived, room freed.
	ready chan struct{}
	space chan struct{}
}

func newQueue(max int) *queue {
	return &queue{
		buf:   make([]kafka.Message, 0, max),
		max:   max,
		ready: make(chan struct{}, 1),
		space: make(chan struct{}, 1),
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put adds m, waiting while the queue is full.
func (q *queue) put(ctx context.Context, m kafka.Message) error {
	for {
		q.mu.Lock()
		if len(q.buf) < q.max {
			q.buf = append(q.buf, m)
			q.mu.Unlock()
			wake(q.ready)
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fail records why the reader stopped; take reports it once the queue is drained.
func (q *queue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	wake(q.ready)
}

// take returns the records that arrived since the last call, swapping in spare (emptied) as
// the next buffer so that batches reuse two slices. With nothing queued it returns the error
// the reader stopped with, if any.
func (q *queue) take(spare []kafka.Message) ([]kafka.Message, error) {
	q.mu.Lock()
	out := q.buf
	q.buf = spare[:0]
	var err error
	if len(out) == 0 {
		err = q.err
	}
	// The reader's last records and its error may have come with a single wake-up, which
	// this call used up; leave one for the error, or the runner would wait for ever.
	errPending := len(out) > 0 && q.err != nil
	q.mu.Unlock()
	wake(q.space)
	if errPending {
		wake(q.ready)
	}
	return out, err
}
