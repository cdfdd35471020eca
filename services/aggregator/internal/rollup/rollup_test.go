package rollup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

const (
	lateness = 30_000
	grace    = 5_000
)

func cfg() Config {
	return Config{Partition: 3, Partitions: 12, LatenessMs: lateness, GraceMs: grace, K: 1000}
}

// t0 is 10:00:00 UTC on the seed's day, the start of an hour and of a minute.
const t0 = 1608112800

func TestApplyDecides(t *testing.T) {
	tests := []struct {
		name    string
		horizon int64
		rec     Record
		want    [2]Outcome
	}{
		{name: "on time counts in both sizes",
			rec:  Record{TimeMs: (t0 + 61) * 1000, EventTs: t0 + 59, Domain: []byte("a.com"), Count: 1},
			want: [2]Outcome{Counted, Counted}},
		{name: "exactly at end plus lateness still counts",
			rec:  Record{TimeMs: (t0+60)*1000 + lateness, EventTs: t0 + 59, Domain: []byte("a.com"), Count: 1},
			want: [2]Outcome{Counted, Counted}},
		{name: "one millisecond later is late for the minute, not the hour",
			rec:  Record{TimeMs: (t0+60)*1000 + lateness + 1, EventTs: t0 + 59, Domain: []byte("a.com"), Count: 1},
			want: [2]Outcome{Late, Counted}},
		{name: "a closed minute drops an on-time record",
			horizon: (t0+60)*1000 + lateness + grace,
			rec:     Record{TimeMs: (t0 + 61) * 1000, EventTs: t0 + 59, Domain: []byte("a.com"), Count: 1},
			want:    [2]Outcome{Closed, Counted}},
		{name: "late for the hour too",
			rec:  Record{TimeMs: (t0+3600)*1000 + lateness + 1, EventTs: t0, Domain: []byte("a.com"), Count: 1},
			want: [2]Outcome{Late, Late}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(cfg(), Checkpoint{HorizonMs: tt.horizon})
			if got := s.Apply(tt.rec); got != tt.want {
				t.Fatalf("Apply() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWindowsCloseAndFree(t *testing.T) {
	s := New(cfg(), Checkpoint{})
	s.Apply(Record{Offset: 0, TimeMs: (t0 + 1) * 1000, EventTs: t0, Domain: []byte("a.com"), Count: 2})
	if n := s.OpenWindows(); n != 2 {
		t.Fatalf("open windows = %d, want a minute and an hour", n)
	}
	if cp := s.Checkpoint(); cp.Offset != 0 {
		t.Fatalf("replay point = %d, want 0 while the windows are open", cp.Offset)
	}
	snaps := s.Snapshots(0)
	if len(snaps) != 2 || snaps[0].Final || snaps[1].Final {
		t.Fatalf("snapshots = %+v, want two open ones", snaps)
	}

	// The wall clock passes the minute's close time: its final snapshot is due, the hour stays.
	s.AdvanceTo((t0+60)*1000 + lateness + grace)
	if cp := s.Checkpoint(); cp.Offset != 0 {
		t.Fatalf("replay point = %d, want 0 until the final snapshot is taken", cp.Offset)
	}
	snaps = s.Snapshots(0)
	if len(snaps) != 1 || !snaps[0].Final || snaps[0].Size != window.Minute {
		t.Fatalf("snapshots = %+v, want the minute's final one", snaps)
	}
	if got := snaps[0].Top; !reflect.DeepEqual(got, []topk.Entry{{Domain: "a.com", Count: topk.CountOf(2)}}) {
		t.Fatalf("final top = %v", got)
	}
	if n := s.OpenWindows(); n != 1 {
		t.Fatalf("open windows = %d, want only the hour", n)
	}

	s.AdvanceTo((t0+3600)*1000 + lateness + grace)
	s.Snapshots(0)
	if n := s.OpenWindows(); n != 0 {
		t.Fatalf("open windows = %d after every window closed, want 0", n)
	}
	if cp := s.Checkpoint(); cp.Offset != 1 {
		t.Fatalf("replay point = %d with nothing open, want the next offset 1", cp.Offset)
	}
}

// view is what the query service keeps: the newest snapshot per window and partition.
type view map[string]*snapshot.Snapshot

func (v view) apply(snaps []*snapshot.Snapshot) {
	for _, s := range snaps {
		k := string(s.Key())
		if old, ok := v[k]; !ok || snapshot.Newer(s, old) {
			v[k] = s
		}
	}
}

func (v view) tops() map[string][]topk.Entry {
	out := map[string][]topk.Entry{}
	for k, s := range v {
		out[k] = s.Top
	}
	return out
}

// genLog makes records whose record times mostly rise, with jitter as from several gateways,
// some stragglers that arrive late, and event times spread over a few minutes.
func genLog(rng *rand.Rand, n int) []Record {
	recs := make([]Record, n)
	now := int64(t0) * 1000
	for i := range recs {
		now += int64(rng.IntN(400))
		timeMs := now - int64(rng.IntN(3000))
		event := timeMs/1000 - int64(rng.IntN(20))
		if rng.IntN(50) == 0 {
			event -= int64(60 + rng.IntN(200)) // a straggler from an older minute
		}
		recs[i] = Record{
			Offset:  int64(i),
			TimeMs:  timeMs,
			EventTs: event,
			Domain:  []byte(fmt.Sprintf("site%d.com", rng.IntN(40))),
			Count:   uint64(1 + rng.IntN(5)),
		}
	}
	return recs
}

// spec computes, straight from the rules in the package doc, what each window must hold.
func spec(recs []Record, k int) map[string][]topk.Entry {
	sums := map[window.Window]map[string]topk.Count{}
	var horizon int64
	for _, r := range recs {
		for _, size := range window.Sizes {
			w := window.Of(size, r.EventTs)
			if horizon >= w.End()*1000+lateness+grace || r.TimeMs > w.End()*1000+lateness {
				continue
			}
			if sums[w] == nil {
				sums[w] = map[string]topk.Count{}
			}
			c := sums[w][string(r.Domain)]
			c.Add(r.Count)
			sums[w][string(r.Domain)] = c
		}
		horizon = max(horizon, r.TimeMs)
	}
	out := map[string][]topk.Entry{}
	for w, counts := range sums {
		out[string(snapshot.Key(w, 3))] = topk.Of(counts, k)
	}
	return out
}

// run feeds recs through a partition that crashes at each offset in crashes, restarting from
// its last committed checkpoint the way the aggregator does: replay without publishing until it
// is back where it crashed, then publish everything it rebuilt.
func run(recs []Record, k, publishEvery int, crashes map[int]bool) view {
	v := view{}
	committed := Checkpoint{}
	c := cfg()
	c.K = k
	s := New(c, committed)
	replayUntil := int64(-1)
	for i := 0; i < len(recs); i++ {
		if crashes[i] {
			delete(crashes, i)
			s = New(c, committed)
			replayUntil = int64(i)
			i = int(committed.Offset) - 1
			continue
		}
		s.Apply(recs[i])
		if s.Next() < replayUntil {
			continue
		}
		if s.Next() == replayUntil {
			s.MarkAllDirty()
		}
		if i%publishEvery == 0 {
			v.apply(s.Snapshots(0))
			committed = s.Checkpoint()
		}
	}
	s.AdvanceTo(1 << 62)
	v.apply(s.Snapshots(0))
	return v
}

func TestReplayAfterCrashIsExact(t *testing.T) {
	tests := []struct {
		name         string
		seed         uint64
		publishEvery int
		crashes      int
		k            int
	}{
		{name: "no crash", seed: 1, publishEvery: 7, k: 1000},
		{name: "one crash", seed: 2, publishEvery: 7, crashes: 1, k: 1000},
		{name: "many crashes", seed: 3, publishEvery: 13, crashes: 8, k: 1000},
		{name: "crash before any commit", seed: 4, publishEvery: 5000, crashes: 2, k: 1000},
		{name: "publish every record", seed: 5, publishEvery: 1, crashes: 5, k: 1000},
		// With K below the number of domains the ranking is incremental: each snapshot ranks
		// only the previous top and the domains changed since.
		{name: "small k, no crash", seed: 6, publishEvery: 3, k: 3},
		{name: "small k, crashes", seed: 7, publishEvery: 11, crashes: 6, k: 5},
		{name: "small k, publish every record", seed: 8, publishEvery: 1, crashes: 3, k: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			recs := genLog(rng, 4000)
			crashes := map[int]bool{}
			for len(crashes) < tt.crashes {
				crashes[1+rng.IntN(len(recs)-1)] = true
			}
			got := run(recs, tt.k, tt.publishEvery, crashes).tops()
			want := spec(recs, tt.k)
			if len(want) < 10 {
				t.Fatalf("generated log spans only %d windows; the test needs more", len(want))
			}
			if !reflect.DeepEqual(got, want) {
				for k := range want {
					if !reflect.DeepEqual(got[k], want[k]) {
						t.Errorf("window %s: got %v, want %v", k, got[k], want[k])
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("window %s published but should hold nothing: %v", k, got[k])
					}
				}
			}
		})
	}
}
