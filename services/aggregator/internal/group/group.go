// Package group makes this process a member of the aggregators' consumer group and runs a
// partition runner for every partition the group assigns to it, one generation at a time.
//
// kafka-go's ConsumerGroup API is used instead of its group Reader so that each assigned
// partition starts from the replay point this package commits, not from the last record read,
// and so that a partition's runner has stopped before the group moves on: a generation ends only
// after every function it started has returned.
package group

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/services/aggregator/internal/partition"
	"toptraffic/services/aggregator/internal/rollup"
)

// metadataPrefix versions the commit metadata, which carries the checkpoint's horizon.
const metadataPrefix = "toptraffic.v1 horizon_ms="

// Config sets up group membership.
type Config struct {
	Brokers           []string
	GroupID           string
	Topic             string
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
}

// RunnerFactory builds the runner for a partition, committing through c.
type RunnerFactory func(partition int, c partition.Committer) *partition.Runner

// Group is one member of the aggregators' consumer group.
type Group struct {
	cfg       Config
	cg        *kafka.ConsumerGroup
	client    *kafka.Client
	newRunner RunnerFactory
	logger    *zap.Logger

	mu       sync.Mutex
	assigned []int
	// generation is the id of the generation this member is in; joined says whether it is in
	// one at all (it is not before the first join or after Run returns).
	generation int32
	joined     bool
	once       sync.Once
	closeErr   error
}

// New joins nothing yet; Run does.
func New(cfg Config, client *kafka.Client, newRunner RunnerFactory, logger *zap.Logger) (*Group, error) {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Brokers,
		Topics:            []string{cfg.Topic},
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		// Adding partitions breaks the one-domain-one-partition invariant anyway (see
		// docs/design.md); watching for it would only hide that.
		WatchPartitionChanges: false,
		StartOffset:           kafka.FirstOffset,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			logger.Debug("kafka-go group", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer group %s: %w", cfg.GroupID, err)
	}
	return &Group{
		cfg:       cfg,
		cg:        cg,
		client:    client,
		newRunner: newRunner,
		logger:    logger.With(zap.String("group", cfg.GroupID), zap.String("topic", cfg.Topic)),
	}, nil
}

// Assigned returns the partitions of the current generation.
func (g *Group) Assigned() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.assigned...)
}

// Generation returns the id of the generation this member is in, and false while it is not in
// one: still joining after start, or stopped.
func (g *Group) Generation() (int32, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.generation, g.joined
}

// Run takes part in generation after generation until ctx ends or the group is closed. The
// runners of the last generation keep going until Close.
func (g *Group) Run(ctx context.Context) error {
	defer func() {
		g.mu.Lock()
		g.joined = false
		g.mu.Unlock()
	}()
	for {
		gen, err := g.cg.Next(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, kafka.ErrGroupClosed):
			return nil
		case err != nil:
			// kafka-go retries joining by itself and reports each failure; a broker outage
			// shows up here until the broker is back.
			g.logger.Warn("join consumer group failed, retrying", zap.Error(err))
			continue
		}

		parts := make([]int, 0, len(gen.Assignments[g.cfg.Topic]))
		for _, a := range gen.Assignments[g.cfg.Topic] {
			parts = append(parts, a.ID)
		}
		g.mu.Lock()
		g.assigned, g.generation, g.joined = parts, gen.ID, true
		g.mu.Unlock()
		g.logger.Info("generation started",
			zap.Int32("generation", gen.ID),
			zap.String("member", gen.MemberID),
			zap.Ints("partitions", parts))

		commit := &committer{client: g.client, gen: gen, topic: g.cfg.Topic}
		st := &starter{g: g, parts: parts}
		for _, p := range parts {
			gen.Start(func(ctx context.Context) { g.runPartition(ctx, gen, p, commit, st) })
		}
	}
}

func (g *Group) runPartition(
	ctx context.Context,
	gen *kafka.Generation,
	p int,
	c *committer,
	st *starter,
) {
	logger := g.logger.With(zap.Int("partition", p), zap.Int32("generation", gen.ID))
	// Returning early would end the generation for every member, so a runner that fails is
	// restarted from the last commit instead.
	for ctx.Err() == nil {
		var start partition.Start
		err := retry(ctx, func() error {
			var err error
			start, err = st.get(ctx, p)
			return err
		}, func(err error) {
			logger.Warn("read partition start failed, retrying", zap.Error(err))
		})
		if err != nil {
			return // the generation ended before the partition could start
		}
		err = g.newRunner(p, c).Run(ctx, start)
		if err == nil {
			return
		}
		logger.Error("partition runner failed, rebuilding from the last commit", zap.Error(err))
		st.forget()
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// starter reads where each partition of one generation starts, for all of them in one
// OffsetFetch and one ListOffsets request: the first runner to ask fetches, the rest reuse it.
type starter struct {
	g     *Group
	parts []int
	mu    sync.Mutex
	got   map[int]partition.Start
}

func (st *starter) get(ctx context.Context, p int) (partition.Start, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.got == nil {
		got, err := st.g.starts(ctx, st.parts)
		if err != nil {
			return partition.Start{}, err
		}
		st.got = got
	}
	return st.got[p], nil
}

// forget drops the cached starts, for a runner that restarts from the last commit.
func (st *starter) forget() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.got = nil
}

// starts reads the committed checkpoint of each partition, or for a partition never committed
// its first offset, and each partition's current end.
func (g *Group) starts(ctx context.Context, parts []int) (map[int]partition.Start, error) {
	fetched, err := g.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: g.cfg.GroupID,
		Topics:  map[string][]int{g.cfg.Topic: parts},
	})
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", err)
	}
	if fetched.Error != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", fetched.Error)
	}
	type commit struct {
		offset   int64
		metadata string
	}
	commits := map[int]commit{}
	for _, fp := range fetched.Topics[g.cfg.Topic] {
		if fp.Error != nil {
			return nil, fmt.Errorf("fetch committed offset of partition %d: %w", fp.Partition, fp.Error)
		}
		commits[fp.Partition] = commit{fp.CommittedOffset, fp.Metadata}
	}

	firsts, err := g.listOffsets(ctx, parts, kafka.FirstOffsetOf)
	if err != nil {
		return nil, err
	}
	lasts, err := g.listOffsets(ctx, parts, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	type bounds struct{ first, last int64 }
	logBounds := map[int]bounds{}
	for _, p := range parts {
		first, ok1 := firsts[p]
		last, ok2 := lasts[p]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("list offsets: no answer for partition %d", p)
		}
		logBounds[p] = bounds{first, last}
	}

	out := make(map[int]partition.Start, len(parts))
	for _, p := range parts {
		b := logBounds[p]
		s := partition.Start{End: b.last}
		c, ok := commits[p]
		if !ok || c.offset < 0 {
			s.Checkpoint = rollup.Checkpoint{Offset: b.first}
			out[p] = s
			continue
		}
		horizon, err := parseMetadata(c.metadata)
		if err != nil {
			// An offset committed by something else: the horizon is unknown, so start with none.
			g.logger.Warn("commit metadata unreadable, starting with a zero horizon",
				zap.Int("partition", p), zap.Error(err))
		}
		if c.offset < b.first {
			// Retention deleted records the replay point still needed; the windows that held
			// them are long closed unless retention is shorter than an hour.
			g.logger.Warn("replay point below the log start, records were deleted",
				zap.Int("partition", p),
				zap.Int64("replay_from", c.offset),
				zap.Int64("log_start", b.first))
			c.offset = b.first
		}
		s.Checkpoint = rollup.Checkpoint{Offset: c.offset, HorizonMs: horizon}
		out[p] = s
	}
	return out, nil
}

// listOffsets asks for one kind of offset (first or last) of every partition. The two kinds go
// in separate requests: Kafka refuses a partition named twice in one ListOffsets request, and
// kafka-go files a broker's answer under the timestamp the broker echoes (-1 for both kinds), so
// an answer is taken from whichever field kafka-go put it in.
func (g *Group) listOffsets(
	ctx context.Context,
	parts []int,
	of func(int) kafka.OffsetRequest,
) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = of(p)
	}
	resp, err := g.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{g.cfg.Topic: reqs},
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[g.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of partition %d: %w", po.Partition, po.Error)
		}
		out[po.Partition] = max(po.FirstOffset, po.LastOffset)
	}
	return out, nil
}

// Close ends the current generation, which stops every runner after its final publish and
// commit, and leaves the group so the remaining members rebalance at once. It is safe to call
// twice.
func (g *Group) Close() error {
	g.once.Do(func() {
		if err := g.cg.Close(); err != nil {
			g.closeErr = fmt.Errorf("leave consumer group %s: %w", g.cfg.GroupID, err)
		}
		g.logger.Info("left consumer group")
	})
	return g.closeErr
}

// committer commits checkpoints on behalf of one generation: a commit from a member whose
// generation has ended is refused by the broker, which is what keeps a stale owner from moving
// the replay point.
type committer struct {
	client *kafka.Client
	gen    *kafka.Generation
	topic  string
}

// Commit implements partition.Committer.
func (c *committer) Commit(ctx context.Context, p int, cp rollup.Checkpoint) error {
	resp, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      c.gen.GroupID,
		GenerationID: int(c.gen.ID),
		MemberID:     c.gen.MemberID,
		Topics: map[string][]kafka.OffsetCommit{
			c.topic: {{Partition: p, Offset: cp.Offset, Metadata: formatMetadata(cp.HorizonMs)}},
		},
	})
	if err != nil {
		return fmt.Errorf("commit partition %d: %w", p, err)
	}
	for _, pr := range resp.Topics[c.topic] {
		if pr.Error != nil {
			return fmt.Errorf("commit partition %d: %w", p, pr.Error)
		}
	}
	return nil
}

func formatMetadata(horizonMs int64) string {
	return metadataPrefix + strconv.FormatInt(horizonMs, 10)
}

func parseMetadata(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, metadataPrefix)
	if !ok {
		return 0, fmt.Errorf("parse commit metadata %.40q: missing %q", s, metadataPrefix)
	}
	v, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse commit metadata %.40q: %w", s, err)
	}
	return v, nil
}

// retry calls f until it succeeds or ctx ends, backing off up to two seconds between tries.
func retry(ctx context.Context, f func() error, onErr func(error)) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		onErr(err)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
