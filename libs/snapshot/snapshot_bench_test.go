package snapshot

import (
	"fmt"
	"testing"

	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

// benchSnapshot returns a snapshot with a top list of n realistic entries, as an aggregator
// publishes for a busy window.
func benchSnapshot(n int) *Snapshot {
	top := make([]topk.Entry, n)
	for i := range top {
		top[i] = topk.Entry{
			Domain: fmt.Sprintf("site-%07d.example.com", i),
			Count:  topk.CountOf(uint64(9_000_000 - i*977)),
		}
	}
	return &Snapshot{
		Size: window.Minute, Start: 1608102600, Partition: 7, Partitions: 12, Offset: 123456789,
		Domains: 83_000, Top: top, PublishedAt: 1608102631000,
	}
}

// BenchmarkEncode measures encoding one snapshot record value; the aggregators encode one per
// changed window and partition every flush interval.
func BenchmarkEncode(b *testing.B) {
	tests := []struct {
		name    string
		entries int
	}{
		{name: "top=10", entries: 10},
		{name: "top=100", entries: 100},
	}
	for _, tc := range tests {
		s := benchSnapshot(tc.entries)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				v, err := Encode(s)
				if err != nil {
					b.Fatal(err)
				}
				size = len(v)
			}
			b.ReportMetric(float64(size), "bytes/record")
		})
	}
}

// BenchmarkDecode measures the query service's side: decoding one 100-entry snapshot.
func BenchmarkDecode(b *testing.B) {
	v, err := Encode(benchSnapshot(100))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}
