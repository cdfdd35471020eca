package counter

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		ts    int64
		count uint64
		want  []byte // the exact encoding, when given
	}{
		{name: "zero", ts: 0, count: 0, want: []byte{1, 0, 0}},
		{name: "small", ts: 1, count: 3, want: []byte{1, 2, 3}},
		{
			name: "seed example", ts: 1608102631, count: 3,
			want: []byte{1, 0xce, 0xcb, 0xcd, 0xfd, 0x0b, 3},
		},
		{name: "last second of 9999", ts: 253402300799, count: 1<<53 - 1},
		{name: "largest values", ts: math.MaxInt64, count: math.MaxUint64},
		{name: "negative", ts: math.MinInt64, count: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("key")
			rec := AppendRecord(prefix, tc.ts, tc.count)
			if !bytes.Equal(rec[:3], []byte("key")) {
				t.Fatalf("AppendRecord changed dst: %q", rec)
			}
			rec = rec[3:]
			if tc.want != nil && !bytes.Equal(rec, tc.want) {
				t.Errorf("AppendRecord = %#v, want %#v", rec, tc.want)
			}
			if len(rec) > 21 {
				t.Errorf("record is %d bytes, want at most 21", len(rec))
			}
			ts, count, err := DecodeRecord(rec)
			if err != nil || ts != tc.ts || count != tc.count {
				t.Fatalf("DecodeRecord = %d, %d, %v, want %d, %d", ts, count, err, tc.ts, tc.count)
			}
		})
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "nil", in: nil},
		{name: "version 0", in: []byte{0, 2, 3}},
		{name: "version 2", in: []byte{2, 2, 3}},
		{name: "version only", in: []byte{1}},
		{name: "timestamp cut short", in: []byte{1, 0x80}},
		{name: "count missing", in: []byte{1, 2}},
		{name: "count cut short", in: []byte{1, 2, 0xff}},
		{name: "count too long", in: append([]byte{1, 2}, bytes.Repeat([]byte{0xff}, 11)...)},
		{name: "timestamp too long", in: append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...)},
		{name: "extra bytes", in: []byte{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeRecord(tc.in)
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("DecodeRecord(%#v) error = %v, want ErrRecord", tc.in, err)
			}
		})
	}
}
