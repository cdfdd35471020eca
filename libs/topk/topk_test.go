package topk

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func entries(pairs ...any) []Entry {
	out := make([]Entry, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Entry{Domain: pairs[i].(string), Count: CountOf(uint64(pairs[i+1].(int)))})
	}
	return out
}

func TestOf(t *testing.T) {
	tests := []struct {
		name   string
		counts map[string]Count
		k      int
		want   []Entry
	}{
		{name: "empty", counts: nil, k: 10, want: []Entry{}},
		{name: "orders by count", k: 10,
			counts: map[string]Count{"a.com": CountOf(3), "b.com": CountOf(4), "c.com": CountOf(7)},
			want:   entries("c.com", 7, "b.com", 4, "a.com", 3)},
		{name: "ties by domain ascending", k: 2,
			counts: map[string]Count{"b.com": CountOf(5), "a.com": CountOf(5), "c.com": CountOf(5)},
			want:   entries("a.com", 5, "b.com", 5)},
		{name: "zero counts are not traffic", k: 10,
			counts: map[string]Count{"a.com": CountOf(0), "b.com": CountOf(1)},
			want:   entries("b.com", 1)},
		{name: "k of zero", k: 0, counts: map[string]Count{"a.com": CountOf(1)}, want: []Entry{}},
		{name: "high word decides", k: 2,
			counts: map[string]Count{"big.com": {Hi: 1}, "max.com": CountOf(^uint64(0))},
			want: []Entry{{Domain: "big.com", Count: Count{Hi: 1}},
				{Domain: "max.com", Count: CountOf(^uint64(0))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.counts, tt.k); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Of() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMergeEqualsGlobal checks the invariant the pipeline's exactness rests on: splitting
// domains across partitions, keeping each partition's top k and merging gives the same top ten
// as ranking all domains at once.
func TestMergeEqualsGlobal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		all := map[string]Count{}
		parts := make([]map[string]Count, 1+rng.IntN(12))
		for i := range parts {
			parts[i] = map[string]Count{}
		}
		for i := range 1 + rng.IntN(400) {
			d := fmt.Sprintf("d%03d.com", i)
			// Few distinct counts, so ties are common and the tie-break is exercised.
			c := CountOf(uint64(rng.IntN(8)))
			all[d] = c
			parts[rng.IntN(len(parts))][d] = c
		}
		var lists [][]Entry
		for _, p := range parts {
			lists = append(lists, Of(p, 10))
		}
		if got, want := Merge(lists, 10), Of(all, 10); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: Merge = %v, global = %v", round, got, want)
		}
	}
}

func TestMergeAddsDuplicateDomains(t *testing.T) {
	got := Merge([][]Entry{entries("a.com", 2, "b.com", 3), entries("a.com", 2)}, 10)
	if want := entries("a.com", 4, "b.com", 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
}

func TestCountAdd(t *testing.T) {
	const maxCount = 1<<53 - 1
	var c Count
	// More than 2^11 maximal counts overflow a uint64; the sum must stay exact.
	const n = 5000
	for range n {
		c.Add(maxCount)
	}
	if got, want := c.String(), "45035996273704955000"; got != want {
		t.Fatalf("%d * (2^53-1) = %s, want %s", n, got, want)
	}
	b, err := json.Marshal(Entry{Domain: "a.com", Count: c})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"domain":"a.com","count":45035996273704955000}`; string(b) != want {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || back.Count != c {
		t.Fatalf("round trip = %v, %v; want %v", back.Count, err, c)
	}
}

func TestCountUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "negative", in: "-1"},
		{name: "fraction", in: "1.5"},
		{name: "too large", in: "340282366920938463463374607431768211456"},
		{name: "string", in: `"7"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Count
			if err := json.Unmarshal([]byte(tt.in), &c); err == nil {
				t.Fatalf("Unmarshal(%s) = %v, want an error", tt.in, c)
			}
		})
	}
}

func TestCountAddPanicsOnOverflow(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Add past 2^128 did not panic")
		}
	}()
	c := Count{Hi: ^uint64(0), Lo: ^uint64(0)}
	c.Add(1)
}

func BenchmarkOf(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		counts := make(map[string]Count, n)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range n {
			counts[fmt.Sprintf("site%d.com", i)] = CountOf(uint64(rng.IntN(1_000_000)))
		}
		b.Run(fmt.Sprintf("domains=%d/k=100", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Of(counts, 100)
			}
		})
	}
}

func BenchmarkMerge(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	lists := make([][]Entry, 12)
	for p := range lists {
		counts := map[string]Count{}
		for i := range 100 {
			counts[fmt.Sprintf("p%d-site%d.com", p, i)] = CountOf(uint64(rng.IntN(1_000_000)))
		}
		lists[p] = Of(counts, 100)
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(lists, 10)
	}
}

func TestSelectMatchesOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 100 {
		counts := map[string]Count{}
		var items []*Entry
		for i := range rng.IntN(300) {
			e := &Entry{Domain: fmt.Sprintf("d%03d.com", i), Count: CountOf(uint64(1 + rng.IntN(6)))}
			counts[e.Domain] = e.Count
			items = append(items, e)
		}
		k := rng.IntN(15)
		got := Select(items, k, func(e *Entry) Entry { return *e })
		want := Of(counts, k)
		if len(got) != len(want) {
			t.Fatalf("round %d: Select kept %d, Of %d", round, len(got), len(want))
		}
		for i := range want {
			if *got[i] != want[i] {
				t.Fatalf("round %d: Select[%d] = %v, Of = %v", round, i, *got[i], want[i])
			}
		}
	}
}
