package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kafkaLocal reports whether the external broker is the one scripts/kafka-local runs for this
// test process (scripts/test-kafka exports KAFKA_LOCAL_PORT), which the harness may stop and
// start again.
func kafkaLocal() bool {
	port := os.Getenv("KAFKA_LOCAL_PORT")
	return port != "" && os.Getenv("KAFKA_BROKERS") == "127.0.0.1:"+port
}

// CanRestartBroker reports whether StopBroker and StartBroker work in this run: always for the
// embedded broker, and for a real Kafka only when scripts/kafka-local started it.
func CanRestartBroker() bool { return !External() || kafkaLocal() }

// StopBroker stops the broker gracefully and keeps its data: the embedded broker writes its
// state to its data dir, a real Kafka is stopped with `scripts/kafka-local stop --keep-data`.
func (s *Stack) StopBroker(t testing.TB, timeout time.Duration) {
	t.Helper()
	began := time.Now()
	if !External() {
		s.Broker.Stop(timeout)
	} else {
		// Other test processes may have stacks on the same broker: wait until they are done.
		s.brokerLock.exclusive(t, 5*time.Minute)
		kafkaLocalCmd(t, timeout, "stop", "--keep-data")
	}
	t.Logf("broker stopped in %v", time.Since(began).Round(10*time.Millisecond))
}

// KillBroker kills the embedded broker with SIGKILL, as a crash would; its data dir stays.
func (s *Stack) KillBroker(t testing.TB) {
	t.Helper()
	if External() {
		t.Fatal("KillBroker needs the embedded broker")
	}
	s.Broker.Kill()
	t.Logf("broker killed with SIGKILL")
}

// StartBroker starts the broker StopBroker stopped or KillBroker killed, on the same address
// and data, and waits until it answers.
func (s *Stack) StartBroker(t testing.TB, timeout time.Duration) {
	t.Helper()
	began := time.Now()
	if !External() {
		s.Broker.Restart()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := WaitPort(ctx, s.Brokers); err != nil {
			t.Fatal(err)
		}
	} else {
		kafkaLocalCmd(t, timeout, "start")
		s.brokerLock.shared(t)
	}
	t.Logf("broker started again in %v", time.Since(began).Round(10*time.Millisecond))
}

func kafkaLocalCmd(t testing.TB, timeout time.Duration, args ...string) {
	t.Helper()
	if !kafkaLocal() {
		t.Fatalf("the external broker %s was not started by scripts/kafka-local",
			os.Getenv("KAFKA_BROKERS"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "scripts", "kafka-local"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/kafka-local %v: %v\n%s", args, err, tail(out, 4000))
	}
	t.Logf("scripts/kafka-local %v:\n%s", args, tail(out, 1000))
}

// brokerLock keeps a broker outage from hitting another test process: go test runs the
// packages of ./tests/... in parallel, and on a real Kafka they all share one broker. Every
// stack on an external broker holds the lock shared for its lifetime; StopBroker takes it
// exclusively, so it waits for the other processes' stacks, and StartBroker shares it again.
type brokerLock struct{ f *os.File }

// lockBroker takes the lock of brokers shared, waiting while another process has the broker
// stopped.
func lockBroker(t testing.TB, brokers string) *brokerLock {
	t.Helper()
	name := strings.NewReplacer(":", "_", ",", "_", "/", "_").Replace(brokers)
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "toptraffic-broker-"+name+".lock"),
		os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("open broker lock: %v", err)
	}
	l := &brokerLock{f: f}
	t.Cleanup(func() { f.Close() })
	l.shared(t)
	return l
}

func (l *brokerLock) shared(t testing.TB) {
	t.Helper()
	l.take(t, syscall.LOCK_SH, 5*time.Minute)
}

func (l *brokerLock) exclusive(t testing.TB, timeout time.Duration) {
	t.Helper()
	began := time.Now()
	l.take(t, syscall.LOCK_EX, timeout)
	if waited := time.Since(began); waited > time.Second {
		t.Logf("waited %v for other test processes to leave the broker",
			waited.Round(100*time.Millisecond))
	}
}

// take polls for the lock rather than blocking, so a stuck holder fails the test instead of
// hanging it. A failed attempt to turn a shared lock exclusive drops the shared one; nothing
// depends on it in between.
func (l *brokerLock) take(t testing.TB, how int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("broker lock %s held by another test process", l.f.Name())
		}
		if err != nil {
			t.Fatalf("lock %s: %v", l.f.Name(), err)
		}
		return nil
	})
}
