package topk

import (
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
)

// Count is an unsigned 128-bit request count. A single counter carries at most 2^53-1 requests
// per domain, so a uint64 sum could overflow after a few thousand such counters in one window;
// 128 bits cannot overflow at any realistic scale, and Add panics rather than wrap if it ever
// would, so a sum is never silently wrong.
type Count struct {
	Hi, Lo uint64
}

// CountOf returns n as a Count.
func CountOf(n uint64) Count { return Count{Lo: n} }

// Add adds n to c.
func (c *Count) Add(n uint64) {
	var carry uint64
	c.Lo, carry = bits.Add64(c.Lo, n, 0)
	c.Hi, carry = bits.Add64(c.Hi, 0, carry)
	if carry != 0 {
		panic("topk: 128-bit count overflow")
	}
}

// AddCount adds o to c.
func (c *Count) AddCount(o Count) {
	var carry uint64
	c.Lo, carry = bits.Add64(c.Lo, o.Lo, 0)
	c.Hi, carry = bits.Add64(c.Hi, o.Hi, carry)
	if carry != 0 {
		panic("topk: 128-bit count overflow")
	}
}

// Cmp returns -1, 0 or +1 as c is less than, equal to or greater than o.
func (c Count) Cmp(o Count) int {
	switch {
	case c.Hi < o.Hi:
		return -1
	case c.Hi > o.Hi:
		return 1
	case c.Lo < o.Lo:
		return -1
	case c.Lo > o.Lo:
		return 1
	default:
		return 0
	}
}

// IsZero reports whether c is zero.
func (c Count) IsZero() bool { return c.Hi == 0 && c.Lo == 0 }

// String returns c in decimal.
func (c Count) String() string {
	if c.Hi == 0 {
		return strconv.FormatUint(c.Lo, 10)
	}
	return c.big().String()
}

func (c Count) big() *big.Int {
	b := new(big.Int).SetUint64(c.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(c.Lo))
}

// MarshalJSON writes c as a plain JSON number, exact at any size.
func (c Count) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON reads a non-negative JSON integer of up to 128 bits.
func (c *Count) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseUint(string(b), 10, 64); err == nil {
		*c = Count{Lo: n}
		return nil
	}
	v, ok := new(big.Int).SetString(string(b), 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 128 {
		return fmt.Errorf("decode count %.32q: want a non-negative integer below 2^128", b)
	}
	lo := new(big.Int).And(v, new(big.Int).SetUint64(^uint64(0)))
	*c = Count{Hi: new(big.Int).Rsh(v, 64).Uint64(), Lo: lo.Uint64()}
	return nil
}
