// Package rollup is the state of one counters-topic partition: its open tumbling windows, the
// rule that decides whether a record counts, and the replay point from which the state can be
// rebuilt exactly.
//
// Everything here is a pure function of the records fed in, in offset order, plus the horizon a
// checkpoint carries, so a partition rebuilt after a crash or rebalance decides every record the
// same way it was decided the first time:
//
//   - A record counts in the window of its event timestamp, for each window size, when its record
//     timestamp (set by the gateway at ingest) is no later than window end + lateness, and the
//     window is not closed yet.
//   - The horizon is the latest record timestamp seen; once the partition is caught up the wall
//     clock also advances it, so a quiet stream still closes its windows. A window closes when the
//     horizon reaches window end + lateness + grace. The grace covers records that are in flight
//     between the gateway's clock and the broker, so an on-time record is not dropped because a
//     slightly later one from another gateway was appended first.
//   - The replay point is the lowest offset any open window still needs. A checkpoint (replay
//     point, horizon) taken after the snapshots of that state were published is enough to rebuild
//     it: records before the replay point only belong to closed windows, and the horizon tells
//     which windows those are.
package rollup

import (
	"fmt"
	"slices"

	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

// Config sets the rules of the state.
type Config struct {
	// Partition and Partitions identify the counters-topic partition, for the snapshots.
	Partition, Partitions int
	// LatenessMs is how long after a window's end a record may still reach the broker and count.
	LatenessMs int64
	// GraceMs is how much further the horizon must pass before the window closes.
	GraceMs int64
	// K is how many of the best-ranked domains each snapshot carries.
	K int
}

// Record is one decoded counters-topic record.
type Record struct {
	Offset int64
	// TimeMs is the record timestamp in Unix milliseconds.
	TimeMs int64
	// EventTs is the counter's timestamp in Unix seconds.
	EventTs int64
	// Domain is the record key. It is copied only when a window sees the domain first.
	Domain []byte
	Count  uint64
}

// Outcome says what happened to a record in one window size.
type Outcome int

const (
	// Counted means the record was added to its window.
	Counted Outcome = iota
	// Late means the record reached the broker after window end + lateness.
	Late
	// Closed means the window had already closed when the record was read.
	Closed
)

// Checkpoint is what a partition commits: where to resume and which windows are closed.
type Checkpoint struct {
	// Offset is the replay point: the first offset to read to rebuild every open window.
	Offset int64
	// HorizonMs is the horizon when the checkpoint was taken.
	HorizonMs int64
}

// entry is one domain's count in one window.
type entry struct {
	domain string
	count  topk.Count
	// epoch is the window's snapshot epoch when the entry last changed; it keeps the entry in
	// the window's touched list once, however often it changes between two snapshots.
	epoch uint32
}

func (e *entry) rank() topk.Entry { return topk.Entry{Domain: e.domain, Count: e.count} }

// openWindow ranks incrementally. Counts only grow, so the top K after a batch of records is
// the top K of the previous top K and the entries the batch changed: any other entry was below
// the previous K-th, which has not moved down since. A snapshot therefore ranks the changed
// entries, not every domain of the window.
type openWindow struct {
	counts map[string]*entry
	// first is the offset of the first record counted, the window's contribution to the
	// replay point.
	first int64
	// top is the window's top K as of the last snapshot; touched holds the entries changed
	// since, each once.
	top     []*entry
	touched []*entry
	epoch   uint32
	dirty   bool
}

func newOpenWindow(first int64) *openWindow {
	return &openWindow{counts: make(map[string]*entry), first: first, epoch: 1}
}

// add counts n requests for domain; key, if not empty, is domain as a string already made.
func (ow *openWindow) add(domain []byte, key *string, n uint64) {
	e := ow.counts[string(domain)]
	if e == nil {
		if *key == "" {
			*key = string(domain)
		}
		e = &entry{domain: *key}
		ow.counts[*key] = e
	}
	e.count.Add(n)
	if e.epoch != ow.epoch {
		e.epoch = ow.epoch
		ow.touched = append(ow.touched, e)
	}
	ow.dirty = true
}

// rank returns the window's top k and starts a new epoch of changes.
func (ow *openWindow) rank(k int) []topk.Entry {
	cands := make([]*entry, 0, len(ow.top)+len(ow.touched))
	cands = append(cands, ow.touched...)
	for _, e := range ow.top {
		if e.epoch != ow.epoch { // changed entries are in touched already
			cands = append(cands, e)
		}
	}
	ow.top = topk.Select(cands, k, (*entry).rank)
	ow.touched = ow.touched[:0]
	ow.epoch++
	out := make([]topk.Entry, len(ow.top))
	for i, e := range ow.top {
		out[i] = e.rank()
	}
	return out
}

// State holds one partition's open windows. It is not safe for concurrent use: one goroutine
// owns a partition.
type State struct {
	cfg     Config
	windows map[window.Window]*openWindow
	// closed holds windows that closed since the last Snapshots call, whose final snapshot is
	// still to be published. They still count towards the replay point.
	closed    []closedWindow
	horizonMs int64
	next      int64
}

type closedWindow struct {
	w    window.Window
	open *openWindow
}

// New returns the state of a partition resumed from a checkpoint. For a partition never
// committed, pass the first offset to read and a zero horizon.
func New(cfg Config, cp Checkpoint) *State {
	return &State{
		cfg:       cfg,
		windows:   make(map[window.Window]*openWindow),
		horizonMs: cp.HorizonMs,
		next:      cp.Offset,
	}
}

// Next returns the offset after the last record applied.
func (s *State) Next() int64 { return s.next }

// HorizonMs returns the current horizon.
func (s *State) HorizonMs() int64 { return s.horizonMs }

// OpenWindows returns how many windows are open.
func (s *State) OpenWindows() int { return len(s.windows) }

func (s *State) closesAtMs(w window.Window) int64 {
	return w.End()*1000 + s.cfg.LatenessMs + s.cfg.GraceMs
}

func (s *State) isClosed(w window.Window) bool { return s.horizonMs >= s.closesAtMs(w) }

// Apply folds one record in and returns what happened to it in each window size, in the order
// of window.Sizes. Records must come in offset order.
func (s *State) Apply(r Record) [2]Outcome {
	var out [2]Outcome
	var key string // the domain as a string, made at most once per record
	for i, size := range window.Sizes {
		w := window.Of(size, r.EventTs)
		switch {
		case s.isClosed(w):
			out[i] = Closed
		case r.TimeMs > w.End()*1000+s.cfg.LatenessMs:
			out[i] = Late
		default:
			out[i] = Counted
			if r.Count == 0 {
				continue // a zero count changes nothing and is not traffic
			}
			ow := s.windows[w]
			if ow == nil {
				ow = newOpenWindow(r.Offset)
				s.windows[w] = ow
			}
			ow.add(r.Domain, &key, r.Count)
		}
	}
	s.next = r.Offset + 1
	s.advance(r.TimeMs)
	return out
}

// Skip moves past an offset that holds no usable record (a malformed value), so the replay
// point and the snapshot offsets still advance.
func (s *State) Skip(offset int64) { s.next = offset + 1 }

// AdvanceTo moves the horizon to nowMs if it is ahead, closing windows. Call it with the wall
// clock only once the partition is caught up: during a replay the wall clock is far ahead of the
// records and would close windows the original run kept open.
func (s *State) AdvanceTo(nowMs int64) { s.advance(nowMs) }

func (s *State) advance(ms int64) {
	if ms <= s.horizonMs {
		return
	}
	s.horizonMs = ms
	for w, ow := range s.windows {
		if s.isClosed(w) {
			s.closed = append(s.closed, closedWindow{w: w, open: ow})
			delete(s.windows, w)
		}
	}
}

// Snapshots returns the snapshots to publish now: the final snapshot of every window that closed
// since the last call, and an open snapshot of every window that changed. It marks them published;
// if publishing fails the caller must not commit, and a replay will produce them again.
func (s *State) Snapshots(publishedAtMs int64) []*snapshot.Snapshot {
	var out []*snapshot.Snapshot
	for _, c := range s.closed {
		out = append(out, s.snapshot(c.w, c.open, true, publishedAtMs))
	}
	s.closed = s.closed[:0]
	for w, ow := range s.windows {
		if ow.dirty {
			out = append(out, s.snapshot(w, ow, false, publishedAtMs))
			ow.dirty = false
		}
	}
	// A stable order keeps the output of a replay identical, which tests compare.
	slices.SortFunc(out, func(a, b *snapshot.Snapshot) int {
		if a.Size != b.Size {
			return int(a.Size - b.Size)
		}
		return int(a.Start - b.Start)
	})
	return out
}

// MarkAllDirty makes the next Snapshots call publish every open window, which a partition does
// once after rebuilding its state so the new owner's view replaces the old owner's.
func (s *State) MarkAllDirty() {
	for _, ow := range s.windows {
		ow.dirty = true
	}
}

func (s *State) snapshot(
	w window.Window,
	ow *openWindow,
	final bool,
	publishedAtMs int64,
) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Size:        w.Size,
		Start:       w.Start,
		Partition:   s.cfg.Partition,
		Partitions:  s.cfg.Partitions,
		Offset:      s.next,
		Final:       final,
		Domains:     len(ow.counts),
		Top:         ow.rank(s.cfg.K),
		PublishedAt: publishedAtMs,
	}
}

// Checkpoint returns the replay point and horizon of the current state. Take it in the same step
// as Snapshots, and commit it only after those snapshots were published: closed windows whose
// final snapshot is unpublished still hold the replay point back.
func (s *State) Checkpoint() Checkpoint {
	cp := Checkpoint{Offset: s.next, HorizonMs: s.horizonMs}
	for _, ow := range s.windows {
		cp.Offset = min(cp.Offset, ow.first)
	}
	for _, c := range s.closed {
		cp.Offset = min(cp.Offset, c.open.first)
	}
	return cp
}

// String describes the state for logs.
func (s *State) String() string {
	return fmt.Sprintf("partition %d: next %d, horizon %d, %d open windows",
		s.cfg.Partition, s.next, s.horizonMs, len(s.windows))
}
