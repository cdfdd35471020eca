package counter

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// objectCase is one counter object and what Parse must make of it. TestParseObject runs every
// case as a single FormatJSON object, as the second element of a JSON array and as the second
// non-blank line of an NDJSON body, so each rule is checked in every layout.
type objectCase struct {
	name string
	obj  string // one line

	want Counter // when kind is nil

	kind  error  // the error's Kind
	field string // the error's Field
	msg   string // a part of the message, besides the field
}

var objectCases = []objectCase{
	// Shape and normalization.
	{
		name: "seed example",
		obj:  `{"timestamp": 1608102631, "siteA.com": 3, "siteB.com": 4}`,
		want: Counter{1608102631, []DomainCount{{"sitea.com", 3}, {"siteb.com", 4}}},
	},
	{
		name: "no domains",
		obj:  `{"timestamp":1608102631}`,
		want: Counter{1608102631, nil},
	},
	{
		name: "timestamp after the domains",
		obj:  `{"b.com":1,"a.com":2,"timestamp":1608102631}`,
		want: Counter{1608102631, []DomainCount{{"a.com", 2}, {"b.com", 1}}},
	},
	{
		name: "case variants are summed",
		obj:  `{"timestamp":1,"SiteA.com":3,"sitea.com":2,"SITEA.COM":1}`,
		want: Counter{1, []DomainCount{{"sitea.com", 6}}},
	},
	{
		name: "repeated key is summed",
		obj:  `{"timestamp":1,"a.com":1,"b.com":5,"a.com":2}`,
		want: Counter{1, []DomainCount{{"a.com", 3}, {"b.com", 5}}},
	},
	{
		name: "one trailing dot is removed",
		obj:  `{"timestamp":1,"a.com.":1,"a.com":1,"A.COM.":1}`,
		want: Counter{1, []DomainCount{{"a.com", 3}}},
	},
	{
		name: "sorted bytewise",
		obj:  `{"timestamp":1,"b.com":1,"a.com":1,"B.com":1,"A-z.com":1,"\u00e9.com":1}`,
		want: Counter{1, []DomainCount{
			{"a-z.com", 1}, {"a.com", 1}, {"b.com", 2}, {"\u00e9.com", 1},
		}},
	},
	{
		name: "zero count is dropped",
		obj:  `{"timestamp":1,"a.com":0,"b.com":1}`,
		want: Counter{1, []DomainCount{{"b.com", 1}}},
	},
	{
		name: "only zero counts leaves no domains",
		obj:  `{"timestamp":1,"a.com":0,"A.com":0}`,
		want: Counter{1, nil},
	},
	{
		name: "non-ASCII letters keep their case",
		obj:  `{"timestamp":1,"B\u00dcCHER.de":1,"bücher.DE":1}`,
		want: Counter{1, []DomainCount{{"b\u00dccher.de", 1}, {"bücher.de", 1}}},
	},
	{
		name: "escaped key",
		obj:  `{"timestamp":1,"\u0041.com":1,"\ud83d\ude00.com":2,"a\/b":3}`,
		want: Counter{1, []DomainCount{{"a.com", 1}, {"a/b", 3}, {"\U0001F600.com", 2}}},
	},
	{
		name: "escaped timestamp key is the timestamp",
		obj:  `{"t\u0069mestamp":7}`,
		want: Counter{7, nil},
	},
	{
		name: "253-byte domain with a trailing dot",
		obj:  `{"timestamp":1,"` + strings.Repeat("a", 253) + `.":1}`,
		want: Counter{1, []DomainCount{{strings.Repeat("a", 253), 1}}},
	},
	{
		name: "largest count",
		obj:  `{"timestamp":1,"a.com":9007199254740991}`,
		want: Counter{1, []DomainCount{{"a.com", 9007199254740991}}},
	},
	{
		name: "sums beyond 2^53",
		obj:  `{"timestamp":1,"a.com":9007199254740991,"a.com":9007199254740991}`,
		want: Counter{1, []DomainCount{{"a.com", 2 * 9007199254740991}}},
	},

	// Timestamp forms.
	{
		name: "fraction is floored", obj: `{"timestamp":1608102631.9}`,
		want: Counter{1608102631, nil},
	},
	{
		name: "long fraction is floored exactly",
		obj:  `{"timestamp":1608102631.99999999999999999999}`,
		want: Counter{1608102631, nil},
	},
	{name: "exponent", obj: `{"timestamp":1.6e9}`, want: Counter{1600000000, nil}},
	{
		name: "exponent with fraction", obj: `{"timestamp":16.081026319E+8}`,
		want: Counter{1608102631, nil},
	},
	{
		name: "negative exponent", obj: `{"timestamp":16081026310e-1}`,
		want: Counter{1608102631, nil},
	},
	{name: "tiny value is zero", obj: `{"timestamp":1e-400}`, want: Counter{0, nil}},
	{name: "zero", obj: `{"timestamp":0}`, want: Counter{0, nil}},
	{
		name: "zero with huge exponent", obj: `{"timestamp":0.0e999999999999999999}`,
		want: Counter{0, nil},
	},
	{name: "below a second", obj: `{"timestamp":0.5}`, want: Counter{0, nil}},
	{
		name: "just below 1e11 is seconds", obj: `{"timestamp":99999999999.9}`,
		want: Counter{99999999999, nil},
	},
	{name: "1e11 is milliseconds", obj: `{"timestamp":1e11}`, want: Counter{100000000, nil}},
	{name: "milliseconds", obj: `{"timestamp":1661860794425}`, want: Counter{1661860794, nil}},
	{
		name: "milliseconds with fraction", obj: `{"timestamp":1661860794999.9}`,
		want: Counter{1661860794, nil},
	},
	{
		name: "last millisecond of 9999", obj: `{"timestamp":253402300799999}`,
		want: Counter{253402300799, nil},
	},
	{name: "string of digits", obj: `{"timestamp":"1608102631"}`, want: Counter{1608102631, nil}},
	{
		name: "string of milliseconds", obj: `{"timestamp":"1661860794425"}`,
		want: Counter{1661860794, nil},
	},
	{
		name: "string with leading zeros", obj: `{"timestamp":"0001608102631"}`,
		want: Counter{1608102631, nil},
	},
	{name: "string with escaped digit", obj: `{"timestamp":"\u0031"}`, want: Counter{1, nil}},

	// Timestamp errors.
	{
		name: "seed example with a stray letter", obj: `{"timestamp":"1661860794425l","a.com":1}`,
		kind: ErrTimestamp, field: "timestamp", msg: `"1661860794425l"`,
	},
	{
		name: "timestamp missing", obj: `{"a.com":1}`,
		kind: ErrTimestamp, field: "timestamp", msg: "missing",
	},
	{
		name: "timestamp twice", obj: `{"timestamp":1,"timestamp":1}`,
		kind: ErrTimestamp, field: "timestamp", msg: "twice",
	},
	{
		name: "timestamp true", obj: `{"timestamp":true}`,
		kind: ErrTimestamp, field: "timestamp", msg: "got true",
	},
	{
		name: "timestamp null", obj: `{"timestamp":null}`,
		kind: ErrTimestamp, field: "timestamp", msg: "got null",
	},
	{
		name: "timestamp object", obj: `{"timestamp":{}}`,
		kind: ErrTimestamp, field: "timestamp", msg: "got an object",
	},
	{
		name: "timestamp array", obj: `{"timestamp":[1]}`,
		kind: ErrTimestamp, field: "timestamp", msg: "got an array",
	},
	{
		name: "timestamp letters", obj: `{"timestamp":"now"}`,
		kind: ErrTimestamp, field: "timestamp", msg: `"now"`,
	},
	{
		name: "timestamp empty string", obj: `{"timestamp":""}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{
		name: "timestamp string with space", obj: `{"timestamp":" 1"}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{
		name: "timestamp string fraction", obj: `{"timestamp":"1.5"}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{
		name: "timestamp string negative", obj: `{"timestamp":"-1"}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{
		name: "timestamp negative", obj: `{"timestamp":-1}`,
		kind: ErrTimestamp, field: "timestamp", msg: "minus",
	},
	{
		name: "timestamp negative fraction", obj: `{"timestamp":-0.5}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{name: "timestamp minus zero", obj: `{"timestamp":-0}`, kind: ErrTimestamp, field: "timestamp"},
	{
		name: "timestamp year 10000", obj: `{"timestamp":253402300800000}`,
		kind: ErrTimestamp, field: "timestamp", msg: "year 10000",
	},
	{name: "timestamp 1e15", obj: `{"timestamp":1e15}`, kind: ErrTimestamp, field: "timestamp"},
	{name: "timestamp 1e400", obj: `{"timestamp":1e400}`, kind: ErrTimestamp, field: "timestamp"},
	{
		name: "timestamp huge string", obj: `{"timestamp":"` + strings.Repeat("9", 100) + `"}`,
		kind: ErrTimestamp, field: "timestamp",
	},
	{
		name: "timestamp with uppercase T", obj: `{"Timestamp":1608102631}`,
		kind: ErrDomain, field: "Timestamp", msg: "lower case",
	},
	{
		name: "timestamp with trailing dot", obj: `{"timestamp":1,"timestamp.":1}`,
		kind: ErrDomain, field: "timestamp.",
	},

	// Domain errors.
	{name: "empty key", obj: `{"timestamp":1,"":1}`, kind: ErrDomain, field: "", msg: "empty"},
	{name: "only a dot", obj: `{"timestamp":1,".":1}`, kind: ErrDomain, field: ".", msg: "empty"},
	{
		name: "two trailing dots", obj: `{"timestamp":1,"a.com..":1}`,
		kind: ErrDomain, field: "a.com..", msg: "two dots",
	},
	{
		name: "space", obj: `{"timestamp":1,"a b.com":1}`,
		kind: ErrDomain, field: "a b.com", msg: "U+0020",
	},
	{name: "leading space", obj: `{"timestamp":1," a.com":1}`, kind: ErrDomain, field: " a.com"},
	{name: "tab", obj: `{"timestamp":1,"a\tb":1}`, kind: ErrDomain, field: "a\tb", msg: "U+0009"},
	{name: "NUL", obj: `{"timestamp":1,"a\u0000":1}`, kind: ErrDomain, field: "a\x00"},
	{name: "DEL", obj: `{"timestamp":1,"a\u007f":1}`, kind: ErrDomain, field: "a\x7f"},
	{name: "C1 control", obj: `{"timestamp":1,"a\u0085":1}`, kind: ErrDomain, field: "a\u0085"},
	{
		name: "no-break space", obj: `{"timestamp":1,"a\u00a0b":1}`,
		kind: ErrDomain, field: "a\u00a0b",
	},
	{
		name: "ideographic space", obj: `{"timestamp":1,"a\u3000b":1}`,
		kind: ErrDomain, field: "a\u3000b",
	},
	{
		name: "invalid UTF-8", obj: "{\"timestamp\":1,\"a\xffb\":1}",
		kind: ErrDomain, field: "a\xffb", msg: "UTF-8",
	},
	{
		name: "lone surrogate", obj: `{"timestamp":1,"\ud800.com":1}`,
		kind: ErrDomain, field: "\ufffd.com", msg: "surrogate",
	},
	{
		name: "254 bytes", obj: `{"timestamp":1,"` + strings.Repeat("a", 254) + `":1}`,
		kind: ErrDomain, field: strings.Repeat("a", 61) + "...", msg: "254 bytes",
	},

	// Count errors.
	{
		name: "count negative", obj: `{"timestamp":1,"a.com":-1}`,
		kind: ErrCount, field: "a.com", msg: "got -1",
	},
	{name: "count minus zero", obj: `{"timestamp":1,"a.com":-0}`, kind: ErrCount, field: "a.com"},
	{
		name: "count fraction", obj: `{"timestamp":1,"a.com":1.5}`,
		kind: ErrCount, field: "a.com", msg: "got 1.5",
	},
	{
		name: "count whole fraction", obj: `{"timestamp":1,"a.com":1.0}`,
		kind: ErrCount, field: "a.com", msg: "got 1.0",
	},
	{name: "count exponent", obj: `{"timestamp":1,"a.com":1e3}`, kind: ErrCount, field: "a.com"},
	{
		name: "count string", obj: `{"timestamp":1,"a.com":"3"}`,
		kind: ErrCount, field: "a.com", msg: `the string "3"`,
	},
	{name: "count true", obj: `{"timestamp":1,"a.com":true}`, kind: ErrCount, field: "a.com"},
	{name: "count null", obj: `{"timestamp":1,"a.com":null}`, kind: ErrCount, field: "a.com"},
	{name: "count object", obj: `{"timestamp":1,"a.com":{"n":1}}`, kind: ErrCount, field: "a.com"},
	{name: "count array", obj: `{"timestamp":1,"a.com":[1]}`, kind: ErrCount, field: "a.com"},
	{
		name: "count 2^53", obj: `{"timestamp":1,"a.com":9007199254740992}`,
		kind: ErrCount, field: "a.com",
	},
	{
		name: "count 2^64", obj: `{"timestamp":1,"a.com":18446744073709551616}`,
		kind: ErrCount, field: "a.com",
	},
	{
		name: "count error names the key as sent", obj: `{"timestamp":1,"A.COM":-1}`,
		kind: ErrCount, field: "A.COM",
	},
	{
		name: "long value is not echoed whole",
		obj:  `{"timestamp":1,"a.com":"` + strings.Repeat("x", 500) + `"}`,
		kind: ErrCount, field: "a.com", msg: strings.Repeat("x", 61) + "...",
	},
}

func TestParseObject(t *testing.T) {
	const first = `{"timestamp":5,"z.com":1}`
	firstWant := Counter{5, []DomainCount{{"z.com", 1}}}

	for _, tc := range objectCases {
		layouts := []struct {
			name    string
			body    string
			f       Format
			index   int    // of tc.obj among the counters
			where   string // how messages locate tc.obj
			leading []Counter
		}{
			{"object", tc.obj, FormatJSON, 0, "counter 0: ", nil},
			{"array", "[" + first + ",\n" + tc.obj + "]", FormatJSON, 1, "counter 1: ",
				[]Counter{firstWant}},
			{"ndjson", first + "\n\n" + tc.obj + "\r\n", FormatNDJSON, 1, "counter 1 (line 3): ",
				[]Counter{firstWant}},
		}
		for _, l := range layouts {
			t.Run(tc.name+"/"+l.name, func(t *testing.T) {
				got, err := Parse([]byte(l.body), l.f, DefaultLimits())
				if tc.kind == nil {
					if err != nil {
						t.Fatalf("Parse: %v", err)
					}
					want := append(l.leading, tc.want)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
					}
					return
				}
				e := checkErr(t, got, err, tc.kind, l.index)
				if e.Field != tc.field {
					t.Errorf("Field = %q, want %q", e.Field, tc.field)
				}
				wantPrefix := l.where + "field " + fmt.Sprintf("%q", tc.field) + ": "
				if !strings.HasPrefix(e.Message, wantPrefix) {
					t.Errorf("message %q does not start with %q", e.Message, wantPrefix)
				}
				if !strings.Contains(e.Message, tc.msg) {
					t.Errorf("message %q does not mention %q", e.Message, tc.msg)
				}
			})
		}
	}
}

// checkErr checks that Parse failed with an *Error of the given kind about counter index.
func checkErr(t *testing.T, got []Counter, err error, kind error, index int) *Error {
	t.Helper()
	if got != nil {
		t.Errorf("Parse returned counters %+v with error %v", got, err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, kind) || e.Kind != kind {
		t.Errorf("error kind = %v, want %v (message %q)", e.Kind, kind, e.Message)
	}
	if e.Counter != index {
		t.Errorf("Counter = %d, want %d (message %q)", e.Counter, index, e.Message)
	}
	if e.Error() != e.Message || e.Message == "" {
		t.Errorf("Error() = %q, Message = %q", e.Error(), e.Message)
	}
	return e
}

func TestParseBody(t *testing.T) {
	small := Limits{MaxDomainsPerCounter: 2, MaxCountersPerRequest: 2}
	tests := []struct {
		name string
		body string
		f    Format
		lim  Limits

		want []Counter // when kind is nil

		kind    error
		counter int    // the error's Counter
		msg     string // a part of the message
	}{
		{name: "json empty", body: "", kind: ErrSyntax, counter: -1, msg: "empty"},
		{name: "json blank", body: " \r\n\t", kind: ErrSyntax, counter: -1, msg: "empty"},
		{name: "json not json", body: "siteA.com=3", kind: ErrSyntax, counter: -1, msg: "byte 0"},
		{name: "json truncated", body: `{"timestamp":1`, kind: ErrSyntax, counter: -1},
		{name: "json trailing garbage", body: `{"timestamp":1} x`, kind: ErrSyntax, counter: -1},
		{
			name: "json two objects", body: "{\"timestamp\":1}\n{\"timestamp\":2}",
			kind: ErrSyntax, counter: -1, msg: "after top-level value",
		},
		{
			name: "json byte-order mark", body: "\uFEFF{\"timestamp\":1}",
			kind: ErrSyntax, counter: -1,
		},
		{name: "json number", body: "3", kind: ErrSyntax, counter: -1, msg: "got 3"},
		{name: "json null", body: "null", kind: ErrSyntax, counter: -1, msg: "got null"},
		{name: "json string", body: `"x"`, kind: ErrSyntax, counter: -1},
		{name: "json empty array", body: "[]", want: []Counter{}},
		{name: "json blank array", body: " [ \n ] ", want: []Counter{}},
		{
			name: "json array",
			body: `[{"timestamp":2,"b.com":1},{"timestamp":1},{"timestamp":2,"b.com":1}]`,
			want: []Counter{
				{2, []DomainCount{{"b.com", 1}}}, {1, nil}, {2, []DomainCount{{"b.com", 1}}},
			},
		},
		{
			name: "json array holding a number", body: `[{"timestamp":1},3]`,
			kind: ErrSyntax, counter: 1, msg: "array element",
		},
		{
			name: "json nested array", body: `[[{"timestamp":1}]]`,
			kind: ErrSyntax, counter: 0, msg: "got an array",
		},
		{
			name: "json syntax error after good counters", body: `[{"timestamp":1},{"timestamp":2}`,
			kind: ErrSyntax, counter: -1,
		},
		{
			name: "json syntax error after a schema error", body: `[{"timestamp":true},{]`,
			kind: ErrSyntax, counter: -1,
		},
		{
			name: "json counters at the limit", lim: small,
			body: `[{"timestamp":1},{"timestamp":2}]`,
			want: []Counter{{1, nil}, {2, nil}},
		},
		{
			name: "json too many counters", lim: small,
			body: `[{"timestamp":1},{"timestamp":2},{"timestamp":3}]`,
			kind: ErrTooLarge, counter: 2, msg: "more than 2 counters in one request",
		},
		{
			name: "json domains at the limit", lim: small,
			body: `{"timestamp":1,"a.com":1,"b.com":1}`,
			want: []Counter{{1, []DomainCount{{"a.com", 1}, {"b.com", 1}}}},
		},
		{
			name: "json too many domains", lim: small,
			body: `{"timestamp":1,"a.com":1,"b.com":1,"c.com":1}`,
			kind: ErrTooLarge, counter: 0,
			msg: "more than 2 domains in one counter object: split them",
		},
		{
			name: "json repeats and zeros count toward the limit", lim: small,
			body: `[{"timestamp":1},{"timestamp":1,"a.com":1,"a.com":0,"a.com":1}]`,
			kind: ErrTooLarge, counter: 1, msg: "more than 2 domains in one counter object",
		},
		{
			name: "ndjson",
			body: "{\"timestamp\":1,\"a.com\":1}\n{\"timestamp\":2}", f: FormatNDJSON,
			want: []Counter{{1, []DomainCount{{"a.com", 1}}}, {2, nil}},
		},
		{
			name: "ndjson blank lines and CRLF", f: FormatNDJSON,
			body: "\n \r\n{\"timestamp\":1}\r\n\t\n{\"timestamp\":2}\n\n",
			want: []Counter{{1, nil}, {2, nil}},
		},
		{name: "ndjson empty", body: "", f: FormatNDJSON, kind: ErrSyntax, counter: -1},
		{
			name: "ndjson blank lines only", body: "\n \r\n\n", f: FormatNDJSON,
			kind: ErrSyntax, counter: -1,
		},
		{
			name: "ndjson array line", f: FormatNDJSON,
			body: "{\"timestamp\":1}\n[{\"timestamp\":1}]",
			kind: ErrSyntax, counter: 1, msg: "counter 1 (line 2): ",
		},
		{
			name: "ndjson bad line", body: "{\"timestamp\":1}\n\n{\"timestamp\":}", f: FormatNDJSON,
			kind: ErrSyntax, counter: 1,
			msg: "counter 1 (line 3): the line is not valid JSON at byte 13",
		},
		{
			name: "ndjson two objects on a line", body: `{"timestamp":1} {"timestamp":2}`,
			f: FormatNDJSON, kind: ErrSyntax, counter: 0,
		},
		{
			name: "ndjson pretty-printed object", body: "{\n\"timestamp\": 1\n}", f: FormatNDJSON,
			kind: ErrSyntax, counter: 0, msg: "line 1",
		},
		{
			name: "ndjson too many counters", lim: small, f: FormatNDJSON,
			body: "{\"timestamp\":1}\n{\"timestamp\":2}\n\n{\"timestamp\":3}",
			kind: ErrTooLarge, counter: 2,
			msg: "counter 2 (line 4): more than 2 counters in one request: send them",
		},
		{
			name: "ndjson too many domains", lim: small, f: FormatNDJSON,
			body: `{"timestamp":1,"a.com":1,"b.com":1,"c.com":1}`,
			kind: ErrTooLarge, counter: 0, msg: "more than 2 domains in one counter object",
		},
		{
			name: "unknown format", body: `{"timestamp":1}`, f: Format(9),
			kind: ErrUnsupportedMediaType, counter: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.body), tc.f, tc.lim)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("Parse =\n%+v\nwant\n%+v", got, tc.want)
				}
				return
			}
			e := checkErr(t, got, err, tc.kind, tc.counter)
			if e.Field != "" {
				t.Errorf("Field = %q, want none", e.Field)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", e.Message, tc.msg)
			}
		})
	}
}

func TestParseDefaultLimits(t *testing.T) {
	// manyDomains returns a counter object with n distinct domains.
	manyDomains := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"timestamp":1`)
		for i := range n {
			fmt.Fprintf(&b, `,"d%d.com":1`, i)
		}
		b.WriteString("}")
		return []byte(b.String())
	}
	// manyCounters returns a JSON array of n counter objects.
	manyCounters := func(n int) []byte {
		return []byte("[" + strings.Repeat(`{"timestamp":1},`, n-1) + `{"timestamp":1}]`)
	}

	tests := []struct {
		name string
		body []byte
		lim  Limits
		ok   bool
	}{
		{name: "10000 domains", body: manyDomains(10_000), ok: true},
		{name: "10001 domains", body: manyDomains(10_001)},
		{name: "10000 counters", body: manyCounters(10_000), ok: true},
		{name: "10001 counters", body: manyCounters(10_001)},
		{
			name: "negative limits mean the defaults", body: manyCounters(10_000), ok: true,
			lim: Limits{MaxDomainsPerCounter: -1, MaxCountersPerRequest: -1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.body, FormatJSON, tc.lim)
			if tc.ok && err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse error = %v, want ErrTooLarge", err)
			}
		})
	}
}

func TestParseSplitsOverflowingTotals(t *testing.T) {
	const m = 9007199254740991 // the largest count
	// counter returns an object with n counts of m for a.com, and one count of 1 for b.com.
	counter := func(n int) string {
		return `{"timestamp":1,"b.com":1` + strings.Repeat(fmt.Sprintf(`,"a.com":%d`, m), n) + "}"
	}
	// 2048*m = 2^64 - 2048 fits; one more m overflows by m-2049.
	tests := []struct {
		name string
		n    int
		want []DomainCount
	}{
		{name: "fits", n: 2048, want: []DomainCount{{"a.com", 2048 * m}, {"b.com", 1}}},
		{
			name: "overflows once", n: 2049,
			want: []DomainCount{
				{"a.com", math.MaxUint64}, {"a.com", 2049*m - math.MaxUint64}, {"b.com", 1},
			},
		},
		{
			name: "overflows twice", n: 4097,
			want: []DomainCount{
				{"a.com", math.MaxUint64},
				{"a.com", math.MaxUint64},
				{"a.com", 4097*m - 2*math.MaxUint64},
				{"b.com", 1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(counter(tc.n)), FormatJSON, Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := []Counter{{1, tc.want}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseConcurrently(t *testing.T) {
	// Parsers are pooled; run under -race, this shows that no state leaks between calls.
	tests := []struct {
		name string
		body string
		want []Counter
	}{
		{
			name: "one", body: `{"timestamp":1,"B.com":2,"a.com":1}`,
			want: []Counter{{1, []DomainCount{{"a.com", 1}, {"b.com", 2}}}},
		},
		{
			name: "two", body: `[{"timestamp":2,"c.com":3},{"timestamp":3}]`,
			want: []Counter{{2, []DomainCount{{"c.com", 3}}}, {3, nil}},
		},
		{name: "bad", body: `{"timestamp":2,"c.com":-3}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 200 {
				got, err := Parse([]byte(tc.body), FormatJSON, Limits{})
				if (err == nil) != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("Parse = %+v, %v, want %+v", got, err, tc.want)
				}
			}
		})
	}
}

func TestParseResultIsIndependent(t *testing.T) {
	body := []byte(`[{"timestamp":1,"a.com":1},{"timestamp":2,"b.com":2}]`)
	got, err := Parse(body, FormatJSON, Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	// Neither reusing the body nor appending to one counter may change another.
	for i := range body {
		body[i] = 'x'
	}
	got[0].Domains = append(got[0].Domains, DomainCount{"c.com", 3})
	want := []Counter{
		{1, []DomainCount{{"a.com", 1}, {"c.com", 3}}},
		{2, []DomainCount{{"b.com", 2}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reuse: %+v, want %+v", got, want)
	}
}

func TestFormatFor(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		want        Format
		ok          bool
	}{
		{name: "json", contentType: "application/json", want: FormatJSON, ok: true},
		{
			name: "json with charset", contentType: "application/json; charset=utf-8",
			want: FormatJSON, ok: true,
		},
		{name: "json upper case", contentType: "Application/JSON", want: FormatJSON, ok: true},
		{name: "missing", contentType: "", want: FormatJSON, ok: true},
		{name: "blank", contentType: "  ", want: FormatJSON, ok: true},
		{
			name: "curl -d", contentType: "application/x-www-form-urlencoded",
			want: FormatJSON, ok: true,
		},
		{name: "ndjson", contentType: "application/x-ndjson", want: FormatNDJSON, ok: true},
		{
			name: "ndjson with params", contentType: " application/x-ndjson ;charset=utf-8",
			want: FormatNDJSON, ok: true,
		},
		{name: "text", contentType: "text/plain"},
		{name: "multipart", contentType: "multipart/form-data; boundary=x"},
		{name: "json-ish", contentType: "application/jsonl"},
		{name: "long", contentType: strings.Repeat("x", 1000)},
		{name: "parameters without a type", contentType: ";;;"},
		{name: "charset without a type", contentType: "; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FormatFor(tc.contentType)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("FormatFor(%q) = %v, %v, want %v", tc.contentType, got, err, tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrUnsupportedMediaType) || e.Counter != -1 {
				t.Fatalf("FormatFor(%q) error = %#v, want an *Error of ErrUnsupportedMediaType",
					tc.contentType, err)
			}
			if len(e.Message) > 300 || !strings.Contains(e.Message, "application/x-ndjson") {
				t.Errorf("message %q is too long or does not say what to send", e.Message)
			}
		})
	}
}

func TestFormatString(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		want string
	}{
		{name: "json", f: FormatJSON, want: "application/json"},
		{name: "ndjson", f: FormatNDJSON, want: "application/x-ndjson"},
		{name: "unknown", f: Format(7), want: "Format(7)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "short", in: "abc", want: "abc"},
		{name: "exactly 64", in: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "65", in: strings.Repeat("a", 65), want: strings.Repeat("a", 61) + "..."},
		{
			name: "no split rune", in: strings.Repeat("a", 60) + "ééé",
			want: strings.Repeat("a", 60) + "...",
		},
		{
			name: "invalid UTF-8", in: strings.Repeat("\x80", 100),
			want: strings.Repeat("\x80", 58) + "...",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := clip(tc.in)
			if got != tc.want || len(got) > maxEcho {
				t.Fatalf("clip(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
