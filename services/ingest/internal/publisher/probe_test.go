package publisher

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakePing answers as told and counts how often it was asked.
type fakePing struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (f *fakePing) ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakePing) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakePing) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestBrokerProbeCaches(t *testing.T) {
	const ttl = 2 * time.Second
	down := errors.New("connection refused")
	// Each step moves the clock by advance, sets the broker's answer, then checks.
	type step struct {
		advance   time.Duration
		brokerErr error
		wantErr   bool
		wantPings int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "an answer is reused within the ttl",
			steps: []step{
				{wantPings: 1},
				{advance: ttl - time.Millisecond, brokerErr: down, wantPings: 1},
			},
		},
		{
			name: "the broker is asked again after the ttl",
			steps: []step{
				{wantPings: 1},
				{advance: ttl, brokerErr: down, wantErr: true, wantPings: 2},
			},
		},
		{
			name: "a failure is reused too",
			steps: []step{
				{brokerErr: down, wantErr: true, wantPings: 1},
				{advance: time.Second, wantErr: true, wantPings: 1},
				{advance: time.Second, wantPings: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1608102640, 0)
			broker := &fakePing{}
			b := newBrokerProbe(ttl, time.Second, func() time.Time { return now }, broker.ping)

			for i, s := range tt.steps {
				now = now.Add(s.advance)
				broker.set(s.brokerErr)

				err := b.check(context.Background())

				if (err != nil) != s.wantErr {
					t.Fatalf("step %d: check = %v, want error %v", i, err, s.wantErr)
				}
				if err != nil && !errors.Is(err, ErrUnavailable) {
					t.Errorf("step %d: check = %v, want it to wrap ErrUnavailable", i, err)
				}
				if got := broker.count(); got != s.wantPings {
					t.Errorf("step %d: %d pings, want %d", i, got, s.wantPings)
				}
			}
		})
	}
}

func TestBrokerProbeDoesNotQueue(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := func(context.Context) error {
		close(entered)
		<-release
		return nil
	}
	now := time.Unix(1608102640, 0)
	b := newBrokerProbe(time.Second, time.Minute, func() time.Time { return now }, slow)

	first := make(chan error, 1)
	go func() { first <- b.check(context.Background()) }()
	<-entered

	// While the first check waits for the broker, others answer at once from what is known,
	// which before any answer is "unavailable".
	if err := b.check(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("check during the first = %v, want ErrUnavailable", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first check = %v, want nil", err)
	}
	if err := b.check(context.Background()); err != nil {
		t.Errorf("check after the answer = %v, want the cached nil", err)
	}
}

func TestBrokerProbeForgetsCanceledCheck(t *testing.T) {
	now := time.Unix(1608102640, 0)
	// Stands for a broker slower than the caller's patience.
	canceled := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	b := newBrokerProbe(time.Second, time.Minute, func() time.Time { return now }, canceled)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.check(ctx); err == nil {
		t.Fatal("check with a canceled context = nil, want an error")
	}

	// The caller gave up, which says nothing about the broker: the next check asks again.
	broker := &fakePing{}
	b.ping = broker.ping
	if err := b.check(context.Background()); err != nil {
		t.Errorf("next check = %v, want nil", err)
	}
	if got := broker.count(); got != 1 {
		t.Errorf("%d pings after the canceled check, want 1", got)
	}
}
