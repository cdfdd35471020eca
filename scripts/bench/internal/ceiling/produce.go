package ceiling

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"toptraffic/libs/counter"
)

// ErrConfig is wrapped by the errors of settings that cannot work.
var ErrConfig = errors.New("invalid ceiling configuration")

// Keys says how produced records pick their domain.
type Keys int

const (
	// KeysZipf draws each record's domain from a Zipf distribution over Domains domains, like
	// the load generator does.
	KeysZipf Keys = iota
	// KeysDistinct gives every record a domain of its own: Records distinct domains.
	KeysDistinct
)

// ProduceConfig describes a raw produce run: counters-topic records (key = domain, value =
// the gateway's record encoding) written with kafka-go alone.
type ProduceConfig struct {
	Brokers []string
	Topic   string
	Records int
	Keys    Keys
	// Domains and ZipfS shape KeysZipf; DomainPrefix starts every domain name.
	Domains      int
	ZipfS        float64
	DomainPrefix string
	// EventTs is the counter timestamp every record carries, in Unix seconds.
	EventTs int64
	// Writers is how many goroutines call WriteMessages at once, Chunk messages per call.
	Writers int
	Chunk   int
	// BatchSize and BatchTimeout are the kafka-go Writer's per-partition batching.
	BatchSize    int
	BatchTimeout time.Duration
	// Timeout bounds the whole run.
	Timeout time.Duration
}

// Rate is a count over a time.
type Rate struct {
	Records   int64   `json:"records"`
	ElapsedS  float64 `json:"elapsed_s"`
	PerSecond float64 `json:"per_second"`
}

func rateOf(n int64, d time.Duration) Rate {
	r := Rate{Records: n, ElapsedS: d.Seconds()}
	if d > 0 {
		r.PerSecond = float64(n) / d.Seconds()
	}
	return r
}

// Messages builds the records of a produce run up front, so generating them is not timed.
func Messages(c ProduceConfig) []kafka.Message {
	rng := rand.New(rand.NewPCG(42, uint64(c.Records)))
	var zipf *rand.Zipf
	if c.Keys == KeysZipf {
		zipf = rand.NewZipf(rng, c.ZipfS, 1, uint64(max(c.Domains, 1)-1))
	}
	// Keys and values share one buffer; a record takes at most the name and 21 value bytes.
	buf := make([]byte, 0, c.Records*(len(c.DomainPrefix)+40))
	msgs := make([]kafka.Message, c.Records)
	now := time.Now()
	for i := range msgs {
		rank := uint64(i)
		if zipf != nil {
			rank = zipf.Uint64()
		}
		start := len(buf)
		buf = append(buf, c.DomainPrefix...)
		buf = append(buf, '-')
		buf = strconv.AppendUint(buf, rank, 10)
		buf = append(buf, ".example.com"...)
		key := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = counter.AppendRecord(buf, c.EventTs, 1+rng.Uint64N(9))
		msgs[i] = kafka.Message{Key: key, Value: buf[start:len(buf):len(buf)], Time: now}
	}
	return msgs
}

// NewWriter returns the writer a raw produce run uses: batched, acks from all in-sync
// replicas, and the Java client's partitioner, as the gateway does.
func NewWriter(c ProduceConfig) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Topic:        c.Topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    c.BatchSize,
		BatchTimeout: c.BatchTimeout,
		BatchBytes:   4 << 20,
		MaxAttempts:  3,
		Transport:    &kafka.Transport{ClientID: "toptraffic-bench", DialTimeout: 5 * time.Second},
	}
}

// Produce writes msgs to the topic with Writers goroutines and reports the rate from the first
// call to the last acknowledgement.
func Produce(ctx context.Context, c ProduceConfig, msgs []kafka.Message) (Rate, error) {
	if c.Writers < 1 || c.Chunk < 1 {
		return Rate{}, fmt.Errorf("produce: %w: writers %d and chunk %d must be positive",
			ErrConfig, c.Writers, c.Chunk)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	w := NewWriter(c)
	defer w.Close()

	var next atomic.Int64
	var written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.Writers)
	began := time.Now()
	for range c.Writers {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(c.Chunk))) - c.Chunk
				if lo >= len(msgs) {
					return
				}
				chunk := msgs[lo:min(lo+c.Chunk, len(msgs))]
				if err := w.WriteMessages(ctx, chunk...); err != nil {
					errs <- fmt.Errorf("produce to %s: %w", c.Topic, err)
					cancel()
					return
				}
				written.Add(int64(len(chunk)))
			}
		})
	}
	wg.Wait()
	took := time.Since(began)
	close(errs)
	return rateOf(written.Load(), took), errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}
