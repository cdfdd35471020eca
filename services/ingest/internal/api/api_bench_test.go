package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/services/ingest/internal/metrics"
)

// acceptingPublisher acknowledges every record at once.
type acceptingPublisher struct{}

func (acceptingPublisher) Publish(context.Context, []kafka.Message) error { return nil }
func (acceptingPublisher) Check(context.Context) error                    { return nil }

// discardWriter is a ResponseWriter that keeps only the headers, so that the benchmark
// measures the gateway rather than a recorder.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkPostCounters is the gateway's own cost of one POST, as in the HTTP phase of
// BENCHMARKS.md (one counter with one domain), with metrics on and a publisher that
// acknowledges at once: routing, middleware, parsing, records and the JSON answer, without
// net/http's connection handling or Kafka.
func BenchmarkPostCounters(b *testing.B) {
	for _, domains := range []int{1, 10} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			benchmarkPostCounters(b, domains)
		})
	}
}

func benchmarkPostCounters(b *testing.B, domains int) {
	cfg := testConfig()
	cfg.MaxBodyBytes = 1 << 20
	cfg.Limits.MaxDomainsPerCounter = domains
	clk := clock.NewFake(testNow)
	h := New(cfg, Deps{
		Publisher: acceptingPublisher{},
		Stats:     statsStub(),
		Clock:     clk,
		Metrics:   metrics.New(clk),
		Logger:    zap.NewNop(),
	})

	body := fmt.Appendf(nil, `{"timestamp":%d`, tsNow)
	for i := range domains {
		body = fmt.Appendf(body, `,"site%d.example.com":%d`, i, i+1)
	}
	body = append(body, '}')
	target, err := url.Parse(RouteCounters)
	if err != nil {
		b.Fatal(err)
	}

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{header: http.Header{}}
		for pb.Next() {
			req := &http.Request{
				Method:        http.MethodPost,
				URL:           target,
				Proto:         "HTTP/1.1",
				ProtoMajor:    1,
				ProtoMinor:    1,
				Header:        http.Header{"Content-Type": {"application/json"}},
				Body:          io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)),
				Host:          "gateway",
				RequestURI:    RouteCounters,
			}
			clear(w.header)
			w.status = 0
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Errorf("status %d, want 200", w.status)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process has used so far. On a machine shared with other
// work, CPU time per operation moves much less than wall time per operation.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
