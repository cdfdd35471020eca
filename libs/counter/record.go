package counter

import (
	"encoding/binary"
	"fmt"
)

// recordVersion is the first byte of every record; a new layout gets a new version.
const recordVersion = 1

// AppendRecord appends the Kafka record value for one (counter, domain) pair to dst and returns
// the extended slice. The layout is the version byte 1, then ts as a signed varint, then count
// as an unsigned varint (the encoding/binary varints), so a value takes at most 21 bytes.
//
// The record key is the bytes of DomainCount.Domain as Parse returns it, already normalized, so
// every count for a domain goes to the same partition.
func AppendRecord(dst []byte, ts int64, count uint64) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendVarint(dst, ts)
	return binary.AppendUvarint(dst, count)
}

// DecodeRecord reads a record value written by AppendRecord. An empty value, a version other
// than 1, a truncated or overlong varint, and bytes left over after the count are errors
// wrapping ErrRecord.
func DecodeRecord(b []byte) (ts int64, count uint64, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("decode record: empty value: %w", ErrRecord)
	}
	if b[0] != recordVersion {
		return 0, 0, fmt.Errorf("decode record: version %d, want %d: %w",
			b[0], recordVersion, ErrRecord)
	}
	b = b[1:]

	ts, n := binary.Varint(b)
	if n <= 0 {
		return 0, 0, fmt.Errorf("decode record: timestamp: truncated or too long varint: %w",
			ErrRecord)
	}
	b = b[n:]

	count, n = binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, fmt.Errorf("decode record: count: truncated or too long varint: %w",
			ErrRecord)
	}
	if rest := len(b) - n; rest > 0 {
		return 0, 0, fmt.Errorf("decode record: %d unexpected bytes after the count: %w",
			rest, ErrRecord)
	}
	return ts, count, nil
}
