package publisher

import (
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
)

// waiter tracks the records of one Publish call. The producer may split them over several
// batches, one per partition and more when a batch fills, and acknowledges each batch on its
// own goroutine; done closes after the last acknowledgement or the first failure.
type waiter struct {
	pending atomic.Int64
	once    sync.Once
	// err is written before done closes and read only after, so it needs no lock.
	err  error
	done chan struct{}
}

func newWaiter(records int) *waiter {
	w := &waiter{done: make(chan struct{})}
	w.pending.Store(int64(records))
	return w
}

// finish settles n records with the outcome err. A failure ends the wait at once: one lost
// record fails the request whatever happens to the others.
func (w *waiter) finish(n int, err error) {
	if err != nil {
		w.once.Do(func() {
			w.err = err
			close(w.done)
		})
		return
	}
	if w.pending.Add(-int64(n)) == 0 {
		w.once.Do(func() { close(w.done) })
	}
}

// complete is the Writer's Completion callback. All messages of one call went to one partition
// in one produce request and share err. Records of one request sit next to each other in a
// batch, so runs of the same waiter are settled together.
func complete(msgs []kafka.Message, err error) {
	var cur *waiter
	n := 0
	for i := range msgs {
		w, _ := msgs[i].WriterData.(*waiter)
		if w != cur {
			if cur != nil {
				cur.finish(n, err)
			}
			cur, n = w, 0
		}
		n++
	}
	if cur != nil {
		cur.finish(n, err)
	}
}
