package rollup

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchDomains returns n domain names of a realistic length.
func benchDomains(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("site-%07d.example.com", i)
	}
	return names
}

// BenchmarkApply measures folding one record into a partition's windows (a minute and an hour,
// so two map updates per record), the aggregator's per-record work. "update" cycles through
// domains already in the windows, the steady state; "insert" gives every record a new domain,
// which grows the maps, as a burst of new domains or a catch-up does.
func BenchmarkApply(b *testing.B) {
	tests := []struct {
		name    string
		domains int
		warm    bool
		zipf    bool
	}{
		{name: "update/domains=1k", domains: 1_000, warm: true},
		{name: "update/domains=100k", domains: 100_000, warm: true},
		{name: "update/domains=100k/zipf", domains: 100_000, warm: true, zipf: true},
		{name: "insert/domains=1M", domains: 1_000_000},
	}
	for _, tc := range tests {
		names := benchDomains(tc.domains)
		order := make([]int, tc.domains)
		rng := rand.New(rand.NewPCG(1, 2))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(tc.domains-1))
		for i := range order {
			order[i] = i
			if tc.zipf {
				order[i] = int(zipf.Uint64())
			}
		}
		if !tc.zipf {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		rec := func(off int64) Record {
			return Record{
				Offset:  off,
				TimeMs:  (t0 + 30) * 1000,
				EventTs: t0 + 30,
				Domain:  names[order[off%int64(len(order))]],
				Count:   3,
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			s := New(cfg(), Checkpoint{})
			var off int64
			if tc.warm {
				for range tc.domains {
					s.Apply(rec(off))
					off++
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if !tc.warm && off%int64(tc.domains) == 0 && off > 0 {
					// Every domain is in: start over with empty windows so records keep
					// inserting.
					b.StopTimer()
					s = New(cfg(), Checkpoint{Offset: off})
					b.StartTimer()
				}
				s.Apply(rec(off))
				off++
			}
		})
	}
}

// BenchmarkSnapshots measures one flush of a changed window pair: ranking the top K (the
// default 100) of each window, which the aggregator does every flush interval for every window
// that changed.
func BenchmarkSnapshots(b *testing.B) {
	c := cfg()
	c.K = 100
	for _, n := range []int{1_000, 100_000} {
		names := benchDomains(n)
		b.Run(fmt.Sprintf("domains=%d/k=100", n), func(b *testing.B) {
			s := New(c, Checkpoint{})
			for i, d := range names {
				s.Apply(Record{Offset: int64(i), TimeMs: (t0 + 30) * 1000, EventTs: t0 + 30,
					Domain: d, Count: uint64(i%977 + 1)})
			}
			b.ReportAllocs()
			for b.Loop() {
				s.MarkAllDirty()
				if got := s.Snapshots(t0 * 1000); len(got) != 2 {
					b.Fatalf("got %d snapshots, want 2", len(got))
				}
			}
		})
	}
}
