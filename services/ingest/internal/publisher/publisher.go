// Package publisher is the Kafka side of the ingest gateway: it makes sure the counters topic
// exists, then writes records for many HTTP requests at once through one asynchronous producer,
// and tells each request when the broker has acknowledged every one of its records.
//
// Concurrent requests share producer batches: each request hands its records to the one
// kafka-go Writer in a single call, every record carries a pointer to the request's waiter,
// and the Writer's completion callback counts the acknowledged records down. A request
// returns when its count reaches zero, when any of its records fails, or when the produce
// timeout passes, whichever comes first.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/kafkasetup"
)

const (
	// produceAttempts bounds the producer's retries of one batch, so that a batch whose
	// requests have long given up does not keep the Writer busy, and Close stays bounded.
	produceAttempts = 3

	// Backoff between produce attempts of one batch.
	produceBackoffMin = 100 * time.Millisecond
	produceBackoffMax = time.Second

	// Defaults for the topic set-up loop.
	defaultSetupAttemptTimeout = 10 * time.Second
	defaultSetupBackoff        = time.Second

	// Defaults for the broker check behind Check.
	defaultProbeTTL     = 2 * time.Second
	defaultProbeTimeout = time.Second
)

// Config says where to publish and how long to wait.
type Config struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string

	// ClientID names the gateway to the brokers.
	ClientID string

	// Topic is the counters topic. It is created with Partitions and ReplicationFactor when
	// missing; an existing topic is used as it is.
	Topic             string
	Partitions        int
	ReplicationFactor int

	// ProduceTimeout bounds one Publish call, and one produce attempt of a batch.
	ProduceTimeout time.Duration

	// BatchTimeout is how long a partition's batch may wait for more records before it is
	// sent; BatchSize is how many records fill it early.
	BatchTimeout time.Duration
	BatchSize    int

	// CloseTimeout bounds how long Close waits for the producer to flush.
	CloseTimeout time.Duration

	// SetupAttemptTimeout bounds one attempt to create and confirm the topic; SetupBackoff is
	// the pause before the next. Zero means 10s and 1s.
	SetupAttemptTimeout time.Duration
	SetupBackoff        time.Duration

	// ProbeTTL is how long Check reuses a broker's answer; ProbeTimeout bounds one request
	// to it. Zero means 2s and 1s.
	ProbeTTL     time.Duration
	ProbeTimeout time.Duration

	// Hooks observe Publish calls, for metrics.
	Hooks Hooks
}

// Hooks let the caller observe a Publisher. Either may be nil. They run on the goroutine of
// the Publish call, after its outcome is known, so they must be quick.
type Hooks struct {
	// Acked is called when every record of a Publish call was acknowledged, with the time
	// from handing the records to the producer to the last acknowledgement.
	Acked func(records int, took time.Duration)
	// Failed is called with the error of every Publish call that returns one.
	Failed func(err error)
}

// Publisher writes records to the counters topic. Build it with New, start Run, and Close it
// after the HTTP server has stopped, so that every request's records are flushed.
type Publisher struct {
	cfg    Config
	logger *zap.Logger
	// setupLogger has no topic field: kafkasetup adds its own.
	setupLogger *zap.Logger

	// lost carries a writer whose topic the broker no longer knows, e.g. a development
	// broker restarted without its data; Run then sets the topic up again.
	lost chan *kafka.Writer

	// writer is nil until Run has confirmed the topic, and again after Close.
	writer atomic.Pointer[kafka.Writer]
	closed atomic.Bool
	// mu orders Run's installing of the writer against Close, so that a writer built while
	// Close runs is closed rather than leaked.
	mu sync.Mutex

	// probe answers Check without asking the broker more than once per ProbeTTL.
	probe       *brokerProbe
	probeClient *kafka.Client

	closeOnce sync.Once
	closeErr  error
}

// New returns a Publisher that is not ready yet; Run makes it ready.
func New(cfg Config, logger *zap.Logger) *Publisher {
	if cfg.SetupAttemptTimeout <= 0 {
		cfg.SetupAttemptTimeout = defaultSetupAttemptTimeout
	}
	if cfg.SetupBackoff <= 0 {
		cfg.SetupBackoff = defaultSetupBackoff
	}
	if cfg.ProbeTTL <= 0 {
		cfg.ProbeTTL = defaultProbeTTL
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = defaultProbeTimeout
	}
	p := &Publisher{
		cfg:         cfg,
		logger:      logger.With(zap.String("topic", cfg.Topic)),
		setupLogger: logger,
		lost:        make(chan *kafka.Writer, 1),
		// A client of its own keeps one idle connection to the broker between checks.
		probeClient: kafkasetup.NewClient(cfg.Brokers, cfg.ClientID+"-probe"),
	}
	p.probe = newBrokerProbe(cfg.ProbeTTL, cfg.ProbeTimeout, time.Now, p.ping)
	return p
}

// Ready reports whether the topic is confirmed and Publish can write.
func (p *Publisher) Ready() bool {
	return p.writer.Load() != nil && !p.closed.Load()
}

// Check reports whether the gateway can take counters now: nil once the topic is confirmed
// and a broker answered within the last ProbeTTL. Otherwise it returns an error wrapping
// ErrNotReady (topic not confirmed, or closed) or ErrUnavailable (no broker answered).
//
// It is meant for readiness probes: a broker's answer is reused for ProbeTTL and at most one
// request is in flight, so however often it is called the broker sees one small request per
// ProbeTTL.
func (p *Publisher) Check(ctx context.Context) error {
	if !p.Ready() {
		return ErrNotReady
	}
	return p.probe.check(ctx)
}

// ping asks a broker for its API versions, the cheapest request there is; an answer proves the
// cluster is reachable over the producer's network path.
func (p *Publisher) ping(ctx context.Context) error {
	resp, err := p.probeClient.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		return fmt.Errorf("ask broker for api versions: %w", err)
	}
	if resp.Error != nil {
		return fmt.Errorf("ask broker for api versions: %w", resp.Error)
	}
	return nil
}

// Run creates or confirms the counters topic, retrying until it is ready or ctx ends, then
// makes the Publisher ready and waits for ctx to end. Should the broker later report the topic
// unknown, Run takes the Publisher out of service, sets the topic up again and resumes. It
// returns nil; an unreachable broker is a state to wait out, not an error.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		partitions, ok := p.ensureTopic(ctx)
		if !ok {
			return nil
		}
		if partitions != p.cfg.Partitions {
			// The partition count is part of the exactness: each domain must stay on one
			// partition, and a different count maps domains elsewhere than before.
			p.logger.Warn("counters topic partition count differs from the configured one",
				zap.Int("partitions", partitions),
				zap.Int("configured_partitions", p.cfg.Partitions),
			)
		}

		// The Writer gets a Transport of its own, made only now: a Transport caches
		// metadata, and one created before the topic existed could report it missing for a
		// while.
		w := p.newWriter()
		if !p.install(w) {
			_ = w.Close()
			return nil
		}
		p.logger.Info("publisher ready", zap.Int("partitions", partitions))

		if !p.awaitLost(ctx, w) {
			return nil
		}

		// Requests get 503 not_ready from here until the topic is back.
		if !p.uninstall(w) {
			return nil
		}
		p.logger.Warn("counters topic unknown to the broker, setting it up again")
		if err := p.closeWriter(w); err != nil {
			p.logger.Warn("closing the previous producer failed", zap.Error(err))
		}
	}
}

// awaitLost waits until the broker reports w's topic unknown (true) or ctx ends (false).
func (p *Publisher) awaitLost(ctx context.Context, w *kafka.Writer) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case lw := <-p.lost:
			// A report about an earlier writer may arrive late; it says nothing about w.
			if lw == w {
				return true
			}
		}
	}
}

// install makes w the writer unless Close has run; it reports whether it did.
func (p *Publisher) install(w *kafka.Writer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return false
	}
	p.writer.Store(w)
	return true
}

// uninstall takes w out of service unless Close has taken it already; it reports whether it
// did.
func (p *Publisher) uninstall(w *kafka.Writer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writer.CompareAndSwap(w, nil)
}

// topicLost asks Run to set the topic up again, once per writer: reports about an older
// writer, or a second report about the current one, change nothing.
func (p *Publisher) topicLost(w *kafka.Writer, err error) {
	if !errors.Is(err, kafka.UnknownTopicOrPartition) || p.writer.Load() != w {
		return
	}
	select {
	case p.lost <- w:
	default:
	}
}

// ensureTopic retries topic set-up until it succeeds or ctx ends; ok is false in the latter
// case.
func (p *Publisher) ensureTopic(ctx context.Context) (partitions int, ok bool) {
	topic := kafkasetup.Topic{
		Name:              p.cfg.Topic,
		Partitions:        p.cfg.Partitions,
		ReplicationFactor: p.cfg.ReplicationFactor,
	}
	for attempt := 1; ; attempt++ {
		counts, err := p.ensureTopicOnce(ctx, topic)
		if err == nil {
			return counts[p.cfg.Topic], true
		}
		if ctx.Err() != nil {
			return 0, false
		}
		p.logger.Warn("counters topic not ready, retrying",
			zap.Int("attempt", attempt),
			zap.Duration("retry_in", p.cfg.SetupBackoff),
			zap.Error(err),
		)

		t := time.NewTimer(p.cfg.SetupBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, false
		case <-t.C:
		}
	}
}

func (p *Publisher) ensureTopicOnce(
	ctx context.Context,
	topic kafkasetup.Topic,
) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SetupAttemptTimeout)
	defer cancel()

	// A fresh client per attempt, so no metadata cached by a failed attempt is reused.
	client := kafkasetup.NewClient(p.cfg.Brokers, p.cfg.ClientID+"-setup")
	if t, ok := client.Transport.(*kafka.Transport); ok {
		defer t.CloseIdleConnections()
	}
	counts, err := kafkasetup.EnsureTopics(ctx, client, p.setupLogger, topic)
	if err != nil {
		return nil, fmt.Errorf("ensure topic %s: %w", topic.Name, err)
	}
	return counts, nil
}

func (p *Publisher) newWriter() *kafka.Writer {
	logger := p.logger.Named("kafka")
	return &kafka.Writer{
		Addr:  kafka.TCP(p.cfg.Brokers...),
		Topic: p.cfg.Topic,
		// The Java client's default partitioner, set explicitly: kafka-go's default is
		// round-robin, which would spread one domain over every partition.
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		Async:                  true,
		Completion:             complete,
		BatchSize:              p.cfg.BatchSize,
		BatchTimeout:           p.cfg.BatchTimeout,
		MaxAttempts:            produceAttempts,
		WriteBackoffMin:        produceBackoffMin,
		WriteBackoffMax:        produceBackoffMax,
		ReadTimeout:            p.cfg.ProduceTimeout,
		WriteTimeout:           p.cfg.ProduceTimeout,
		// The Writer looks the topic's metadata up once per record; the cache makes that an
		// atomic load instead of a trip through the Transport.
		Transport: newMetadataCache(
			kafkasetup.NewTransport(p.cfg.ClientID),
			p.cfg.Topic,
			metadataCacheTTL,
			afterFunc,
		),
		// Failed attempts reach the requests that waited on them, which report them; the
		// Writer's own lines are detail for debugging.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			logger.Debug("producer error", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	}
}

// Publish writes msgs, which must have Key, Value and Time set and no Topic, and returns nil
// once the broker has acknowledged every one of them. It returns an error wrapping
// ErrNotReady, ErrClosed, ErrAckTimeout or ErrUnavailable otherwise; records of a failed call
// may still have been written.
//
// Publish takes msgs over: it sets their WriterData, and the producer reads their keys and
// values until it has sent them, possibly after Publish has returned.
func (p *Publisher) Publish(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	err := p.publish(ctx, msgs)
	if err != nil && p.cfg.Hooks.Failed != nil {
		p.cfg.Hooks.Failed(err)
	}
	return err
}

func (p *Publisher) publish(ctx context.Context, msgs []kafka.Message) error {
	w := p.writer.Load()
	if w == nil {
		if p.closed.Load() {
			return ErrClosed
		}
		return ErrNotReady
	}

	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.ProduceTimeout, ErrAckTimeout)
	defer cancel()

	wt := newWaiter(len(msgs))
	for i := range msgs {
		msgs[i].WriterData = wt
	}

	// One call for the whole request: the Writer then spreads the records over the
	// partitions' open batches, which other requests fill too. In async mode it returns once
	// they are queued; it fails only before queueing any, e.g. when metadata cannot be read.
	began := time.Now()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		p.topicLost(w, err)
		switch {
		case errors.Is(err, io.ErrClosedPipe):
			return ErrClosed
		case errors.Is(context.Cause(ctx), ErrAckTimeout):
			return fmt.Errorf("queue %d records: %w", len(msgs), ErrAckTimeout)
		}
		return fmt.Errorf("queue %d records: %w: %w", len(msgs), ErrUnavailable, err)
	}

	select {
	case <-wt.done:
		if err := wt.err; err != nil {
			p.topicLost(w, err)
			return fmt.Errorf("write %d records: %w: %w", len(msgs), ErrUnavailable, err)
		}
		if p.cfg.Hooks.Acked != nil {
			p.cfg.Hooks.Acked(len(msgs), time.Since(began))
		}
		return nil
	case <-ctx.Done():
		if cause := context.Cause(ctx); !errors.Is(cause, ErrAckTimeout) {
			return fmt.Errorf("wait for acks of %d records: %w", len(msgs), cause)
		}
		return fmt.Errorf("wait for acks of %d records after %s: %w",
			len(msgs), p.cfg.ProduceTimeout, ErrAckTimeout)
	}
}

// Close flushes the records the producer still holds and closes it, waiting at most
// CloseTimeout. Call it after the HTTP server has stopped. Later calls return the first
// call's result.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed.Store(true)
		w := p.writer.Swap(nil)
		p.mu.Unlock()
		if t, ok := p.probeClient.Transport.(*kafka.Transport); ok {
			t.CloseIdleConnections()
		}
		if w == nil {
			return
		}

		start := time.Now()
		p.logger.Info("publisher flushing")
		if p.closeErr = p.closeWriter(w); p.closeErr == nil {
			p.logger.Info("publisher closed", zap.Duration("took", time.Since(start)))
		}
	})
	return p.closeErr
}

// closeWriter flushes and closes w, waiting at most CloseTimeout.
func (p *Publisher) closeWriter(w *kafka.Writer) error {
	// kafka-go's Close has no deadline of its own and a batch may be in its last attempts
	// against a dead broker; wait for it in a goroutine so that shutdown stays bounded. If
	// the deadline passes, the goroutine ends with the process.
	done := make(chan error, 1)
	go func() {
		err := w.Close()
		// The Writer leaves the Transport it was given open; once it has flushed, nothing
		// uses the Transport any more, and its connections and metadata refresher would
		// otherwise outlive every writer Run replaces.
		if t, ok := w.Transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
		done <- err
	}()
	t := time.NewTimer(p.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("close producer: %w", err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("close producer after %s: %w", p.cfg.CloseTimeout, ErrCloseTimeout)
	}
}
