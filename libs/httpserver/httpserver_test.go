package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

func start(t *testing.T, cfg Config, h http.Handler) (*Server, context.CancelFunc, chan error) {
	t.Helper()
	s := New(cfg, h, zap.NewNop())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, cancel, done
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	s, cancel, done := start(t, Config{Addr: "127.0.0.1:0"}, h)

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr())
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	cancel()
	// The listener closes at once; the request in flight still completes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q, want %q", body, "done")
	}
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:0", ReadHeaderTimeout: 200 * time.Millisecond}
	s, cancel, done := start(t, cfg, http.NotFoundHandler())
	defer func() { cancel(); <-done }()

	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHo")); err != nil {
		t.Fatal(err)
	}
	// The server must close the connection once the header deadline passes.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (want the server to close the connection)", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("server closed the slow connection after %v, want about 200ms", waited)
	}
}

func TestListenError(t *testing.T) {
	s := New(Config{Addr: "127.0.0.1:-1"}, http.NotFoundHandler(), zap.NewNop())
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("Run() on a bad address succeeded, want an error")
	}
}
