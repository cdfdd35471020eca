// Package snapshot defines the records the aggregators publish to the compacted snapshots topic
// and the query service reads back: one partition's ranked top list for one window.
//
// A snapshot is a full recomputation, never a delta. Publishing the same window twice, which a
// replay after a crash or rebalance does, replaces the earlier record instead of adding to it.
package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

// ErrKey is returned for a record key that is not of the form size/start/partition.
var ErrKey = errors.New("malformed snapshot key")

// Snapshot is the state of one window in one partition of the counters topic.
type Snapshot struct {
	// Window is the tumbling window this snapshot describes.
	Size  window.Size `json:"size"`
	Start int64       `json:"start"`
	// Partition is the counters-topic partition the counts come from; Partitions is how many
	// partitions that topic had when the snapshot was made. Merging is exact only while every
	// snapshot of a window agrees on Partitions.
	Partition  int `json:"partition"`
	Partitions int `json:"partitions"`
	// Offset is the counters-topic offset after the last record folded in. Two snapshots of the
	// same window and partition are computed from the same log, so the one with the higher
	// Offset is the more complete: readers keep it even if an older one arrives later.
	Offset int64 `json:"offset"`
	// Final is true once the window is closed: no later record can change it.
	Final bool `json:"final"`
	// Domains is the number of distinct domains with traffic in this partition-window, of which
	// Top holds the best ranked (at most the aggregator's K), best first.
	Domains int          `json:"domains"`
	Top     []topk.Entry `json:"top"`
	// PublishedAt is the aggregator's clock when the snapshot was made, in Unix milliseconds,
	// used to report freshness.
	PublishedAt int64 `json:"published_at"`
}

// Window returns the window the snapshot describes.
func (s *Snapshot) Window() window.Window { return window.Window{Size: s.Size, Start: s.Start} }

// Key returns the compaction key, unique per window and source partition, e.g. "minute/1608102600/3".
func (s *Snapshot) Key() []byte { return Key(s.Window(), s.Partition) }

// Key builds the compaction key for a window and partition.
func Key(w window.Window, partition int) []byte {
	b := make([]byte, 0, 32)
	b = append(b, w.Size.String()...)
	b = append(b, '/')
	b = strconv.AppendInt(b, w.Start, 10)
	b = append(b, '/')
	return strconv.AppendInt(b, int64(partition), 10)
}

// ParseKey reverses Key.
func ParseKey(key []byte) (window.Window, int, error) {
	parts := strings.Split(string(key), "/")
	if len(parts) != 3 {
		return window.Window{}, 0, fmt.Errorf("parse key %.64q: %w", key, ErrKey)
	}
	size, err := window.ParseSize(parts[0])
	if err != nil {
		return window.Window{}, 0, fmt.Errorf("parse key %.64q: %w: %w", key, ErrKey, err)
	}
	start, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return window.Window{}, 0, fmt.Errorf("parse key %.64q: start: %w: %w", key, ErrKey, err)
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil || p < 0 {
		return window.Window{}, 0, fmt.Errorf("parse key %.64q: partition: %w", key, ErrKey)
	}
	return window.Window{Size: size, Start: start}, p, nil
}

// Encode returns the record value.
func Encode(s *Snapshot) ([]byte, error) {
	if s.Top == nil {
		s.Top = []topk.Entry{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot %s/%d: %w", s.Window(), s.Partition, err)
	}
	return b, nil
}

// Decode parses a record value written by Encode.
func Decode(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if s.Size != window.Minute && s.Size != window.Hour {
		return nil, fmt.Errorf("decode snapshot: size %d is not minute or hour", int64(s.Size))
	}
	if w := window.Of(s.Size, s.Start); w.Start != s.Start {
		return nil, fmt.Errorf("decode snapshot: start %d is not aligned to a %s", s.Start, s.Size)
	}
	return &s, nil
}

// Newer reports whether s should replace old for the same window and partition: it was
// computed from more of the log, or from as much and is final where old is not, or it is simply
// the later record of two equal ones.
func Newer(s, old *Snapshot) bool {
	if s.Offset != old.Offset {
		return s.Offset > old.Offset
	}
	return s.Final || !old.Final
}
