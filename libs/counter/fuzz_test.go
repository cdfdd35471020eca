package counter

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks the invariants of Parse on any input: it never panics; a rejection is an
// *Error of a known kind that quotes little of the input; an accepted request holds only
// normalized domains, positive counts and times in range, reads back the same when encoded
// again, and survives the record codec.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"timestamp": 1608102631, "siteA.com": 3, "siteB.com": 4}`), false)
	f.Add([]byte("{\"timestamp\":1,\"a.com\":1}\n{\"timestamp\":2}"), true)

	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		format := FormatJSON
		if ndjson {
			format = FormatNDJSON
		}
		cs, err := Parse(body, format, Limits{})
		if err != nil {
			checkRejection(t, body, format, cs, err)
		} else {
			checkAccepted(t, body, format, cs)
		}

		// Tighter limits may only add rejections.
		small := Limits{MaxDomainsPerCounter: 2, MaxCountersPerRequest: 2}
		tight, terr := Parse(body, format, small)
		switch {
		case terr == nil && err != nil:
			t.Fatalf("accepted under tight limits, rejected under defaults: %v", err)
		case terr == nil && !reflect.DeepEqual(tight, cs):
			t.Fatalf("tight limits changed the result: %+v, want %+v", tight, cs)
		case terr != nil:
			checkRejection(t, body, format, tight, terr)
		}
	})
}

// checkRejection checks an error Parse returned for body.
func checkRejection(t *testing.T, body []byte, f Format, cs []Counter, err error) {
	t.Helper()
	if cs != nil {
		t.Fatalf("rejected with %v but returned counters %+v", err, cs)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *Error", err, err)
	}
	known := false
	for _, k := range []error{ErrSyntax, ErrTimestamp, ErrDomain, ErrCount, ErrTooLarge} {
		known = known || e.Kind == k
	}
	if !known || !errors.Is(err, e.Kind) {
		t.Fatalf("error kind %v is not one of Parse's sentinels", e.Kind)
	}
	if len(e.Field) > maxEcho || e.Counter < -1 {
		t.Fatalf("Field %q (%d bytes) or Counter %d out of range", e.Field, len(e.Field), e.Counter)
	}
	if e.Message == "" || len(e.Message) > 1024 {
		t.Fatalf("message is empty or too long (%d bytes): %q", len(e.Message), e.Message)
	}
	if f == FormatJSON && !json.Valid(body) && e.Kind != ErrSyntax {
		t.Fatalf("invalid JSON rejected as %v, want ErrSyntax", e.Kind)
	}
}

// checkAccepted checks the counters Parse returned for body.
func checkAccepted(t *testing.T, body []byte, f Format, cs []Counter) {
	t.Helper()
	if cs == nil {
		t.Fatal("accepted with nil counters")
	}
	if f == FormatJSON && !json.Valid(body) {
		t.Fatal("accepted a body json.Valid refuses")
	}
	for _, c := range cs {
		if c.Timestamp < 0 || c.Timestamp >= msUntil/1000 {
			t.Fatalf("timestamp %d out of range", c.Timestamp)
		}
		if c.Domains != nil && len(c.Domains) == 0 {
			t.Fatal("empty but non-nil Domains")
		}
		for j, d := range c.Domains {
			if msg := notNormalized(d.Domain); msg != "" {
				t.Fatalf("domain %q: %s", d.Domain, msg)
			}
			if d.Count == 0 {
				t.Fatalf("domain %q has count 0", d.Domain)
			}
			if j > 0 {
				prev := c.Domains[j-1]
				if prev.Domain > d.Domain ||
					prev.Domain == d.Domain && prev.Count != math.MaxUint64 {
					t.Fatalf("domains out of order or not summed: %+v then %+v", prev, d)
				}
			}
			ts, n, err := DecodeRecord(AppendRecord(nil, c.Timestamp, d.Count))
			if err != nil || ts != c.Timestamp || n != d.Count {
				t.Fatalf("record round trip = %d, %d, %v", ts, n, err)
			}
		}
	}

	// The result, written again, must read back the same in both layouts.
	lim := Limits{MaxDomainsPerCounter: math.MaxInt32, MaxCountersPerRequest: math.MaxInt32}
	for _, rf := range []Format{FormatJSON, FormatNDJSON} {
		if rf == FormatNDJSON && len(cs) == 0 {
			continue // NDJSON cannot say "no counters"
		}
		again, err := Parse(encodeCounters(cs, rf), rf, lim)
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("re-encoded as %v: Parse = %+v, %v, want %+v", rf, again, err, cs)
		}
	}
}

// notNormalized says how domain breaks the normalization rules, or returns "".
func notNormalized(domain string) string {
	switch {
	case len(domain) == 0 || len(domain) > maxDomainLen:
		return "length out of range"
	case !utf8.ValidString(domain):
		return "not UTF-8"
	case strings.HasSuffix(domain, "."):
		return "trailing dot"
	case domain == "timestamp":
		return "reserved name"
	}
	for _, r := range domain {
		if 'A' <= r && r <= 'Z' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "holds " + strconv.QuoteRune(r)
		}
	}
	return ""
}

// encodeCounters writes cs as a request body in format f that Parse must read back as cs.
// Counts above the per-key maximum are split over repeated keys, and times from 1e11 seconds
// on, which Parse would read as milliseconds, are written in milliseconds.
func encodeCounters(cs []Counter, f Format) []byte {
	var b []byte
	if f == FormatJSON {
		b = append(b, '[')
	}
	for i, c := range cs {
		if i > 0 {
			if f == FormatJSON {
				b = append(b, ',')
			} else {
				b = append(b, '\n')
			}
		}
		ts := c.Timestamp
		if ts >= msFrom {
			ts *= 1000
		}
		b = append(b, `{"timestamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		for _, d := range c.Domains {
			key, _ := json.Marshal(d.Domain)
			for left := d.Count; left > 0; {
				n := min(left, maxCount)
				b = append(b, ',')
				b = append(b, key...)
				b = append(b, ':')
				b = strconv.AppendUint(b, n, 10)
				left -= n
			}
		}
		b = append(b, '}')
	}
	if f == FormatJSON {
		b = append(b, ']')
	}
	return b
}

// FuzzSecondsFrom compares the timestamp arithmetic, which works on decimal digits, with exact
// rational arithmetic.
func FuzzSecondsFrom(f *testing.F) {
	for _, s := range []string{
		"0", "1608102631.9", "1.6e9", "1e11", "99999999999.999", "253402300799999",
		"253402300800000", "1661860794425", "0.000e5", "123e-2", "1E+14", "9e14",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Only unsigned JSON numbers, without surrounding space, reach secondsFrom, and
		// big.Rat cannot afford huge exponents.
		if !json.Valid([]byte(s)) || s == "" || s[0] < '0' || s[0] > '9' ||
			scanNumber([]byte(s), 0) != len(s) {
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 400 || e < -400 {
				return
			}
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}

		floor := func(r *big.Rat) *big.Int { return new(big.Int).Quo(r.Num(), r.Denom()) }
		v := floor(r)
		wantOK := v.Cmp(big.NewInt(msUntil)) < 0
		if v.Cmp(big.NewInt(msFrom)) >= 0 {
			v.Quo(v, big.NewInt(1000))
		}

		got, gotOK := secondsFrom([]byte(s))
		if gotOK != wantOK || gotOK && got != v.Int64() {
			t.Fatalf("secondsFrom(%q) = %d, %v, want %v, %v", s, got, gotOK, v, wantOK)
		}
	})
}
