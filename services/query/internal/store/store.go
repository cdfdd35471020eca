// Package store is the query service's in-memory view of the snapshots topic: for every window
// and source partition the most complete snapshot seen, and for every window the merged,
// exact ranking across partitions.
//
// Reads vastly outnumber writes once the initial load is done, so the merged ranking of a
// window is computed on the first read after a write and then served from a cache until the
// next write to that window.
package store

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"toptraffic/libs/clock"
	"toptraffic/libs/snapshot"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

// sweepEvery is how often, on the injected clock, a write also evicts expired windows. Reads
// hide expired windows at once, so sweeping only reclaims memory and need not be frequent.
const sweepEvery = time.Minute

// Info describes what the store holds for one window, without its ranking.
type Info struct {
	// Window gives the bounds: [Window.StartTime(), Window.EndTime()).
	Window window.Window
	// Partitions is how many source partitions have a snapshot of the window; Expected is the
	// source partition count the snapshots report (the largest, should they disagree). The
	// ranking is complete when the two are equal.
	Partitions int
	Expected   int
	// Final is true when every snapshot present is final: no later record can change them.
	Final bool
	// PublishedAt is the newest of the snapshots' publication times, a measure of freshness.
	PublishedAt time.Time
}

// Store holds the latest snapshot per window and source partition. It is safe for concurrent
// use; reads never wait for one another.
type Store struct {
	clock     clock.Clock
	retention time.Duration
	caughtUp  atomic.Bool

	mu        sync.RWMutex
	windows   map[window.Window]*windowState
	nextSweep time.Time
}

// windowState is what the store keeps for one window.
type windowState struct {
	parts map[int]*snapshot.Snapshot
	// merged is every domain of the window ranked best first, or nil when a write has
	// invalidated it. It is never modified once set, so readers may share it.
	merged []topk.Entry
}

// New returns an empty store that forgets windows once they ended more than retention ago on
// clk.
func New(clk clock.Clock, retention time.Duration) *Store {
	return &Store{
		clock:     clk,
		retention: retention,
		windows:   make(map[window.Window]*windowState),
	}
}

// MarkCaughtUp records that the initial load of the snapshots topic is complete.
func (s *Store) MarkCaughtUp() { s.caughtUp.Store(true) }

// CaughtUp reports whether the initial load of the snapshots topic is complete. Before that,
// answers would be built from part of the history and may be wrong.
func (s *Store) CaughtUp() bool { return s.caughtUp.Load() }

// Reset forgets every window and marks the store not caught up, for when the snapshots topic
// itself started over and what was read from it no longer holds.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caughtUp.Store(false)
	clear(s.windows)
}

// Result says what Apply did with a snapshot.
type Result int

const (
	// Applied means the snapshot was stored.
	Applied Result = iota
	// Stale means the store already held a newer snapshot of the same window and partition.
	Stale
	// Expired means the window ended more than the retention ago.
	Expired
)

// String returns the result's name, as metrics label it.
func (r Result) String() string {
	switch r {
	case Applied:
		return "applied"
	case Stale:
		return "stale"
	case Expired:
		return "expired"
	default:
		return "Result(" + strconv.Itoa(int(r)) + ")"
	}
}

// Apply stores snap unless the store already holds a newer snapshot of the same window and
// partition (see snapshot.Newer) or the window is past retention, and says which. The store
// keeps snap: the caller must not modify it afterwards.
func (s *Store) Apply(snap *snapshot.Snapshot) Result {
	w := snap.Window()
	now := s.clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepIfDue(now)

	if s.expired(w, now) {
		return Expired
	}
	ws, ok := s.windows[w]
	if !ok {
		ws = &windowState{parts: make(map[int]*snapshot.Snapshot)}
		s.windows[w] = ws
	}
	// A replay re-delivers older snapshots after newer ones; only a more complete one wins.
	if old, ok := ws.parts[snap.Partition]; ok && !snapshot.Newer(snap, old) {
		return Stale
	}
	ws.parts[snap.Partition] = snap
	ws.merged = nil
	return Applied
}

// Delete forgets the snapshot of one window and source partition, as a tombstone in the
// compacted topic asks. It reports whether there was one.
func (s *Store) Delete(w window.Window, partition int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()

	ws, ok := s.windows[w]
	if !ok {
		return false
	}
	if _, ok := ws.parts[partition]; !ok {
		return false
	}
	delete(ws.parts, partition)
	ws.merged = nil
	if len(ws.parts) == 0 {
		delete(s.windows, w)
	}
	return true
}

// Top returns the n best-ranked domains of window w across all source partitions, best first:
// count descending, ties by domain ascending. It never returns nil.
func (s *Store) Top(w window.Window, n int) []topk.Entry {
	if n <= 0 {
		return []topk.Entry{}
	}
	now := s.clock.Now()

	// The common case: the ranking was computed since the last write, and a shared lock is
	// enough to copy its head.
	s.mu.RLock()
	if s.expired(w, now) {
		s.mu.RUnlock()
		return []topk.Entry{}
	}
	ws, ok := s.windows[w]
	if !ok {
		s.mu.RUnlock()
		return []topk.Entry{}
	}
	if ws.merged != nil {
		out := head(ws.merged, n)
		s.mu.RUnlock()
		return out
	}
	s.mu.RUnlock()

	// A write invalidated the ranking. Recompute it under the exclusive lock, looking the
	// window up again: another reader may have done the work, or a write removed the window.
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, ok = s.windows[w]
	if !ok {
		return []topk.Entry{}
	}
	if ws.merged == nil {
		ws.merged = ws.merge()
	}
	return head(ws.merged, n)
}

// Info describes window w, and reports false when the store holds nothing for it.
func (s *Store) Info(w window.Window) (Info, bool) {
	now := s.clock.Now()

	s.mu.RLock()
	defer s.mu.RUnlock()
	ws, ok := s.windows[w]
	if !ok || s.expired(w, now) {
		return Info{Window: w}, false
	}

	info := Info{Window: w, Partitions: len(ws.parts), Final: true}
	var published int64
	for _, snap := range ws.parts {
		info.Expected = max(info.Expected, snap.Partitions)
		info.Final = info.Final && snap.Final
		published = max(published, snap.PublishedAt)
	}
	info.PublishedAt = time.UnixMilli(published).UTC()
	return info, true
}

// Windows lists the windows of the given size that the store holds, oldest first.
func (s *Store) Windows(size window.Size) []window.Window {
	now := s.clock.Now()

	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]window.Window, 0, len(s.windows))
	for w := range s.windows {
		if w.Size == size && !s.expired(w, now) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b window.Window) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// Expired reports whether window w ended more than the retention ago, so that the store
// neither holds nor accepts snapshots of it.
func (s *Store) Expired(w window.Window) bool { return s.expired(w, s.clock.Now()) }

// Retention is how long after its end a window is kept.
func (s *Store) Retention() time.Duration { return s.retention }

// Evict forgets every window that ended more than the retention ago and returns how many it
// removed. Writes call it once a minute; it is exported for callers that want to force it.
func (s *Store) Evict() int {
	now := s.clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evict(now)
}

// sweepIfDue evicts expired windows when the last sweep is at least sweepEvery old. The caller
// holds the exclusive lock.
func (s *Store) sweepIfDue(now time.Time) {
	if now.Before(s.nextSweep) {
		return
	}
	s.evict(now)
	s.nextSweep = now.Add(sweepEvery)
}

// evict removes expired windows. The caller holds the exclusive lock.
func (s *Store) evict(now time.Time) int {
	n := 0
	for w := range s.windows {
		if s.expired(w, now) {
			delete(s.windows, w)
			n++
		}
	}
	return n
}

// expired reports whether w ended more than the retention before now.
func (s *Store) expired(w window.Window, now time.Time) bool {
	return w.EndTime().Before(now.Add(-s.retention))
}

// merge ranks every domain of the window. Each domain lives in one source partition, so the
// union of the partitions' lists ranks exactly.
func (ws *windowState) merge() []topk.Entry {
	lists := make([][]topk.Entry, 0, len(ws.parts))
	total := 0
	for _, snap := range ws.parts {
		lists = append(lists, snap.Top)
		total += len(snap.Top)
	}
	merged := topk.Merge(lists, total)
	if merged == nil {
		// nil marks an invalidated cache; an empty window is a valid, empty ranking.
		merged = []topk.Entry{}
	}
	return merged
}

// head copies the first n entries of ranked, so callers cannot change the cache.
func head(ranked []topk.Entry, n int) []topk.Entry {
	return slices.Clone(ranked[:min(n, len(ranked))])
}
