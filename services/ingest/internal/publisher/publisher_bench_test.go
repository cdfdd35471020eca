package publisher

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/counter"
)

// BenchmarkPublish publishes requests of a few records from many goroutines at once, as the
// gateway does under load, against the in-process broker. The broker runs in the same process,
// so ns/op includes its share of the CPU; profile with -cpuprofile and look at the publisher's
// and kafka-go's frames.
func BenchmarkPublish(b *testing.B) {
	for _, records := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			benchmarkPublish(b, records)
		})
	}
}

func benchmarkPublish(b *testing.B, records int) {
	cluster := newCluster(b)
	cfg := testConfig(cluster.ListenAddrs())
	// The gateway's defaults.
	cfg.Partitions = 12
	cfg.BatchTimeout = 2 * time.Millisecond
	cfg.ProduceTimeout = 5 * time.Second
	p := startReady(b, cfg, zap.NewNop())

	// Keys and values are shared by every request: the producer only reads them.
	const domains = 1000
	keys := make([][]byte, domains)
	values := make([][]byte, domains)
	for i := range domains {
		keys[i] = fmt.Appendf(nil, "site%d.example.com", i)
		values[i] = counter.AppendRecord(nil, 1608102631, uint64(i+1))
	}

	// 64 requests in flight on 2 cores, like the HTTP benchmark's concurrency.
	b.SetParallelism(32)
	b.ReportAllocs()
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		next := 0
		for pb.Next() {
			msgs := make([]kafka.Message, records)
			for i := range msgs {
				d := (next + i) % domains
				msgs[i] = kafka.Message{Key: keys[d], Value: values[d], Time: recordTime}
			}
			next += records
			if err := p.Publish(context.Background(), msgs); err != nil {
				b.Errorf("Publish: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
	// The broker's share included: it runs in this process.
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
