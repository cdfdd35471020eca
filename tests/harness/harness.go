// Package harness runs the real toptraffic binaries as processes on loopback for the integration
// and fault suites: it builds them once, starts a broker (or uses the one KAFKA_BROKERS names),
// gives every stack its own topics and consumer group, and stops or kills processes on demand.
// For the fault suite it also streams counters while keeping the ground truth (Load, Plan,
// Truth), reads consumer-group generations from the aggregators' logs, and stops and starts
// the broker on its data.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// repoRoot is the directory holding go.work, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries builds the four services once per test process and returns their directory.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "toptraffic-bin-")
		if buildErr != nil {
			return
		}
		for _, s := range []string{"devbroker", "ingest", "aggregator", "query"} {
			cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(binDir, s),
				"./services/"+s+"/cmd/"+s)
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %w\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build services: %v", buildErr)
	}
	return binDir
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is one service process. Its output goes to a log file that is printed if the test fails.
type Proc struct {
	Name string
	t    testing.TB
	bin  string
	env  []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start launches a process running bin with env added to the test's environment.
func Start(t testing.TB, name, bin string, env ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, t: t, bin: bin, env: env,
		log: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("---- last output of %s ----\n%s", name, b)
		}
	})
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "==== start %s at %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin)
	cmd.Env = append(append(os.Environ(), "LOG_FORMAT=console", "LOG_LEVEL=info"), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// Restart starts the process again with the same settings after it stopped.
func (p *Proc) Restart() { p.t.Helper(); p.start() }

// Stop sends SIGTERM and waits up to timeout for a clean exit; it fails the test otherwise. It
// returns how long the process took to exit.
func (p *Proc) Stop(timeout time.Duration) time.Duration {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	began := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			p.t.Errorf("%s exited with code %d after SIGTERM, want 0", p.Name, code)
		}
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		p.t.Errorf("%s did not stop within %v of SIGTERM", p.Name, timeout)
	}
	return time.Since(began)
}

// Kill sends SIGKILL, as a crash would, and waits for the process to be gone.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Log returns what the process has printed so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Eventually calls f until it returns nil or timeout passes, then fails with f's last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitPort waits until addr accepts TCP connections.
func WaitPort(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uniqueSuffix names a stack's topics and group so stacks can share one broker.
func uniqueSuffix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	return fmt.Sprintf("%s-%d", strings.ToLower(name), time.Now().UnixNano()%1_000_000_000)
}

// tail returns the last n bytes of b, for error messages.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
