package rollup

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchDomains returns n domain names of a realistic length.
func benchDomains(n int) [][]byte {
	names := make([][]byte, n)
	for i := range names {
		names[i] = []byte(fmt.Sprintf("site-%07d.example.com", i))
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
// that changed. Between two flushes "changed" records touch that many random domains, as the
// records of one flush interval would; "all" re-ranks every domain, as the first flush after a
// partition is rebuilt does.
func BenchmarkSnapshots(b *testing.B) {
	c := cfg()
	c.K = 100
	for _, n := range []int{1_000, 100_000} {
		for _, changed := range []int{100, 10_000, n} {
			if changed > n {
				continue
			}
			names := benchDomains(n)
			b.Run(fmt.Sprintf("domains=%d/changed=%d/k=100", n, changed), func(b *testing.B) {
				s := New(c, Checkpoint{})
				off := int64(0)
				apply := func(d []byte, count uint64) {
					s.Apply(Record{Offset: off, TimeMs: (t0 + 30) * 1000, EventTs: t0 + 30,
						Domain: d, Count: count})
					off++
				}
				for i, d := range names {
					apply(d, uint64(i%977+1))
				}
				s.Snapshots(t0 * 1000)
				rng := rand.New(rand.NewPCG(3, 4))
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					for range changed {
						apply(names[rng.IntN(n)], uint64(1+rng.IntN(50)))
					}
					b.StartTimer()
					if got := s.Snapshots(t0 * 1000); len(got) != 2 {
						b.Fatalf("got %d snapshots, want 2", len(got))
					}
				}
			})
		}
	}
}
