package counter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Counter is one counter object from a request: the requests each domain served in the second
// Timestamp names.
type Counter struct {
	// Timestamp is Unix time in seconds, from 0 up to the end of year 9999.
	Timestamp int64

	// Domains holds one entry per normalized domain, sorted by domain (bytewise), with every
	// Count above zero. A domain appears twice only when its total does not fit in a uint64;
	// see the package doc. Nil when the counter named no domain with a non-zero count.
	Domains []DomainCount
}

// DomainCount is the number of requests one domain served.
type DomainCount struct {
	// Domain is the normalized domain: ASCII letters in lower case, no trailing dot.
	Domain string

	// Count is the total of the counts sent for Domain in one counter; never zero.
	Count uint64
}

// Limits bound the work one request can cause. A field that is zero or negative means its
// default, so the zero Limits is DefaultLimits.
type Limits struct {
	// MaxDomainsPerCounter caps the domain keys of one counter object, counted as sent:
	// repeated keys and zero counts count too.
	MaxDomainsPerCounter int

	// MaxCountersPerRequest caps the counter objects in one request.
	MaxCountersPerRequest int
}

// DefaultLimits returns the limits the ingest contract promises: 10,000 domains per counter and
// 10,000 counters per request.
func DefaultLimits() Limits {
	return Limits{MaxDomainsPerCounter: 10_000, MaxCountersPerRequest: 10_000}
}

const (
	// maxCount is the largest count accepted, 2^53-1, the largest integer every JSON
	// implementation (JavaScript's included) holds exactly.
	maxCount = 1<<53 - 1

	// msFrom is the smallest timestamp read as milliseconds; as seconds it would be year 5138.
	msFrom = 100_000_000_000

	// msUntil is 10000-01-01T00:00:00Z in milliseconds, the first timestamp refused.
	msUntil = 253_402_300_800_000

	// maxDomainLen is the longest domain name DNS allows, in bytes, without the trailing dot.
	maxDomainLen = 253

	// example is a counter object quoted in error messages to show the expected shape.
	example = `{"timestamp":1608102631,"example.com":3}`
)

// Parse reads the counters in body, laid out as f says, and returns them in the order sent.
// Any problem rejects the whole request: Parse then returns no counters and an *Error saying
// what is wrong, where, and how to fix it. See the package doc for the rules.
//
// Parse does not keep body, and the counters it returns share no memory with it.
func Parse(body []byte, f Format, lim Limits) ([]Counter, error) {
	if f != FormatJSON && f != FormatNDJSON {
		return nil, &Error{
			Kind:    ErrUnsupportedMediaType,
			Counter: -1,
			Message: fmt.Sprintf("unknown format %d: use FormatJSON or FormatNDJSON", int(f)),
		}
	}

	def := DefaultLimits()
	if lim.MaxDomainsPerCounter <= 0 {
		lim.MaxDomainsPerCounter = def.MaxDomainsPerCounter
	}
	if lim.MaxCountersPerRequest <= 0 {
		lim.MaxCountersPerRequest = def.MaxCountersPerRequest
	}

	p := parserPool.Get().(*parser)
	defer p.release()
	p.lim = lim

	var err error
	if f == FormatNDJSON {
		err = p.parseNDJSON(body)
	} else {
		err = p.parseJSON(body)
	}
	if err != nil {
		return nil, err
	}
	return p.counters(), nil
}

// parser holds the scratch space of one Parse call. Parsers are pooled so that a request costs
// only the allocations of its result.
type parser struct {
	lim   Limits
	line  int     // 1-based line of the counter being parsed in NDJSON, 0 for FormatJSON
	arena []byte  // decoded, normalized domain names of the whole request
	ents  []entry // domains of the counter being parsed, as sent
	out   []entry // domains of every counter parsed so far, merged
	spans []span  // one per counter parsed so far
}

// entry is a domain in parser.arena and its count.
type entry struct {
	off, n int // the domain is arena[off : off+n]
	count  uint64
}

// span is a parsed counter whose domains are parser.out[start:end].
type span struct {
	ts         int64
	start, end int
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// Scratch space beyond these sizes is dropped rather than pooled, so that a rare huge request
// does not pin its memory for good.
const (
	maxPooledBytes   = 1 << 20
	maxPooledEntries = 1 << 16
)

// release empties p and returns it to the pool unless it grew too large.
func (p *parser) release() {
	if cap(p.arena) > maxPooledBytes || cap(p.out) > maxPooledEntries ||
		cap(p.ents) > maxPooledEntries || cap(p.spans) > maxPooledEntries {
		return
	}
	p.line = 0
	p.arena = p.arena[:0]
	p.ents = p.ents[:0]
	p.out = p.out[:0]
	p.spans = p.spans[:0]
	parserPool.Put(p)
}

// counters builds the result from the scratch space with three allocations: one for the
// counters, one for all their DomainCounts and one string holding every domain name.
func (p *parser) counters() []Counter {
	names := string(p.arena)
	doms := make([]DomainCount, len(p.out))
	for i, e := range p.out {
		doms[i] = DomainCount{Domain: names[e.off : e.off+e.n], Count: e.count}
	}
	cs := make([]Counter, len(p.spans))
	for i, s := range p.spans {
		cs[i].Timestamp = s.ts
		if s.end > s.start {
			// Cap each slice so an append by the caller cannot overwrite the next counter.
			cs[i].Domains = doms[s.start:s.end:s.end]
		}
	}
	return cs
}

// parseJSON parses a FormatJSON body: one counter object or an array of them.
func (p *parser) parseJSON(b []byte) error {
	i := skipWS(b, 0)
	if i == len(b) {
		return p.counterErr(ErrSyntax, -1, "the body is empty: send one counter object like "+
			example+" or a JSON array of them")
	}
	// Validating first lets the walk below assume well-formed JSON, and rejects trailing
	// garbage, before any counter is looked at.
	if !json.Valid(b) {
		return p.syntaxErr(b, -1)
	}

	switch b[i] {
	case '{':
		_, err := p.parseObject(b, i, 0)
		return err
	case '[':
	default:
		return p.counterErr(ErrSyntax, -1, "want one counter object like "+example+
			" or a JSON array of them, got "+describe(b, i))
	}

	i = skipWS(b, i+1)
	if b[i] == ']' {
		return nil
	}
	for idx := 0; ; idx++ {
		if idx >= p.lim.MaxCountersPerRequest {
			return p.tooManyCounters(idx)
		}
		if b[i] != '{' {
			return p.counterErr(ErrSyntax, idx, "want a counter object like "+example+
				" as each array element, got "+describe(b, i))
		}
		var err error
		if i, err = p.parseObject(b, i, idx); err != nil {
			return err
		}
		i = skipWS(b, i)
		if b[i] == ']' {
			return nil
		}
		i = skipWS(b, i+1) // past the comma
	}
}

// parseNDJSON parses a FormatNDJSON body: one counter object per line, blank lines skipped.
func (p *parser) parseNDJSON(b []byte) error {
	idx := 0
	for line := 1; len(b) > 0; line++ {
		var l []byte
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			l, b = b[:j], b[j+1:]
		} else {
			l, b = b, nil
		}
		i := skipWS(l, 0) // also drops the \r of a CRLF line end
		if i == len(l) {
			continue
		}

		p.line = line
		if idx >= p.lim.MaxCountersPerRequest {
			return p.tooManyCounters(idx)
		}
		if !json.Valid(l) {
			return p.syntaxErr(l, idx)
		}
		if l[i] != '{' {
			return p.counterErr(ErrSyntax, idx, "want one counter object like "+example+
				" on each line, got "+describe(l, i))
		}
		if _, err := p.parseObject(l, i, idx); err != nil {
			return err
		}
		idx++
	}
	if idx == 0 {
		return p.counterErr(ErrSyntax, -1, "the body has no counters: send one counter object "+
			"like "+example+" per line")
	}
	return nil
}

// parseObject parses the counter object starting at b[i] == '{' as counter idx, appends it to
// the result, and returns the index just past its closing brace.
func (p *parser) parseObject(b []byte, i, idx int) (int, error) {
	var (
		ts     int64
		haveTS bool
		keys   int
	)
	i++ // past '{'
	for {
		i = skipWS(b, i)
		switch b[i] {
		case '}':
			if !haveTS {
				return 0, p.fieldErr(ErrTimestamp, idx, "timestamp", "missing: add the time "+
					"the counts are for as a Unix time in seconds, e.g. "+example)
			}
			p.endCounter(ts)
			return i + 1, nil
		case ',':
			i = skipWS(b, i+1)
		}

		// Decode the key into the arena, where it stays if it is a domain.
		ks := i
		var esc bool
		i, esc = scanString(b, i)
		key := b[ks+1 : i-1]
		i = skipWS(b, skipWS(b, i)+1) // past the colon
		off := len(p.arena)
		var ok bool
		if esc {
			p.arena, ok = appendUnescaped(p.arena, key)
		} else {
			p.arena, ok = append(p.arena, key...), true
		}
		name := p.arena[off:]

		if string(name) == "timestamp" {
			p.arena = p.arena[:off]
			if haveTS {
				return 0, p.fieldErr(ErrTimestamp, idx, "timestamp", "given twice: send one "+
					"timestamp per counter object, and counts for another time in another object")
			}
			var err error
			if ts, i, err = p.parseTimestamp(b, i, idx); err != nil {
				return 0, err
			}
			haveTS = true
			continue
		}

		keys++
		if keys > p.lim.MaxDomainsPerCounter {
			return 0, p.counterErr(ErrTooLarge, idx, fmt.Sprintf("more than %d domains "+
				"in one counter object: split them over several counter objects with the same "+
				"timestamp", p.lim.MaxDomainsPerCounter))
		}
		if !ok {
			return 0, p.fieldErr(ErrDomain, idx, string(name), "holds a lone UTF-16 "+
				"surrogate escape, which is not text: send the domain as UTF-8")
		}
		n, problem := checkDomain(name)
		if problem != "" {
			return 0, p.fieldErr(ErrDomain, idx, string(name), problem)
		}
		lowerASCII(name[:n])
		if string(name[:n]) == "timestamp" {
			return 0, p.fieldErr(ErrDomain, idx, string(unescape(key, esc)), "is not a domain: "+
				`spell the timestamp field "timestamp", in lower case; no domain may be named `+
				`"timestamp"`)
		}

		count, end, ok := parseCount(b, i)
		if !ok {
			return 0, p.fieldErr(ErrCount, idx, string(unescape(key, esc)), "want the request "+
				"count as a whole JSON number from 0 to 9007199254740991, without sign, "+
				"fraction or exponent, e.g. 3; got "+describe(b, i))
		}
		i = end
		if count == 0 {
			// Zero contributes nothing; forget the name too.
			p.arena = p.arena[:off]
			continue
		}
		p.arena = p.arena[:off+n]
		p.ents = append(p.ents, entry{off: off, n: n, count: count})
	}
}

// endCounter sums the domains of the counter just parsed into p.out, in domain order, and
// records the counter.
func (p *parser) endCounter(ts int64) {
	ents := p.ents
	if len(ents) > 1 {
		slices.SortFunc(ents, func(a, b entry) int {
			return bytes.Compare(p.arena[a.off:a.off+a.n], p.arena[b.off:b.off+b.n])
		})
	}

	start := len(p.out)
	for i := 0; i < len(ents); {
		e := ents[i]
		name := p.arena[e.off : e.off+e.n]

		// The total is full*MaxUint64 + sum; full is almost always 0.
		sum, full := e.count, 0
		j := i + 1
		for ; j < len(ents) && bytes.Equal(p.arena[ents[j].off:ents[j].off+ents[j].n], name); j++ {
			if c := ents[j].count; sum > math.MaxUint64-c {
				sum -= math.MaxUint64 - c
				full++
			} else {
				sum += c
			}
		}
		for ; full > 0; full-- {
			p.out = append(p.out, entry{off: e.off, n: e.n, count: math.MaxUint64})
		}
		if sum > 0 {
			p.out = append(p.out, entry{off: e.off, n: e.n, count: sum})
		}
		i = j
	}
	p.spans = append(p.spans, span{ts: ts, start: start, end: len(p.out)})
	p.ents = p.ents[:0]
}

// parseTimestamp parses the timestamp value starting at b[i] and returns it in seconds and the
// index just past it.
func (p *parser) parseTimestamp(b []byte, i, idx int) (int64, int, error) {
	const want = "want a Unix time in seconds (or milliseconds) as a JSON number or a string " +
		"of digits, got "

	var digits []byte
	end := i
	switch c := b[i]; {
	case c == '"':
		var esc bool
		end, esc = scanString(b, i)
		digits = unescape(b[i+1:end-1], esc)
		if len(digits) == 0 || !allDigits(digits) {
			return 0, 0, p.fieldErr(ErrTimestamp, idx, "timestamp", want+describe(b, i))
		}
	case '0' <= c && c <= '9':
		end = scanNumber(b, i)
		digits = b[i:end]
	case c == '-':
		return 0, 0, p.fieldErr(ErrTimestamp, idx, "timestamp", "want a Unix time at or "+
			"after 1970-01-01, without a minus sign, got "+describe(b, i))
	default:
		return 0, 0, p.fieldErr(ErrTimestamp, idx, "timestamp", want+describe(b, i))
	}

	ts, ok := secondsFrom(digits)
	if !ok {
		return 0, 0, p.fieldErr(ErrTimestamp, idx, "timestamp", "want a time before year "+
			"10000, as Unix seconds below 100000000000 or Unix milliseconds below "+
			"253402300800000, got "+describe(b, i))
	}
	return ts, end, nil
}

// secondsFrom floors the non-negative JSON number text s (digits, optionally a fraction and an
// exponent) to whole seconds, reading values from msFrom on as milliseconds. ok is false when
// the time is in year 10000 or later.
//
// It works on the decimal digits rather than through float64, so 1608102631.9999999 floors
// to 1608102631 and exponents of any size are safe.
func secondsFrom(s []byte) (ts int64, ok bool) {
	mant, exp := s, int64(0)
	if j := bytes.IndexAny(s, "eE"); j >= 0 {
		mant, exp = s[:j], parseExp(s[j+1:])
	}
	intPart, frac := mant, []byte(nil)
	if j := bytes.IndexByte(mant, '.'); j >= 0 {
		intPart, frac = mant[:j], mant[j+1:]
	}
	digit := func(k int) byte {
		if k < len(intPart) {
			return intPart[k] - '0'
		}
		return frac[k-len(intPart)] - '0'
	}

	// The value is 0.d1d2d3... * 10^point, with d1 the first non-zero digit.
	n := len(intPart) + len(frac)
	first := 0
	for first < n && digit(first) == 0 {
		first++
	}
	if first == n {
		return 0, true
	}
	point := int64(len(intPart)) + exp - int64(first)
	if point > 15 { // 10^15 ms is past year 10000 already
		return 0, false
	}

	// Floor: keep the digits before the point, padding with zeros past the last one.
	var v int64
	for k := int64(0); k < point; k++ {
		var d byte
		if at := int64(first) + k; at < int64(n) {
			d = digit(int(at))
		}
		v = v*10 + int64(d)
	}
	if v < msFrom {
		return v, true
	}
	if v >= msUntil {
		return 0, false
	}
	return v / 1000, true
}

// parseExp parses an exponent such as "+9" or "-12", saturating far beyond any exponent that
// could matter.
func parseExp(s []byte) int64 {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var e int64
	for _, c := range s {
		if e < 1<<40 {
			e = e*10 + int64(c-'0')
		}
	}
	if neg {
		return -e
	}
	return e
}

// parseCount parses the count value starting at b[i] and returns it and the index just past
// it; ok is false for anything but digits worth at most maxCount.
func parseCount(b []byte, i int) (count uint64, end int, ok bool) {
	if c := b[i]; c < '0' || c > '9' {
		return 0, 0, false
	}
	end = scanNumber(b, i)
	if end-i > len("9007199254740991") {
		return 0, 0, false
	}
	for _, c := range b[i:end] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		count = count*10 + uint64(c-'0')
	}
	return count, end, count <= maxCount
}

// checkDomain checks the decoded key d as a domain name. It returns the length of the
// normalized name (d without one trailing dot), or a message saying what is wrong and how to
// fix it.
func checkDomain(d []byte) (n int, problem string) {
	n = len(d)
	if n > 0 && d[n-1] == '.' {
		n--
	}
	switch {
	case n == 0:
		return 0, `want a domain name such as "example.com" as the key, got an empty name`
	case n > maxDomainLen:
		return 0, fmt.Sprintf("is %d bytes long: a domain name is at most %d bytes; "+
			"send only the host name", n, maxDomainLen)
	case d[n-1] == '.':
		return 0, "ends in two dots: send the domain with at most one trailing dot"
	}

	for i := 0; i < n; {
		// ASCII is the common case: its spaces and controls are exactly <= ' ' and DEL.
		if c := d[i]; c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f {
				return 0, spaceOrControl(rune(c), i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(d[i:n])
		if r == utf8.RuneError && size == 1 {
			return 0, fmt.Sprintf("is not valid UTF-8 (bad byte at %d): send the domain as "+
				"UTF-8 text", i)
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return 0, spaceOrControl(r, i)
		}
		i += size
	}
	return n, ""
}

// spaceOrControl describes the space or control character r found at byte i of a domain.
func spaceOrControl(r rune, i int) string {
	return fmt.Sprintf("holds %U, a space or control character, at byte %d: remove it", r, i)
}

// lowerASCII lower-cases the ASCII letters of d in place and leaves every other byte alone.
func lowerASCII(d []byte) {
	for i, c := range d {
		if 'A' <= c && c <= 'Z' {
			d[i] = c + 'a' - 'A'
		}
	}
}

// allDigits reports whether s is ASCII digits only.
func allDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unescape returns the text of the JSON string body s, copying only when esc says it holds
// escapes. It serves error paths and rare inputs.
func unescape(s []byte, esc bool) []byte {
	if !esc {
		return s
	}
	d, _ := appendUnescaped(nil, s)
	return d
}

// quote quotes at most maxEcho bytes of s for an error message.
func quote(s string) string { return strconv.Quote(clip(s)) }

// where prefixes an error message with the counter (and NDJSON line) it is about.
func (p *parser) where(idx int) string {
	switch {
	case idx < 0 && p.line == 0:
		return ""
	case idx < 0:
		return fmt.Sprintf("line %d: ", p.line)
	case p.line == 0:
		return fmt.Sprintf("counter %d: ", idx)
	}
	return fmt.Sprintf("counter %d (line %d): ", idx, p.line)
}

// counterErr builds an error about counter idx (-1: the whole request) as a whole.
func (p *parser) counterErr(kind error, idx int, msg string) *Error {
	return &Error{Kind: kind, Counter: idx, Message: p.where(idx) + msg}
}

// fieldErr builds an error about the key field of counter idx.
func (p *parser) fieldErr(kind error, idx int, field, msg string) *Error {
	field = clip(field)
	return &Error{
		Kind:    kind,
		Counter: idx,
		Field:   field,
		Message: p.where(idx) + "field " + strconv.Quote(field) + ": " + msg,
	}
}

// tooManyCounters reports that counter idx is one more than the limit allows.
func (p *parser) tooManyCounters(idx int) *Error {
	return p.counterErr(ErrTooLarge, idx, fmt.Sprintf("more than %d counters in one request: "+
		"send them in several requests", p.lim.MaxCountersPerRequest))
}

// syntaxErr explains why b, which json.Valid refused, is not JSON. It runs only on the error
// path, so it re-parses b to learn where the problem is.
func (p *parser) syntaxErr(b []byte, idx int) *Error {
	detail := "is not valid JSON"
	var se *json.SyntaxError
	if err := json.Unmarshal(b, new(json.RawMessage)); errors.As(err, &se) {
		// Offset counts the bytes read, the bad one included; messages count from 0.
		detail = fmt.Sprintf("is not valid JSON at byte %d: %v", max(se.Offset-1, 0), se)
	}
	what := "the body "
	fix := "; send one counter object like " + example + " or a JSON array of them"
	if p.line > 0 {
		what = "the line "
		fix = "; send one counter object like " + example + " per line"
	}
	return p.counterErr(ErrSyntax, idx, what+detail+fix)
}
