// Package consumer feeds the store from the snapshots topic. Every replica of the query service
// reads every partition from its first offset, without a consumer group, so each one rebuilds
// the complete view on its own and no replica depends on another's progress.
//
// Before reading, the consumer records each partition's end offset. Once every partition has
// been read up to that point the store holds everything published before start-up and is
// marked caught up; from then on records are applied as they arrive.
//
// A broker that loses the topic (a development broker restarted without its data) is not an
// ordinary outage: the offsets start over, and snapshots read before would outrank the new
// ones. The consumer then empties the store and starts again from the topic's creation.
package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"toptraffic/libs/clock"
	"toptraffic/libs/kafkasetup"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/store"
)

// Config says where the snapshots are and how the readers behave.
type Config struct {
	// Brokers are the bootstrap brokers, host:port each.
	Brokers []string
	// Topic is the snapshots topic; it is created with this layout if it does not exist.
	Topic kafkasetup.Topic
	// ClientID names the process to the brokers.
	ClientID string
	// MaxWait bounds how long a fetch waits for new records. kafka-go's Reader.Close waits
	// about this long, so it is kept short for a fast shutdown. Zero means 250ms.
	MaxWait time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries after a broker error. Zero
	// means 100ms and 5s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// AttemptTimeout bounds one try at creating the topic or listing offsets, after which
	// it is retried with a fresh connection. Zero means 3s.
	AttemptTimeout time.Duration
	// TopicCheckInterval is how often the topic's metadata is checked, to notice a broker
	// that forgot the topic (a reader then waits silently) or partitions added to it. Zero
	// means 5s.
	TopicCheckInterval time.Duration
	// Observer, when not nil, is told what became of every record read, for metrics.
	Observer Observer
}

// Outcome is what became of one record of the snapshots topic.
type Outcome int

const (
	// OutcomeApplied is a snapshot the store kept.
	OutcomeApplied Outcome = iota
	// OutcomeStale is a snapshot skipped because the store holds a newer one of its window
	// and source partition, as a replay or a stale owner delivers.
	OutcomeStale
	// OutcomeExpired is a snapshot skipped because its window is past retention.
	OutcomeExpired
	// OutcomeMalformed is a record that is not a usable snapshot or tombstone.
	OutcomeMalformed
	// OutcomeTombstone is a tombstone, whether or not it removed a snapshot.
	OutcomeTombstone
)

// Outcomes lists every Outcome, so that metrics can report the ones that never happened as 0.
var Outcomes = []Outcome{
	OutcomeApplied,
	OutcomeStale,
	OutcomeExpired,
	OutcomeMalformed,
	OutcomeTombstone,
}

// String returns the outcome's name, as metrics label it.
func (o Outcome) String() string {
	switch o {
	case OutcomeApplied:
		return "applied"
	case OutcomeStale:
		return "stale"
	case OutcomeExpired:
		return "expired"
	case OutcomeMalformed:
		return "malformed"
	case OutcomeTombstone:
		return "tombstone"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Observer learns what became of each record. It is called from every partition's reader at
// once, so it must be safe for concurrent use, and it must not block.
type Observer interface {
	RecordRead(o Outcome)
}

// noObserver is the Observer of a Config that has none.
type noObserver struct{}

func (noObserver) RecordRead(Outcome) {}

func (c Config) withDefaults() Config {
	if c.MaxWait <= 0 {
		c.MaxWait = 250 * time.Millisecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 3 * time.Second
	}
	if c.TopicCheckInterval <= 0 {
		c.TopicCheckInterval = 5 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "toptraffic-query"
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	return c
}

// Store is what the consumer feeds; *store.Store implements it.
type Store interface {
	Apply(snap *snapshot.Snapshot) store.Result
	Delete(w window.Window, partition int) bool
	MarkCaughtUp()
	// Reset forgets everything and marks the store not caught up.
	Reset()
}

// missingChecksLimit is how many topic checks in a row must find the topic unknown before it
// counts as gone; one such answer can be a broker that is still loading.
const missingChecksLimit = 2

// Consumer reads the snapshots topic into a Store. Run it once; Close stops it.
type Consumer struct {
	cfg   Config
	store Store
	clock clock.Clock
	// logger carries the topic; base does not, for kafkasetup, which adds it itself.
	logger *zap.Logger
	base   *zap.Logger

	// stopping is cancelled by Close; done is closed when Run returns.
	stopping context.Context
	stop     context.CancelFunc
	started  atomic.Bool
	done     chan struct{}

	// pending counts the partitions not yet read up to their start-up end offset.
	pending   atomic.Int64
	startedAt time.Time
	records   atomic.Int64
}

// New returns a Consumer that applies the topic's records to st. Nothing connects until Run.
func New(cfg Config, st Store, clk clock.Clock, logger *zap.Logger) *Consumer {
	stopping, stop := context.WithCancel(context.Background())
	cfg = cfg.withDefaults()
	return &Consumer{
		cfg:      cfg,
		store:    st,
		clock:    clk,
		base:     logger,
		logger:   logger.With(zap.String("topic", cfg.Topic.Name)),
		stopping: stopping,
		stop:     stop,
		done:     make(chan struct{}),
	}
}

// Run ensures the topic exists, reads every partition from its first offset and keeps reading
// until ctx ends or Close is called. Broker errors are retried with backoff, never returned,
// so an outage heals without a restart. It returns nil after a clean stop, and ErrRunTwice if
// called again.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	defer close(c.done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatching := context.AfterFunc(c.stopping, cancel)
	defer stopWatching()

	for {
		err := c.load(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, ErrLogReset):
			// The view was built from a log that no longer exists; serving it would mix
			// old and new offsets. Start again, not ready until the new log is read.
			c.logger.Warn("snapshots log was reset, rebuilding the view", zap.Error(err))
			c.store.Reset()
		case errors.Is(err, ErrPartitionsChanged):
			// What was read stays valid and the store stays ready; reading everything
			// again re-applies it, the new partitions included. Only a snapshot that a
			// tombstone deleted can show again, until that tombstone is read again.
			c.logger.Info("snapshots topic gained partitions, reading it again", zap.Error(err))
		default:
			return err
		}
		if !sleep(ctx, c.cfg.MinBackoff) {
			return nil
		}
	}
}

// load makes sure the topic exists, reads every partition from its first offset and keeps
// reading until ctx ends (nil), the log is reset under it (ErrLogReset) or the topic gains
// partitions (ErrPartitionsChanged).
func (c *Consumer) load(ctx context.Context) error {
	c.startedAt = c.clock.Now()
	c.records.Store(0)

	// First make sure the topic exists, so that offsets can be listed and an empty cluster
	// does not leave the service warming up forever.
	partitions, err := c.ensureTopic(ctx)
	if err != nil {
		return nil // only a stop ends the retries
	}

	// Then fix the catch-up goal: what was in each partition before any reader started.
	bounds, err := c.listBounds(ctx, partitions)
	if err != nil {
		return nil
	}

	// A partition that is already empty has nothing to catch up on.
	pending := 0
	for _, b := range bounds {
		if b.end > b.first {
			pending++
		}
	}
	c.pending.Store(int64(pending))
	if pending == 0 {
		c.caughtUp()
	}

	// Last, one reader per partition, each in its own goroutine that ends with ctx, and a
	// watch on the topic itself; the first of them to fail stops the others.
	g, gctx := errgroup.WithContext(ctx)
	for p, b := range bounds {
		g.Go(func() error { return c.readPartition(gctx, p, b) })
	}
	g.Go(func() error { return c.watchTopic(gctx, partitions) })
	return g.Wait()
}

// watchTopic checks the topic's metadata every TopicCheckInterval until ctx ends. It returns
// ErrLogReset when the broker no longer knows the topic: kafka-go's readers then wait for it
// without a word. It returns ErrPartitionsChanged when the topic has more partitions than
// are being read. A broker that does not answer is an ordinary outage and is left to the
// readers' retries.
func (c *Consumer) watchTopic(ctx context.Context, partitions int) error {
	t := time.NewTicker(c.cfg.TopicCheckInterval)
	defer t.Stop()
	missing := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}

		n, err := c.partitionCount(ctx)
		switch {
		case errors.Is(err, kafka.UnknownTopicOrPartition):
			if missing++; missing >= missingChecksLimit {
				return fmt.Errorf("broker no longer knows the topic: %w", ErrLogReset)
			}
		case err != nil:
			missing = 0
			c.logger.Debug("topic check failed", zap.Error(err))
		case n > partitions:
			return fmt.Errorf("%w: %d partitions, reading %d", ErrPartitionsChanged, n, partitions)
		default:
			missing = 0
		}
	}
}

// partitionCount asks the brokers how many partitions the topic has, with a fresh client.
func (c *Consumer) partitionCount(ctx context.Context) (int, error) {
	client := kafkasetup.NewClient(c.cfg.Brokers, c.cfg.ClientID+"-admin")
	defer closeIdle(client)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()

	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic.Name}})
	if err != nil {
		return 0, fmt.Errorf("read metadata: %w", err)
	}
	for _, t := range md.Topics {
		if t.Name != c.cfg.Topic.Name {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("read metadata of %s: %w", t.Name, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("read metadata of %s: %w", c.cfg.Topic.Name, kafka.UnknownTopicOrPartition)
}

// Close stops Run, closes the readers and waits for Run to return. It is safe to call more
// than once and before Run.
func (c *Consumer) Close() error {
	c.stop()
	if c.started.Load() {
		<-c.done
	}
	return nil
}

// ensureTopic creates the topic if needed and returns how many partitions it really has.
func (c *Consumer) ensureTopic(ctx context.Context) (int, error) {
	c.logger.Info("ensuring topic", zap.Strings("brokers", c.cfg.Brokers))
	var partitions int
	err := c.admin(ctx, "ensure topic", func(ctx context.Context, client *kafka.Client) error {
		counts, err := kafkasetup.EnsureTopics(ctx, client, c.base, c.cfg.Topic)
		if err != nil {
			return err
		}
		partitions = counts[c.cfg.Topic.Name]
		if partitions < 1 {
			return fmt.Errorf("topic %s reports no partitions", c.cfg.Topic.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if partitions != c.cfg.Topic.Partitions {
		c.logger.Info("topic exists with another partition count, reading all of them",
			zap.Int("partitions", partitions),
			zap.Int("configured_partitions", c.cfg.Topic.Partitions),
		)
	}
	return partitions, nil
}

// bounds are a partition's offsets at start-up: the first record still in the log, and the
// offset the next record will get.
type bounds struct {
	first, end int64
}

// listBounds asks for the first and end offset of every partition.
func (c *Consumer) listBounds(ctx context.Context, partitions int) ([]bounds, error) {
	out := make([]bounds, partitions)
	err := c.admin(ctx, "list offsets", func(ctx context.Context, client *kafka.Client) error {
		// Two requests rather than one: a broker may reject a request naming the same
		// partition twice.
		firsts, err := c.listOffsets(ctx, client, partitions, kafka.FirstOffset)
		if err != nil {
			return err
		}
		ends, err := c.listOffsets(ctx, client, partitions, kafka.LastOffset)
		if err != nil {
			return err
		}
		for p := range out {
			out[p] = bounds{first: firsts[p], end: ends[p]}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for p, b := range out {
		c.logger.Debug("partition bounds",
			zap.Int("partition", p),
			zap.Int64("first_offset", b.first),
			zap.Int64("end_offset", b.end),
		)
	}
	return out, nil
}

// listOffsets returns, per partition, the offset that which (kafka.FirstOffset or
// kafka.LastOffset) designates.
func (c *Consumer) listOffsets(
	ctx context.Context,
	client *kafka.Client,
	partitions int,
	which int64,
) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range reqs {
		reqs[p] = kafka.OffsetRequest{Partition: p, Timestamp: which}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic.Name: reqs},
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}

	out := make([]int64, partitions)
	seen := 0
	for _, po := range resp.Topics[c.cfg.Topic.Name] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of partition %d: %w", po.Partition, po.Error)
		}
		if po.Partition < 0 || po.Partition >= partitions {
			continue
		}
		off := offsetOf(po, which)
		if off < 0 {
			return nil, fmt.Errorf("list offsets of partition %d: no offset returned", po.Partition)
		}
		out[po.Partition] = off
		seen++
	}
	if seen != partitions {
		return nil, fmt.Errorf("list offsets: got %d of %d partitions", seen, partitions)
	}
	return out, nil
}

// offsetOf picks the answer to a ListOffsets request that asked only for which. kafka-go files
// each answer by the timestamp the broker sends back, and brokers send -1 (the code for
// "latest") for the earliest offset too, so the first offset usually arrives in LastOffset.
// Fields the request did not ask for start at -1, so whichever of them was set holds the
// answer; a broker that sends a real timestamp puts it in Offsets instead.
func offsetOf(po kafka.PartitionOffsets, which int64) int64 {
	for off := range po.Offsets {
		return off
	}
	if which == kafka.FirstOffset && po.LastOffset != -1 {
		return po.LastOffset
	}
	if which == kafka.LastOffset && po.FirstOffset != -1 {
		return po.FirstOffset
	}
	if which == kafka.FirstOffset {
		return po.FirstOffset
	}
	return po.LastOffset
}

// readPartition reads one partition from its first offset until ctx ends.
func (c *Consumer) readPartition(ctx context.Context, partition int, b bounds) error {
	logger := c.logger.With(zap.Int("partition", partition))
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Brokers,
		Topic:     c.cfg.Topic.Name,
		Partition: partition,
		// A Dialer of its own per reader: nothing cached by another client leaks in.
		Dialer: &kafka.Dialer{
			ClientID:  c.cfg.ClientID,
			Timeout:   5 * time.Second,
			DualStack: true,
		},
		StartOffset:    kafka.FirstOffset,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        c.cfg.MaxWait,
		ReadBackoffMin: c.cfg.MinBackoff,
		ReadBackoffMax: c.cfg.MaxBackoff,
		// Report a log that now ends before our position instead of waiting, silently,
		// for it to grow back past it; Run then rebuilds the view.
		OffsetOutOfRangeError: true,
		// kafka-go retries internally and reports each failure here; the loop below logs
		// what the caller needs to know, so these stay at debug.
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			logger.Debug("kafka reader error", zap.String("detail", fmt.Sprintf(format, args...)))
		}),
	})
	defer func() {
		// Close waits up to MaxWait for the fetch in flight.
		if err := r.Close(); err != nil {
			logger.Warn("close reader", zap.Error(err))
		}
	}()

	caughtUp := b.end <= b.first
	failures := 0
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The log ends before the offset already read: it started over.
			if errors.Is(err, kafka.OffsetOutOfRange) {
				return fmt.Errorf("partition %d: %w: %w", partition, ErrLogReset, err)
			}
			// Anything else the reader retries on its own, resuming where it was; wait a
			// little so a dead broker is not hammered, and report the outage once.
			failures++
			if failures == 1 {
				logger.Warn("fetch failed, retrying", zap.Error(err))
			} else {
				logger.Debug("fetch failed again", zap.Int("failures", failures), zap.Error(err))
			}
			if !sleep(ctx, backoff(failures, c.cfg.MinBackoff, c.cfg.MaxBackoff)) {
				return nil
			}
			continue
		}
		if failures > 0 {
			logger.Info("fetch recovered", zap.Int("failures", failures))
			failures = 0
		}

		c.apply(logger, m)

		if !caughtUp && m.Offset+1 >= b.end {
			caughtUp = true
			logger.Debug("partition caught up", zap.Int64("end_offset", b.end))
			if c.pending.Add(-1) == 0 {
				c.caughtUp()
			}
		}
	}
}

// apply hands one record to the store. A record that cannot be used is logged and skipped:
// one bad record must not stop the view from being built.
func (c *Consumer) apply(logger *zap.Logger, m kafka.Message) {
	c.records.Add(1)

	// A nil value is a tombstone: the key's snapshot is gone.
	if m.Value == nil {
		w, part, err := snapshot.ParseKey(m.Key)
		if err != nil {
			c.cfg.Observer.RecordRead(OutcomeMalformed)
			logger.Warn("skipping malformed tombstone",
				zap.Int64("offset", m.Offset),
				zap.Error(fmt.Errorf("%w: %w", ErrMalformed, err)),
			)
			return
		}
		removed := c.store.Delete(w, part)
		c.cfg.Observer.RecordRead(OutcomeTombstone)
		logger.Debug("tombstone applied",
			zap.Int64("offset", m.Offset),
			zap.Stringer("window", w),
			zap.Int("source_partition", part),
			zap.Bool("removed", removed),
		)
		return
	}

	snap, err := decode(m.Key, m.Value)
	if err != nil {
		c.cfg.Observer.RecordRead(OutcomeMalformed)
		logger.Warn("skipping malformed snapshot", zap.Int64("offset", m.Offset), zap.Error(err))
		return
	}
	result := c.store.Apply(snap)
	c.cfg.Observer.RecordRead(outcomeOf(result))
	logger.Debug("snapshot read",
		zap.Int64("offset", m.Offset),
		zap.Stringer("window", snap.Window()),
		zap.Int("source_partition", snap.Partition),
		zap.Int64("source_offset", snap.Offset),
		zap.Bool("final", snap.Final),
		zap.Stringer("result", result),
	)
}

// outcomeOf names what the store did with a snapshot.
func outcomeOf(r store.Result) Outcome {
	switch r {
	case store.Applied:
		return OutcomeApplied
	case store.Stale:
		return OutcomeStale
	default:
		return OutcomeExpired
	}
}

// caughtUp marks the store ready and reports how long the initial load took.
func (c *Consumer) caughtUp() {
	c.store.MarkCaughtUp()
	c.logger.Info("caught up with snapshots",
		zap.Int64("records", c.records.Load()),
		zap.Duration("elapsed", c.clock.Now().Sub(c.startedAt)),
	)
}

// decode parses a record value and checks that it is a snapshot the store can use, filed
// under its own key.
func decode(key, value []byte) (snap *snapshot.Snapshot, err error) {
	// snapshot.Decode divides by the window size before it knows the size is valid, so a
	// record without one panics; turn that into an ordinary bad record.
	defer func() {
		if r := recover(); r != nil {
			snap, err = nil, fmt.Errorf("%w: decode snapshot: %v", ErrMalformed, r)
		}
	}()

	snap, err = snapshot.Decode(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if snap.Size != window.Minute && snap.Size != window.Hour {
		return nil, fmt.Errorf("%w: window size %d", ErrMalformed, int64(snap.Size))
	}
	if snap.Partition < 0 {
		return nil, fmt.Errorf("%w: source partition %d", ErrMalformed, snap.Partition)
	}
	// Compaction keeps one record per key; a value filed under another window's key would
	// survive or vanish with the wrong one.
	if !bytes.Equal(key, snap.Key()) {
		return nil, fmt.Errorf("%w: key %.64q does not match value %q",
			ErrMalformed,
			key,
			snap.Key(),
		)
	}
	return snap, nil
}

// backoff doubles from lo with every failure, up to hi.
func backoff(failures int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// sleep waits for d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// admin runs f with a fresh admin client and a context bounded by AttemptTimeout, retrying
// until it succeeds or ctx ends. The client is new for every attempt because a kafka-go
// Transport keeps answering with a failed connection's error until its next metadata refresh,
// which would hold the service back for seconds after the broker is up again.
func (c *Consumer) admin(
	ctx context.Context,
	what string,
	f func(ctx context.Context, client *kafka.Client) error,
) error {
	return c.retry(ctx, what, func() error {
		client := kafkasetup.NewClient(c.cfg.Brokers, c.cfg.ClientID+"-admin")
		defer closeIdle(client)
		attemptCtx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		defer cancel()
		return f(attemptCtx, client)
	})
}

// retry calls f until it succeeds or ctx ends, waiting with backoff between tries. The first
// failure is logged at warn, the rest at debug, and a recovery at info.
func (c *Consumer) retry(ctx context.Context, what string, f func() error) error {
	for failures := 0; ; {
		err := f()
		if err == nil {
			if failures > 0 {
				c.logger.Info(what+" recovered", zap.Int("failures", failures))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		if failures == 1 {
			c.logger.Warn(what+" failed, retrying", zap.Error(err))
		} else {
			c.logger.Debug(what+" failed again", zap.Int("failures", failures), zap.Error(err))
		}
		if !sleep(ctx, backoff(failures, c.cfg.MinBackoff, c.cfg.MaxBackoff)) {
			return ctx.Err()
		}
	}
}

// closeIdle releases the admin client's pooled connections.
func closeIdle(client *kafka.Client) {
	if t, ok := client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}
