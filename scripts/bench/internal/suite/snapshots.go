package suite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"toptraffic/libs/snapshot"
	"toptraffic/scripts/bench/internal/ceiling"
)

// snapshotWatch follows an aggregator's snapshots topic from its start. It tells when every
// counters partition has been published up to a given offset, which is when the aggregator has
// folded in every record before it and its results are out: the end of a catch-up. It also
// adds up how many distinct domains the open windows hold.
type snapshotWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// latest is the newest snapshot of each (window, partition), by snapshot.Newer.
	latest map[string]*snapshot.Snapshot
	// reached is the highest snapshot offset seen per counters partition, and when it was read.
	reached map[int]reach
	changed chan struct{}
	err     error
}

type reach struct {
	offset int64
	at     time.Time
}

// watchSnapshots reads partition 0 of topic, the only one: the benchmarks create the snapshots
// topics with one partition, the default.
func watchSnapshots(brokers []string, topic string) *snapshotWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &snapshotWatch{
		cancel:  cancel,
		done:    make(chan struct{}),
		latest:  map[string]*snapshot.Snapshot{},
		reached: map[int]reach{},
		changed: make(chan struct{}),
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		Topic:       topic,
		Partition:   0,
		MinBytes:    1,
		MaxBytes:    8 << 20,
		MaxWait:     50 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	go func() {
		defer close(w.done)
		defer r.Close()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				w.finish(err)
				return
			}
			at := time.Now()
			s, err := snapshot.Decode(m.Value)
			if err != nil {
				w.finish(fmt.Errorf("snapshot at offset %d: %w", m.Offset, err))
				return
			}
			w.add(s, at)
		}
	}()
	return w
}

func (w *snapshotWatch) add(s *snapshot.Snapshot, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := string(s.Key())
	if old, ok := w.latest[key]; !ok || snapshot.Newer(s, old) {
		w.latest[key] = s
	}
	if s.Offset > w.reached[s.Partition].offset {
		w.reached[s.Partition] = reach{offset: s.Offset, at: at}
	}
	w.signal()
}

func (w *snapshotWatch) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	w.signal()
}

// signal wakes the waiters; w.mu is held.
func (w *snapshotWatch) signal() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitPublished waits until every partition with records has a snapshot at its end and returns
// when the last of them was read.
func (w *snapshotWatch) waitPublished(ctx context.Context, bounds map[int]ceiling.Bounds) (
	time.Time, error) {
	for {
		w.mu.Lock()
		var last time.Time
		missing := 0
		for p, b := range bounds {
			if b.End <= b.First {
				continue
			}
			r, ok := w.reached[p]
			if !ok || r.offset < b.End {
				missing++
				continue
			}
			if r.at.After(last) {
				last = r.at
			}
		}
		changed, err := w.changed, w.err
		w.mu.Unlock()
		switch {
		case missing == 0:
			return last, nil
		case err != nil:
			return time.Time{}, fmt.Errorf("follow snapshots: %w", err)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for snapshots of %d partitions: %w", missing,
				ctx.Err())
		case <-changed:
		}
	}
}

// openDomainWindows adds up the distinct domains of every window whose latest snapshot is not
// final: the domain-windows the aggregator holds in memory.
func (w *snapshotWatch) openDomainWindows() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, s := range w.latest {
		if !s.Final {
			n += int64(s.Domains)
		}
	}
	return n
}

func (w *snapshotWatch) close() {
	w.cancel()
	<-w.done
}
