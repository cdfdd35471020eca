package store_test

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"toptraffic/libs/clock"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/store"
)

// base is 10:22:05 UTC; the last full minute is 10:21 and the last full hour 09:00.
var base = time.Date(2020, 12, 16, 10, 22, 5, 0, time.UTC)

var (
	minute = window.LastFull(window.Minute, base)
	hour   = window.LastFull(window.Hour, base)
)

const retention = 25 * time.Hour

// snap builds a snapshot of w from source partition p; entries alternate domain and count.
func snap(w window.Window, p int, offset int64, final bool, entries ...any) *snapshot.Snapshot {
	top := make([]topk.Entry, 0, len(entries)/2)
	for i := 0; i+1 < len(entries); i += 2 {
		top = append(top, topk.Entry{
			Domain: entries[i].(string),
			Count:  topk.CountOf(uint64(entries[i+1].(int))),
		})
	}
	topk.Sort(top)
	return &snapshot.Snapshot{
		Size:        w.Size,
		Start:       w.Start,
		Partition:   p,
		Partitions:  3,
		Offset:      offset,
		Final:       final,
		Domains:     len(top),
		Top:         top,
		PublishedAt: base.UnixMilli() - 1000 + offset,
	}
}

// entries builds the expected ranking; args alternate domain and count.
func entries(args ...any) []topk.Entry {
	out := make([]topk.Entry, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		out = append(out, topk.Entry{
			Domain: args[i].(string),
			Count:  topk.CountOf(uint64(args[i+1].(int))),
		})
	}
	return out
}

func TestApplyKeepsTheNewestSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		apply       []*snapshot.Snapshot
		wantResults []store.Result
		want        []topk.Entry
		wantFinal   bool
	}{
		{
			name: "higher offset replaces lower",
			apply: []*snapshot.Snapshot{
				snap(minute, 0, 10, false, "a.com", 1),
				snap(minute, 0, 20, false, "a.com", 5),
			},
			wantResults: []store.Result{store.Applied, store.Applied},
			want:        entries("a.com", 5),
		},
		{
			name: "replayed older snapshot after a newer one is ignored",
			apply: []*snapshot.Snapshot{
				snap(minute, 0, 20, true, "a.com", 5),
				snap(minute, 0, 10, false, "a.com", 1),
			},
			wantResults: []store.Result{store.Applied, store.Stale},
			want:        entries("a.com", 5),
			wantFinal:   true,
		},
		{
			name: "same offset, final replaces open",
			apply: []*snapshot.Snapshot{
				snap(minute, 0, 20, false, "a.com", 5),
				snap(minute, 0, 20, true, "a.com", 5),
			},
			wantResults: []store.Result{store.Applied, store.Applied},
			want:        entries("a.com", 5),
			wantFinal:   true,
		},
		{
			name: "same offset, open does not replace final",
			apply: []*snapshot.Snapshot{
				snap(minute, 0, 20, true, "a.com", 5),
				snap(minute, 0, 20, false, "a.com", 4),
			},
			wantResults: []store.Result{store.Applied, store.Stale},
			want:        entries("a.com", 5),
			wantFinal:   true,
		},
		{
			name: "partitions are kept apart",
			apply: []*snapshot.Snapshot{
				snap(minute, 0, 20, true, "a.com", 5),
				snap(minute, 1, 3, true, "b.com", 7),
			},
			wantResults: []store.Result{store.Applied, store.Applied},
			want:        entries("b.com", 7, "a.com", 5),
			wantFinal:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(clock.NewFake(base), retention)
			for i, s := range tt.apply {
				if got := st.Apply(s); got != tt.wantResults[i] {
					t.Errorf("Apply #%d = %v, want %v", i, got, tt.wantResults[i])
				}
			}
			if got := st.Top(minute, 10); !slices.Equal(got, tt.want) {
				t.Errorf("Top = %v, want %v", got, tt.want)
			}
			info, ok := st.Info(minute)
			if !ok {
				t.Fatal("Info reports no window")
			}
			if info.Final != tt.wantFinal {
				t.Errorf("Info.Final = %v, want %v", info.Final, tt.wantFinal)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		apply []*snapshot.Snapshot
		want  store.Info
	}{
		{
			name: "every partition final",
			apply: []*snapshot.Snapshot{
				snap(hour, 0, 4, true, "a.com", 1),
				snap(hour, 1, 9, true, "b.com", 1),
				snap(hour, 2, 2, true),
			},
			want: store.Info{
				Window:      hour,
				Partitions:  3,
				Expected:    3,
				Final:       true,
				PublishedAt: time.UnixMilli(base.UnixMilli() - 1000 + 9).UTC(),
			},
		},
		{
			name: "one partition still open",
			apply: []*snapshot.Snapshot{
				snap(hour, 0, 4, true, "a.com", 1),
				snap(hour, 1, 9, false, "b.com", 1),
			},
			want: store.Info{
				Window:      hour,
				Partitions:  2,
				Expected:    3,
				Final:       false,
				PublishedAt: time.UnixMilli(base.UnixMilli() - 1000 + 9).UTC(),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(clock.NewFake(base), retention)
			for _, s := range tt.apply {
				st.Apply(s)
			}
			got, ok := st.Info(hour)
			if !ok {
				t.Fatal("Info reports no window")
			}
			if got != tt.want {
				t.Errorf("Info = %+v, want %+v", got, tt.want)
			}
			if got.Window.StartTime() != base.Truncate(time.Hour).Add(-time.Hour) {
				t.Errorf("window start = %s, want 09:00", got.Window.StartTime())
			}
		})
	}
}

func TestTopMergesPartitionsExactly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		counts     map[string]uint64
		partitions int
		perPart    int // each partition's published top K
		n          int
	}{
		{
			name:       "ties across the tenth place",
			counts:     tiedCounts(),
			partitions: 3,
			perPart:    100,
			n:          10,
		},
		{
			name:       "fewer domains than asked",
			counts:     map[string]uint64{"a.com": 3, "b.com": 3, "c.com": 1},
			partitions: 12,
			perPart:    100,
			n:          10,
		},
		{
			name:       "many domains, small per-partition lists",
			counts:     spreadCounts(500),
			partitions: 12,
			perPart:    10,
			n:          10,
		},
		{
			name:       "one partition",
			counts:     spreadCounts(50),
			partitions: 1,
			perPart:    100,
			n:          10,
		},
		{
			name:       "more than ten asked",
			counts:     spreadCounts(300),
			partitions: 5,
			perPart:    100,
			n:          40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(clock.NewFake(base), retention)

			// Split the domains the way the counters topic does: each lives in one partition.
			parts := make([]map[string]topk.Count, tt.partitions)
			for i := range parts {
				parts[i] = map[string]topk.Count{}
			}
			global := map[string]topk.Count{}
			for d, c := range tt.counts {
				parts[partitionOf(d, tt.partitions)][d] = topk.CountOf(c)
				global[d] = topk.CountOf(c)
			}
			for p, counts := range parts {
				st.Apply(&snapshot.Snapshot{
					Size:       minute.Size,
					Start:      minute.Start,
					Partition:  p,
					Partitions: tt.partitions,
					Offset:     1,
					Domains:    len(counts),
					Top:        topk.Of(counts, tt.perPart),
				})
			}

			want := topk.Of(global, tt.n)
			if got := st.Top(minute, tt.n); !slices.Equal(got, want) {
				t.Errorf("Top =\n%v\nwant\n%v", got, want)
			}
			// A second read comes from the cache and must be the same.
			if got := st.Top(minute, tt.n); !slices.Equal(got, want) {
				t.Errorf("cached Top =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestTopSeesWritesAfterCaching(t *testing.T) {
	t.Parallel()
	st := store.New(clock.NewFake(base), retention)
	st.Apply(snap(minute, 0, 1, false, "a.com", 1))
	if got, want := st.Top(minute, 10), entries("a.com", 1); !slices.Equal(got, want) {
		t.Fatalf("Top = %v, want %v", got, want)
	}

	st.Apply(snap(minute, 1, 1, false, "b.com", 2))
	if got, want := st.Top(minute, 10), entries("b.com", 2, "a.com", 1); !slices.Equal(got, want) {
		t.Fatalf("Top after write = %v, want %v", got, want)
	}

	// A caller changing its result must not change the cache.
	got := st.Top(minute, 10)
	got[0].Domain = "changed.com"
	if again := st.Top(minute, 10); again[0].Domain != "b.com" {
		t.Fatalf("cache changed through a result: %v", again)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		deletePart  int
		wantRemoved bool
		want        []topk.Entry
		wantWindow  bool
	}{
		{
			name:        "one of two partitions",
			deletePart:  1,
			wantRemoved: true,
			want:        entries("a.com", 1),
			wantWindow:  true,
		},
		{
			name:        "unknown partition",
			deletePart:  7,
			wantRemoved: false,
			want:        entries("b.com", 2, "a.com", 1),
			wantWindow:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(clock.NewFake(base), retention)
			st.Apply(snap(minute, 0, 1, false, "a.com", 1))
			st.Apply(snap(minute, 1, 1, false, "b.com", 2))
			_ = st.Top(minute, 10) // fill the cache, which the delete must invalidate

			if got := st.Delete(minute, tt.deletePart); got != tt.wantRemoved {
				t.Errorf("Delete = %v, want %v", got, tt.wantRemoved)
			}
			if got := st.Top(minute, 10); !slices.Equal(got, tt.want) {
				t.Errorf("Top = %v, want %v", got, tt.want)
			}
			if _, ok := st.Info(minute); ok != tt.wantWindow {
				t.Errorf("Info found = %v, want %v", ok, tt.wantWindow)
			}
		})
	}

	t.Run("last partition removes the window", func(t *testing.T) {
		t.Parallel()
		st := store.New(clock.NewFake(base), retention)
		st.Apply(snap(minute, 0, 1, false, "a.com", 1))
		st.Delete(minute, 0)
		if _, ok := st.Info(minute); ok {
			t.Error("window still present")
		}
		if got := st.Windows(window.Minute); len(got) != 0 {
			t.Errorf("Windows = %v, want none", got)
		}
	})
}

func TestRetention(t *testing.T) {
	t.Parallel()
	// The minute 10:21-10:22 ends at 10:22:00; with 25h retention it expires after
	// 10:22:00 the next day plus one hour.
	expiry := minute.EndTime().Add(retention)
	tests := []struct {
		name    string
		now     time.Time
		wantTop []topk.Entry
		wantIn  bool
		evicted int
	}{
		{
			name:    "just written",
			now:     base,
			wantTop: entries("a.com", 1),
			wantIn:  true,
		},
		{
			name:    "exactly at the retention edge",
			now:     expiry,
			wantTop: entries("a.com", 1),
			wantIn:  true,
		},
		{
			name:    "one nanosecond past retention",
			now:     expiry.Add(time.Nanosecond),
			wantTop: []topk.Entry{},
			wantIn:  false,
			evicted: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(base)
			st := store.New(clk, retention)
			st.Apply(snap(minute, 0, 1, true, "a.com", 1))

			clk.Set(tt.now)
			if got := st.Top(minute, 10); !slices.Equal(got, tt.wantTop) || got == nil {
				t.Errorf("Top = %#v, want %#v", got, tt.wantTop)
			}
			if _, ok := st.Info(minute); ok != tt.wantIn {
				t.Errorf("Info found = %v, want %v", ok, tt.wantIn)
			}
			if got := st.Expired(minute); got == tt.wantIn {
				t.Errorf("Expired = %v, want %v", got, !tt.wantIn)
			}
			if got := st.Evict(); got != tt.evicted {
				t.Errorf("Evict = %d, want %d", got, tt.evicted)
			}
		})
	}

	t.Run("writes sweep expired windows", func(t *testing.T) {
		t.Parallel()
		clk := clock.NewFake(base)
		st := store.New(clk, retention)
		st.Apply(snap(minute, 0, 1, true, "a.com", 1))

		clk.Set(expiry.Add(time.Minute))
		later := window.LastFull(window.Minute, clk.Now())
		st.Apply(snap(later, 0, 2, false, "b.com", 1))
		if got := st.Windows(window.Minute); !slices.Equal(got, []window.Window{later}) {
			t.Errorf("Windows = %v, want only %v", got, later)
		}
		if got := st.Evict(); got != 0 {
			t.Errorf("Evict after the sweep = %d, want 0", got)
		}
	})

	t.Run("expired snapshot is not stored", func(t *testing.T) {
		t.Parallel()
		clk := clock.NewFake(expiry.Add(time.Second))
		st := store.New(clk, retention)
		if got := st.Apply(snap(minute, 0, 1, true, "a.com", 1)); got != store.Expired {
			t.Errorf("Apply of an expired snapshot = %v, want %v", got, store.Expired)
		}
		if !st.Expired(minute) {
			t.Errorf("Expired(%v) = false, want true", minute)
		}
	})
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		w    window.Window
		n    int
	}{
		{name: "unknown window", w: minute, n: 10},
		{name: "zero asked", w: minute, n: 0},
		{name: "negative asked", w: hour, n: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(clock.NewFake(base), retention)
			if tt.n <= 0 {
				st.Apply(snap(tt.w, 0, 1, true, "a.com", 1))
			}
			got := st.Top(tt.w, tt.n)
			if got == nil || len(got) != 0 {
				t.Errorf("Top = %#v, want a non-nil empty slice", got)
			}
		})
	}

	t.Run("window with empty lists", func(t *testing.T) {
		t.Parallel()
		st := store.New(clock.NewFake(base), retention)
		st.Apply(snap(minute, 0, 1, true))
		if got := st.Top(minute, 10); got == nil || len(got) != 0 {
			t.Errorf("Top = %#v, want a non-nil empty slice", got)
		}
	})
}

func TestCaughtUp(t *testing.T) {
	t.Parallel()
	st := store.New(clock.NewFake(base), retention)
	if st.CaughtUp() {
		t.Fatal("new store reports caught up")
	}
	st.MarkCaughtUp()
	if !st.CaughtUp() {
		t.Fatal("store not caught up after MarkCaughtUp")
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	st := store.New(clock.NewFake(base), retention)
	st.Apply(snap(minute, 0, 1000, true, "old.com", 9))
	st.MarkCaughtUp()

	st.Reset()
	if st.CaughtUp() {
		t.Error("store still caught up after Reset")
	}
	if got := st.Top(minute, 10); got == nil || len(got) != 0 {
		t.Errorf("Top after Reset = %#v, want empty", got)
	}
	// A snapshot from the new log, with a lower offset, is no longer outranked.
	if st.Apply(snap(minute, 0, 3, false, "new.com", 1)) != store.Applied {
		t.Error("Apply after Reset refused a lower offset")
	}
}

// TestConcurrentUse gives the race detector readers and writers on the same windows.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	st := store.New(clock.NewFake(base), retention)
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for off := range int64(200) {
				st.Apply(snap(minute, p, off, false, fmt.Sprintf("p%d.com", p), int(off)+1))
				if off%50 == 0 {
					st.Delete(hour, p)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if got := st.Top(minute, 10); len(got) > 4 {
					t.Errorf("Top has %d entries, want at most 4", len(got))
				}
				st.Info(minute)
			}
		})
	}
	wg.Wait()
	want := entries("p0.com", 200, "p1.com", 200, "p2.com", 200, "p3.com", 200)
	if got := st.Top(minute, 10); !slices.Equal(got, want) {
		t.Errorf("Top = %v, want %v", got, want)
	}
}

func BenchmarkTopCached(b *testing.B) {
	st := store.New(clock.NewFake(base), retention)
	for p := range 12 {
		counts := map[string]topk.Count{}
		for i := range 1000 {
			counts[fmt.Sprintf("d%d-%d.com", p, i)] = topk.CountOf(uint64(i*7%997 + 1))
		}
		st.Apply(&snapshot.Snapshot{
			Size: minute.Size, Start: minute.Start, Partition: p, Partitions: 12,
			Offset: 1, Top: topk.Of(counts, 100),
		})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = st.Top(minute, 10)
		}
	})
}

// partitionOf spreads domains over partitions by hash, as a keyed producer does.
func partitionOf(domain string, partitions int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(domain))
	return int(h.Sum32() % uint32(partitions))
}

// tiedCounts has many domains sharing the counts around the tenth place, so the result
// depends on the domain tie-break.
func tiedCounts() map[string]uint64 {
	counts := map[string]uint64{}
	for i := range 30 {
		counts[fmt.Sprintf("tie%02d.com", i)] = 50
	}
	for i := range 5 {
		counts[fmt.Sprintf("top%d.com", i)] = 100 + uint64(i)
	}
	for i := range 40 {
		counts[fmt.Sprintf("low%02d.com", i)] = uint64(i%7 + 1)
	}
	return counts
}

// spreadCounts returns n domains whose counts repeat, so ties are common everywhere.
func spreadCounts(n int) map[string]uint64 {
	counts := make(map[string]uint64, n)
	for i := range n {
		counts[fmt.Sprintf("site%03d.com", i)] = uint64(i*37%101 + 1)
	}
	return counts
}
