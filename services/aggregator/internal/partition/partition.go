// Package partition runs one counters-topic partition for as long as this aggregator owns it:
// rebuild its windows from the committed replay point, then fold in new records, publish
// snapshots of changed windows, and commit the replay point once those snapshots are stored.
package partition

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/libs/snapshot"
	"toptraffic/services/aggregator/internal/rollup"
)

// Publisher stores snapshots; it returns only after the broker acknowledged all of them.
type Publisher interface {
	Publish(ctx context.Context, snaps []*snapshot.Snapshot) error
}

// Committer stores a partition's checkpoint for the consumer group.
type Committer interface {
	Commit(ctx context.Context, partition int, cp rollup.Checkpoint) error
}

// Config tunes a runner.
type Config struct {
	Brokers []string
	Topic   string
	// Rollup is the window rules; its Partition field is set per runner.
	Rollup rollup.Config
	// FlushInterval is how often changed windows are published. It bounds how stale a snapshot
	// is behind the records it was computed from.
	FlushInterval time.Duration
	// CommitInterval is the least time between two commits of the replay point.
	CommitInterval time.Duration
	// MaxWait is how long a fetch waits for new records; it also bounds how long closing the
	// reader takes.
	MaxWait time.Duration
	// StopTimeout bounds the final publish and commit when the partition is given up.
	StopTimeout time.Duration
}

// Start is where a runner begins: the committed checkpoint (or the partition's first offset and
// a zero horizon) and the end of the partition when it was assigned. The partition is rebuilt
// once the runner has read up to End.
type Start struct {
	Checkpoint rollup.Checkpoint
	End        int64
}

// Hooks let the caller observe a runner, for metrics. Any of them may be nil.
type Hooks struct {
	// Outcome is called for every record and window size with what happened.
	Outcome func(partition int, sizeIndex int, o rollup.Outcome)
	// Published is called after a successful publish with how many snapshots and how long it took.
	Published func(partition int, n int, took time.Duration)
	// Lag is called with the records between the last one read and the partition's end.
	Lag func(partition int, lag int64)
	// OpenWindows is called after each flush with the number of open windows.
	OpenWindows func(partition int, n int)
	// Released is called once when Run returns, after the last call of any other hook, so
	// per-partition series of a partition this worker no longer owns can be removed.
	Released func(partition int)
}

// Runner owns one partition for one consumer-group generation.
type Runner struct {
	cfg       Config
	partition int
	logger    *zap.Logger
	clock     clock.Clock
	pub       Publisher
	commit    Committer
	hooks     Hooks
}

// New returns a runner for partition.
func New(
	cfg Config,
	partition int,
	clk clock.Clock,
	pub Publisher,
	commit Committer,
	hooks Hooks,
	logger *zap.Logger,
) *Runner {
	cfg.Rollup.Partition = partition
	return &Runner{
		cfg:       cfg,
		partition: partition,
		logger:    logger.With(zap.String("topic", cfg.Topic), zap.Int("partition", partition)),
		clock:     clk,
		pub:       pub,
		commit:    commit,
		hooks:     hooks,
	}
}

// Run processes the partition from start until ctx ends, which is when the generation ends or
// the aggregator stops. On the way out it publishes what changed and commits, so the next owner
// replays as little as possible; anything it cannot finish the next owner rebuilds.
func (r *Runner) Run(ctx context.Context, start Start) error {
	if r.hooks.Released != nil {
		defer r.hooks.Released(r.partition)
	}
	state := rollup.New(r.cfg.Rollup, start.Checkpoint)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   r.cfg.Brokers,
		Topic:     r.cfg.Topic,
		Partition: r.partition,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		MaxWait:   r.cfg.MaxWait,
		// Without a group the reader never commits; the runner commits its replay point.
		QueueCapacity: 1024,
	})
	defer func() {
		if err := reader.Close(); err != nil {
			r.logger.Debug("close reader", zap.Error(err))
		}
	}()
	if err := reader.SetOffset(start.Checkpoint.Offset); err != nil {
		return fmt.Errorf("position reader at %d: %w", start.Checkpoint.Offset, err)
	}

	r.logger.Info("partition assigned",
		zap.Int64("replay_from", start.Checkpoint.Offset),
		zap.Int64("end", start.End),
		zap.Int64("horizon_ms", start.Checkpoint.HorizonMs))

	// The reader runs in its own goroutine so the loop below can also wake on the flush timer.
	q := newQueue(4096)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		for {
			m, err := reader.FetchMessage(readCtx)
			if err == nil {
				err = q.put(readCtx, m)
			}
			if err != nil {
				q.fail(err)
				return
			}
		}
	}()

	f := &flusher{r: r, state: state, pending: map[string]*snapshot.Snapshot{}}
	caughtUp := state.Next() >= start.End
	if caughtUp {
		r.logger.Info("partition ready, nothing to replay")
	}
	began := r.clock.Now()
	ticker := time.NewTicker(r.cfg.FlushInterval)
	defer ticker.Stop()

	var spare []kafka.Message
	for {
		select {
		case <-q.ready:
			batch, err := q.take(spare)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, context.Canceled) {
					return f.stop(caughtUp)
				}
				return fmt.Errorf("read partition %d: %w", r.partition, err)
			}
			for _, m := range batch {
				r.apply(state, m)
			}
			if n := len(batch); n > 0 && r.hooks.Lag != nil && batch[n-1].HighWaterMark > 0 {
				r.hooks.Lag(r.partition, batch[n-1].HighWaterMark-batch[n-1].Offset-1)
			}
			clear(batch) // drop references to the records' bytes before reuse
			spare = batch
			if !caughtUp && state.Next() >= start.End {
				caughtUp = true
				// The rebuilt windows replace whatever the previous owner published last.
				state.MarkAllDirty()
				r.logger.Info("partition rebuilt",
					zap.Int64("replayed", state.Next()-start.Checkpoint.Offset),
					zap.Duration("took", r.clock.Now().Sub(began)),
					zap.Int("open_windows", state.OpenWindows()))
			}
		case <-ticker.C:
			if !caughtUp {
				continue
			}
			// Publishing failures are retried on the next tick; only commits wait for them.
			if err := f.flush(ctx, false); err != nil {
				r.logger.Warn("publish snapshots failed, retrying", zap.Error(err))
			}
		case <-ctx.Done():
			return f.stop(caughtUp)
		}
	}
}

func (r *Runner) apply(state *rollup.State, m kafka.Message) {
	ts, count, err := counter.DecodeRecord(m.Value)
	if err != nil || len(m.Key) == 0 {
		// A record the gateway could not have written: skip it rather than stop the partition.
		r.logger.Warn("skipping malformed record", zap.Int64("offset", m.Offset), zap.Error(err))
		state.Skip(m.Offset)
		return
	}
	out := state.Apply(rollup.Record{
		Offset:  m.Offset,
		TimeMs:  m.Time.UnixMilli(),
		EventTs: ts,
		Domain:  m.Key,
		Count:   count,
	})
	if r.hooks.Outcome != nil {
		for i, o := range out {
			r.hooks.Outcome(r.partition, i, o)
		}
	}
}

// flusher publishes snapshots and commits checkpoints. Snapshots that failed to publish stay
// pending and are sent again, superseded by newer ones of the same window.
type flusher struct {
	r          *Runner
	state      *rollup.State
	pending    map[string]*snapshot.Snapshot
	committed  rollup.Checkpoint
	lastCommit time.Time
}

func (f *flusher) flush(ctx context.Context, forceCommit bool) error {
	now := f.r.clock.Now()
	f.state.AdvanceTo(now.UnixMilli())
	for _, s := range f.state.Snapshots(now.UnixMilli()) {
		f.pending[string(s.Key())] = s
	}
	// The checkpoint is taken with the snapshots: it is safe to commit once they are stored.
	cp := f.state.Checkpoint()
	if f.r.hooks.OpenWindows != nil {
		f.r.hooks.OpenWindows(f.r.partition, f.state.OpenWindows())
	}

	if len(f.pending) > 0 {
		snaps := make([]*snapshot.Snapshot, 0, len(f.pending))
		for _, s := range f.pending {
			snaps = append(snaps, s)
		}
		began := time.Now()
		if err := f.r.pub.Publish(ctx, snaps); err != nil {
			return err
		}
		if f.r.hooks.Published != nil {
			f.r.hooks.Published(f.r.partition, len(snaps), time.Since(began))
		}
		clear(f.pending)
	}

	if cp == f.committed || (!forceCommit && now.Sub(f.lastCommit) < f.r.cfg.CommitInterval) {
		return nil
	}
	if err := f.r.commit.Commit(ctx, f.r.partition, cp); err != nil {
		return fmt.Errorf("commit checkpoint: %w", err)
	}
	f.committed = cp
	f.lastCommit = now
	f.r.logger.Debug("checkpoint committed",
		zap.Int64("replay_from", cp.Offset),
		zap.Int64("horizon_ms", cp.HorizonMs))
	return nil
}

// stop publishes and commits one last time within StopTimeout. A partition that was still
// rebuilding publishes nothing: its windows are incomplete and the next owner rebuilds them.
func (f *flusher) stop(caughtUp bool) error {
	if !caughtUp {
		f.r.logger.Info("partition released while rebuilding")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.r.cfg.StopTimeout)
	defer cancel()
	if err := f.flush(ctx, true); err != nil {
		// Nothing is lost: the next owner replays from the last commit.
		f.r.logger.Warn("final publish or commit failed", zap.Error(err))
		return nil
	}
	f.r.logger.Info("partition released",
		zap.Int64("committed_offset", f.committed.Offset),
		zap.Int("open_windows", f.state.OpenWindows()))
	return nil
}
