// Package topk ranks domains by request count exactly.
//
// The ranking is a total order: higher count first, and between equal counts the domain that
// sorts first in byte order. Because the order is total, the top k of a union of disjoint sets
// equals the top k of the union of each set's top k (for any k at least as large as the result
// size). The aggregators rely on that to publish only each partition's top list while the query
// service still answers the exact global top ten.
package topk

import (
	"container/heap"
	"slices"
)

// Entry is one ranked domain. Its JSON form is the API's: {"domain": "siteC.com", "count": 7}.
type Entry struct {
	Domain string `json:"domain"`
	Count  Count  `json:"count"`
}

// Before reports whether a ranks ahead of b: higher count first, ties by domain ascending.
func Before(a, b Entry) bool {
	if c := a.Count.Cmp(b.Count); c != 0 {
		return c > 0
	}
	return a.Domain < b.Domain
}

// compare is Before as a three-way comparison for slices.SortFunc.
func compare(a, b Entry) int {
	if c := a.Count.Cmp(b.Count); c != 0 {
		return -c
	}
	switch {
	case a.Domain < b.Domain:
		return -1
	case a.Domain > b.Domain:
		return 1
	default:
		return 0
	}
}

// Sort orders entries by rank, best first.
func Sort(entries []Entry) { slices.SortFunc(entries, compare) }

// Of returns the k best-ranked domains of counts, best first. Zero counts are left out: a domain
// that received no requests is not traffic. It runs in O(n log k) with O(k) extra memory.
func Of(counts map[string]Count, k int) []Entry {
	if k <= 0 {
		return []Entry{}
	}
	h := make(worstFirst, 0, min(k, len(counts)))
	for d, c := range counts {
		if c.IsZero() {
			continue
		}
		e := Entry{Domain: d, Count: c}
		if len(h) < k {
			heap.Push(&h, e)
			continue
		}
		// Only a candidate that beats the current k-th best enters.
		if Before(e, h[0]) {
			h[0] = e
			heap.Fix(&h, 0)
		}
	}
	out := []Entry(h)
	Sort(out)
	return out
}

// Merge combines ranked lists from disjoint sets (one per partition) into their top k. A domain
// present in several lists, which happens only if the partition count of the counters topic
// changed while a window was open, has its counts added.
func Merge(lists [][]Entry, k int) []Entry {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	sums := make(map[string]Count, n)
	for _, l := range lists {
		for _, e := range l {
			c := sums[e.Domain]
			c.AddCount(e.Count)
			sums[e.Domain] = c
		}
	}
	return Of(sums, k)
}

// Select returns the k best-ranked items, best first, ranking each by the Entry entry returns.
// It reorders items in place and runs in O(n log k); callers that keep their own records (with
// pointers into live state, say) rank them without copying into Entry values first.
func Select[T any](items []T, k int, entry func(T) Entry) []T {
	if k <= 0 || len(items) == 0 {
		return items[:0]
	}
	h := &selectHeap[T]{items: items[:0], entry: entry}
	for _, it := range items {
		if len(h.items) < k {
			h.items = append(h.items, it)
			heap.Fix(h, len(h.items)-1)
			continue
		}
		if Before(entry(it), entry(h.items[0])) {
			h.items[0] = it
			heap.Fix(h, 0)
		}
	}
	out := h.items
	slices.SortFunc(out, func(a, b T) int { return compare(entry(a), entry(b)) })
	return out
}

// selectHeap is a min-heap on rank over items, reusing the input slice: the i-th kept item is
// written over an input item already looked at, so the selection needs no extra memory.
type selectHeap[T any] struct {
	items []T
	entry func(T) Entry
}

func (h *selectHeap[T]) Len() int { return len(h.items) }
func (h *selectHeap[T]) Less(i, j int) bool {
	return Before(h.entry(h.items[j]), h.entry(h.items[i]))
}
func (h *selectHeap[T]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *selectHeap[T]) Push(x any)    { h.items = append(h.items, x.(T)) }
func (h *selectHeap[T]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// worstFirst is a min-heap on rank: its root is the worst entry kept so far.
type worstFirst []Entry

func (h worstFirst) Len() int           { return len(h) }
func (h worstFirst) Less(i, j int) bool { return Before(h[j], h[i]) }
func (h worstFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *worstFirst) Push(x any)        { *h = append(*h, x.(Entry)) }
func (h *worstFirst) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
