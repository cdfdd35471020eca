// Package procs runs the toptraffic binaries as child processes for the benchmarks: it starts
// them with their own settings, keeps every output line with the time it was read (so phases
// can be timed from log lines such as "partition rebuilt"), reads their memory from /proc, and
// stops them with SIGTERM, then SIGKILL after a deadline.
package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrExited is returned by waits on a process that exited first.
var ErrExited = errors.New("process exited")

// Line is one line of a process's output and when it was read.
type Line struct {
	At   time.Time
	Text string
}

// Proc is one running child process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *os.File

	mu      sync.Mutex
	lines   []Line
	changed chan struct{} // closed and replaced on every new line and on exit
	exited  bool
	waitErr error
	done    chan struct{}
}

// Start runs bin with args, and env added to a minimal environment, writing its output to
// logPath.
func Start(name, bin string, args []string, logPath string, env ...string) (*Proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: create log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	// Only what the services need: a setting inherited from the caller's shell (a PORT or a
	// KAFKA_BROKERS meant for something else) must not leak into a benchmark.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	// Own process group, so a Ctrl-C in the terminal reaches only the benchmark, which stops
	// the children in order; and a SIGKILL if the benchmark itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, log: log, changed: make(chan struct{}),
		done: make(chan struct{})}
	go p.read(out)
	return p, nil
}

// read keeps every output line until the process closes its output, then waits for it.
func (p *Proc) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		at := time.Now()
		text := sc.Text()
		_, _ = p.log.WriteString(text + "\n")
		p.mu.Lock()
		p.lines = append(p.lines, Line{At: at, Text: text})
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	_ = p.log.Close()
	p.mu.Lock()
	p.exited, p.waitErr = true, err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	close(p.done)
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Lines returns the output lines that contain substr.
func (p *Proc) Lines(substr string) []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Line
	for _, l := range p.lines {
		if strings.Contains(l.Text, substr) {
			out = append(out, l)
		}
	}
	return out
}

// WaitLines waits until n output lines contain substr and returns them, or fails when ctx
// ends or the process exits first.
func (p *Proc) WaitLines(ctx context.Context, substr string, n int) ([]Line, error) {
	for {
		p.mu.Lock()
		changed, exited := p.changed, p.exited
		p.mu.Unlock()
		if got := p.Lines(substr); len(got) >= n {
			return got, nil
		}
		if exited {
			return nil, fmt.Errorf("%s: wait for %d lines %q: %w", p.Name, n, substr, ErrExited)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: wait for %d lines %q (have %d): %w", p.Name, n, substr,
				len(p.Lines(substr)), ctx.Err())
		case <-changed:
		}
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then kills it. It is
// safe to call on a process that already exited, and twice.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		return fmt.Errorf("stop %s: %w", p.Name, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stop %s: still running after %v, killed", p.Name, timeout)
	}
}

// Memory is a process's resident memory from /proc/<pid>/status, in bytes.
type Memory struct {
	// RSS is VmRSS, the resident set now; HWM is VmHWM, its peak.
	RSS int64 `json:"rss_bytes"`
	HWM int64 `json:"hwm_bytes"`
}

// Memory reads the process's resident memory.
func (p *Proc) Memory() (Memory, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid()), "status"))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of %s: %w", p.Name, err)
	}
	var m Memory
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(
			strings.TrimSpace(val), "kB")), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("read memory of %s: %s: %w", p.Name, key, err)
		}
		*dst = kb << 10
	}
	return m, nil
}

// clockTicks is the kernel's USER_HZ, the unit of the CPU times in /proc/<pid>/stat; it is 100
// on every Linux architecture Go runs on.
const clockTicks = 100

// CPUTime returns the CPU time (user and system) the process has used so far.
func (p *Proc) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid()), "stat"))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of %s: %w", p.Name, err)
	}
	// The command name in parentheses may hold spaces; the fields after it do not. utime and
	// stime are the 14th and 15th fields, the 12th and 13th after the name.
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("read cpu time of %s: short stat line", p.Name)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time of %s: %w", p.Name, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// poll calls ok every interval until it reports true or ctx ends.
func poll(ctx context.Context, interval time.Duration, ok func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(ctx context.Context, addr string) error {
	err := poll(ctx, 50*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	if err != nil {
		return fmt.Errorf("wait for %s to accept connections: %w", addr, err)
	}
	return nil
}

// WaitReady waits until GET url answers 200, or the process exits.
func WaitReady(ctx context.Context, p *Proc, url string) error {
	client := &http.Client{Timeout: time.Second}
	err := poll(ctx, 50*time.Millisecond, func() bool {
		if p.Exited() {
			return true
		}
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if p.Exited() {
		return fmt.Errorf("wait for %s to be ready: %w", p.Name, ErrExited)
	}
	if err != nil {
		return fmt.Errorf("wait for %s at %s to be ready: %w", p.Name, url, err)
	}
	return nil
}
