package broker

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestPersistsAcrossRestart produces a record, restarts the broker on the same data dir and
// address, and reads the record back; a second record must then land after the first.
func TestPersistsAcrossRestart(t *testing.T) {
	logger, logs := observedLogger(t)
	dataDir := t.TempDir()
	const topic = "pageviews"

	first := startBroker(t, testConfig(dataDir), logger)
	addr := first.Addrs()[0]

	createTopic(t, addr, topic)
	produce(t, addr, topic, kafka.Message{Key: []byte("/home"), Value: []byte("1")})
	got := fetchAll(t, addr, topic, 1)
	if got[0].key != "/home" || got[0].value != "1" {
		t.Fatalf("before restart got %+v, want key /home value 1", got[0])
	}

	start := time.Now()
	if err := first.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	t.Logf("close with one topic took %s", time.Since(start))

	// Same address, so clients that knew the old broker find the new one.
	cfg := testConfig(dataDir)
	cfg.Addr = addr
	second := startBroker(t, cfg, logger)

	got = fetchAll(t, addr, topic, 1)
	if got[0].offset != 0 || got[0].key != "/home" || got[0].value != "1" {
		t.Fatalf("after restart got %+v, want offset 0 key /home value 1", got[0])
	}

	produce(t, addr, topic, kafka.Message{Key: []byte("/about"), Value: []byte("2")})
	got = fetchAll(t, addr, topic, 2)
	if got[1].offset != 1 || got[1].key != "/about" {
		t.Fatalf("after restart second record is %+v, want offset 1 key /about", got[1])
	}

	if err := second.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}

	// The start log must name the directory the data is in.
	started := logs.FilterMessage("broker listening").All()
	if len(started) != 2 {
		t.Fatalf("logged %d starts, want 2", len(started))
	}
	if got := started[0].ContextMap()["data_dir"]; got != dataDir {
		t.Errorf("start log data_dir = %v, want %s", got, dataDir)
	}
	if n := logs.FilterMessage("broker stopped").Len(); n != 2 {
		t.Errorf("logged %d stops, want 2", n)
	}
}

// TestInMemoryForgets checks that without a data dir a restart starts empty.
func TestInMemoryForgets(t *testing.T) {
	logger, _ := observedLogger(t)
	const topic = "scratch"

	first := startBroker(t, testConfig(""), logger)
	addr := first.Addrs()[0]
	createTopic(t, addr, topic)
	produce(t, addr, topic, kafka.Message{Value: []byte("x")})
	if err := first.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}

	cfg := testConfig("")
	cfg.Addr = addr
	startBroker(t, cfg, logger)

	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	resp, err := newClient(t, addr).Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("Metadata() error = %v", err)
	}
	for _, tp := range resp.Topics {
		if tp.Name == topic {
			t.Fatalf("topic %s survived a restart without a data dir", topic)
		}
	}
}

func TestRelativeDataDirIsLoggedAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	logger, logs := observedLogger(t)

	startBroker(t, testConfig(filepath.Join(".data", "devbroker")), logger)

	got, _ := logs.FilterMessage("broker listening").All()[0].ContextMap()["data_dir"].(string)
	if !filepath.IsAbs(got) || !strings.HasSuffix(got, filepath.Join(".data", "devbroker")) {
		t.Errorf("start log data_dir = %q, want an absolute path ending in .data/devbroker", got)
	}
}

func TestListensOnConfiguredHost(t *testing.T) {
	logger, _ := observedLogger(t)

	b := startBroker(t, testConfig(""), logger)

	addrs := b.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v, want one address", addrs)
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		t.Fatalf("split %q: %v", addrs[0], err)
	}
	if host != "127.0.0.1" || port == "0" {
		t.Errorf("Addrs() = %v, want 127.0.0.1 with the port that was picked", addrs)
	}
}

func TestNewFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = taken.Close() })

	tests := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{name: "port in use", addr: taken.Addr().String(), wantErr: "address already in use"},
		{name: "no port", addr: "127.0.0.1", wantErr: "split listen address"},
		{name: "port out of range", addr: "127.0.0.1:70000", wantErr: "parse port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := observedLogger(t)
			cfg := testConfig("")
			cfg.Addr = tt.addr

			b, err := New(cfg, logger)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New(%q) succeeded, want an error", tt.addr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New(%q) error = %q, want it to mention %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestRunAndClose(t *testing.T) {
	tests := []struct {
		name string
		// stop ends Run one way or the other.
		stop func(cancel context.CancelFunc, b *Broker)
	}{
		{name: "context cancelled", stop: func(cancel context.CancelFunc, _ *Broker) { cancel() }},
		{name: "broker closed", stop: func(_ context.CancelFunc, b *Broker) { _ = b.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := observedLogger(t)
			b := startBroker(t, testConfig(t.TempDir()), logger)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()

			tt.stop(cancel, b)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() error = %v, want nil", err)
				}
			case <-time.After(waitFor):
				t.Fatal("Run() did not return")
			}

			// Closing again, or for the first time after Run, must be harmless.
			for range 2 {
				if err := b.Close(); err != nil {
					t.Errorf("Close() error = %v", err)
				}
			}
		})
	}
}
