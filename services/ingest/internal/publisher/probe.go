package publisher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// brokerProbe remembers whether the broker answered, so that readiness probes, which may come
// every second from several sources, cost the broker at most one request per ttl.
type brokerProbe struct {
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	ping    func(ctx context.Context) error

	mu sync.Mutex
	// checkedAt is when the last answer (or failure) arrived; zero before the first.
	checkedAt time.Time
	// err is that answer: nil when the broker answered.
	err error
	// inFlight is set while one caller asks the broker; the others reuse the last answer
	// instead of queueing behind it.
	inFlight bool
}

func newBrokerProbe(
	ttl, timeout time.Duration,
	now func() time.Time,
	ping func(ctx context.Context) error,
) *brokerProbe {
	return &brokerProbe{ttl: ttl, timeout: timeout, now: now, ping: ping}
}

// check returns the broker's last answer while it is younger than ttl, and asks again
// otherwise. A failure wraps ErrUnavailable.
func (b *brokerProbe) check(ctx context.Context) error {
	b.mu.Lock()
	fresh := !b.checkedAt.IsZero() && b.now().Sub(b.checkedAt) < b.ttl
	// Before the first answer there is nothing to reuse, so concurrent first callers report
	// unavailable rather than wait: a probe that fails once is simply repeated.
	if fresh || b.inFlight {
		err := b.err
		if b.checkedAt.IsZero() {
			err = fmt.Errorf("broker check in progress: %w", ErrUnavailable)
		}
		b.mu.Unlock()
		return err
	}
	b.inFlight = true
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := b.ping(ctx)
	if err != nil {
		err = fmt.Errorf("no broker answered within %s: %w: %w", b.timeout, ErrUnavailable, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight = false
	// A caller that went away (the prober gave up) learnt nothing about the broker; keep the
	// previous answer so that the next caller asks again.
	if errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	b.checkedAt, b.err = b.now(), err
	return err
}
