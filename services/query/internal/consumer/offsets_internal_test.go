package consumer

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestOffsetOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		po    kafka.PartitionOffsets
		which int64
		want  int64
	}{
		{
			name:  "first offset answered with timestamp -1",
			po:    kafka.PartitionOffsets{FirstOffset: 0, LastOffset: 7},
			which: kafka.FirstOffset,
			want:  7,
		},
		{
			name:  "first offset answered with timestamp -2",
			po:    kafka.PartitionOffsets{FirstOffset: 7, LastOffset: -1},
			which: kafka.FirstOffset,
			want:  7,
		},
		{
			name:  "first offset of a log starting at zero",
			po:    kafka.PartitionOffsets{FirstOffset: 0, LastOffset: 0},
			which: kafka.FirstOffset,
			want:  0,
		},
		{
			name:  "last offset answered with timestamp -1",
			po:    kafka.PartitionOffsets{FirstOffset: -1, LastOffset: 42},
			which: kafka.LastOffset,
			want:  42,
		},
		{
			name:  "last offset answered with timestamp -2",
			po:    kafka.PartitionOffsets{FirstOffset: 42, LastOffset: 0},
			which: kafka.LastOffset,
			want:  42,
		},
		{
			name: "answered with a record timestamp",
			po: kafka.PartitionOffsets{
				FirstOffset: -1,
				LastOffset:  0,
				Offsets:     map[int64]time.Time{9: time.Unix(1, 0)},
			},
			which: kafka.LastOffset,
			want:  9,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := offsetOf(tt.po, tt.which); got != tt.want {
				t.Errorf("offsetOf = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		want     time.Duration
	}{
		{name: "first failure", failures: 1, want: 100 * time.Millisecond},
		{name: "third failure", failures: 3, want: 400 * time.Millisecond},
		{name: "capped", failures: 40, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tt.failures, 100*time.Millisecond, 5*time.Second); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
}
