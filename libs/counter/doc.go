// Package counter implements the ingest contract of POST /api/counters: it turns a request body
// into counters, and one (counter, domain) pair into a Kafka record value and back.
//
// A counter object holds a Unix timestamp and any number of domain -> request-count pairs:
//
//	{"timestamp": 1608102631, "siteA.com": 3, "siteB.com": 4}
//
// FormatFor picks the body layout from the Content-Type, Parse reads the body, and the gateway
// writes one record per DomainCount with key = the Domain bytes and value = AppendRecord.
//
// # Rules
//
// A request is accepted whole or rejected whole. A rejection is an *Error whose Kind is one of
// the sentinels in errors.go, whose Counter and Field say where the problem is, and whose
// message says how to fix it, quoting at most 64 bytes of the input.
//
// The body is one counter object or a JSON array of them (FormatJSON; [] is zero counters),
// or one object per line (FormatNDJSON; blank lines and a \r before each \n are ignored). An
// empty or all-blank body, bytes after the JSON value and a UTF-8 byte-order mark are syntax
// errors.
//
// "timestamp" is required, once. It is a JSON number, or a JSON string of ASCII digits read as
// the same number. A fraction is floored, exponents are allowed (1.6e9), and the value is read
// from its decimal text, never through float64. Values from 1e11 on are milliseconds and are
// divided by 1000, floored. Times from year 10000 on are refused, and so is any minus sign,
// even on a zero.
//
// Every other key is a domain. Its ASCII letters are lower-cased (other characters are kept as
// sent) and one trailing dot is removed. The result must be 1 to 253 bytes of UTF-8 with no
// whitespace or control character (unicode.IsSpace, unicode.IsControl), and must not end in a
// dot. Only the exact key "timestamp" is the timestamp: a key that normalizes to "timestamp"
// ("Timestamp", "TIMESTAMP", "timestamp.") is refused with ErrDomain instead of being counted
// as a domain, because a producer who sends it almost surely meant the timestamp and would
// otherwise see its clock counted as requests.
//
// A count is a JSON integer written with digits only, from 0 to 2^53-1 (the largest integer
// every JSON implementation holds exactly). Signs, fractions and exponents are refused even
// when the value is whole (-0, 1.0, 1e3): counts are integers and producers can write them
// as such, and the check stays exact and simple. Counts of 0 are accepted and dropped.
//
// Within a counter, counts for the same normalized domain ("SiteA.com" and "sitea.com", or a
// key repeated in the object) are added up, and Domains is sorted by domain bytewise. A
// counter left with no domains is valid and has nil Domains. Should a total not fit in a
// uint64, it is split rather than wrapped: the domain then appears several times in a row,
// first with math.MaxUint64 as often as needed and then with the remainder, and consumers add
// the entries up. The split depends only on the total, not on the order of the keys.
//
// Limits caps the counters per request and the domain keys per counter (counted as sent,
// repeats and zeros included); going over is ErrTooLarge. The body size is left to the HTTP
// layer.
//
// # Record
//
// The record value is a version byte (1), the timestamp as a signed varint and the count as an
// unsigned varint; see AppendRecord. The record key is the normalized domain's bytes.
package counter
