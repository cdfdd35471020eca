package snapshot

import (
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

func TestRoundTrip(t *testing.T) {
	in := &Snapshot{
		Size: window.Hour, Start: 1608098400, Partition: 7, Partitions: 12, Offset: 42,
		Final: true, Domains: 3, PublishedAt: 1608102631000,
		Top: []topk.Entry{{Domain: "sitec.com", Count: topk.CountOf(7)}},
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip = %+v, want %+v", out, in)
	}
	w, p, err := ParseKey(in.Key())
	if err != nil || w != in.Window() || p != 7 {
		t.Fatalf("ParseKey(%s) = %v, %d, %v", in.Key(), w, p, err)
	}
}

func TestEncodeEmptyTopIsArray(t *testing.T) {
	b, err := Encode(&Snapshot{Size: window.Minute, Start: 60})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil || out.Top == nil {
		t.Fatalf("Decode(%s) top = %v, %v; want an empty, non-nil list", b, out.Top, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "not json", in: "{"},
		{name: "unknown size", in: `{"size":"day","start":0}`},
		{name: "unaligned start", in: `{"size":"minute","start":61}`},
		{name: "no size", in: `{"start":60}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Decode([]byte(tt.in)); err == nil {
				t.Fatalf("Decode(%s) = %+v, want an error", tt.in, s)
			}
		})
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, key := range []string{"", "minute/1", "day/60/1", "minute/x/1", "minute/60/-1"} {
		if _, _, err := ParseKey([]byte(key)); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q) error = %v, want ErrKey", key, err)
		}
	}
}

func TestNewer(t *testing.T) {
	tests := []struct {
		name     string
		s, old   Snapshot
		wantNews bool
	}{
		{name: "more of the log wins", s: Snapshot{Offset: 10}, old: Snapshot{Offset: 9}, wantNews: true},
		{name: "a stale replay loses", s: Snapshot{Offset: 9}, old: Snapshot{Offset: 10}},
		{name: "final beats open at the same offset", s: Snapshot{Offset: 9, Final: true},
			old: Snapshot{Offset: 9}, wantNews: true},
		{name: "open does not undo final", s: Snapshot{Offset: 9}, old: Snapshot{Offset: 9, Final: true}},
		{name: "equal open records: the later one", s: Snapshot{Offset: 9}, old: Snapshot{Offset: 9},
			wantNews: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Newer(&tt.s, &tt.old); got != tt.wantNews {
				t.Fatalf("Newer() = %v, want %v", got, tt.wantNews)
			}
		})
	}
}

func TestTopicConfigs(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      map[string]string
	}{
		{
			name:      "default two days",
			retention: 48 * time.Hour,
			want: map[string]string{
				"cleanup.policy": "compact,delete",
				"retention.ms":   "172800000",
				"segment.ms":     "3600000",
			},
		},
		{
			name:      "segments never outlive a short retention",
			retention: 30 * time.Minute,
			want: map[string]string{
				"cleanup.policy": "compact,delete",
				"retention.ms":   "1800000",
				"segment.ms":     "1800000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TopicConfigs(tt.retention); !maps.Equal(got, tt.want) {
				t.Errorf("TopicConfigs(%v) = %v, want %v", tt.retention, got, tt.want)
			}
		})
	}
}
