package counter

import "errors"

// Every error Parse and FormatFor return is an *Error whose Kind is one of the sentinels below,
// so the HTTP layer can pick a status with errors.Is and hand Error() to the client unchanged.
// DecodeRecord wraps ErrRecord.
var (
	// ErrSyntax means the body is empty, is not JSON, or is JSON of the wrong shape: not one
	// counter object or an array of them, or (for NDJSON) a line that is not one object.
	ErrSyntax = errors.New("counter: malformed body")

	// ErrTimestamp means a counter's "timestamp" is missing, given twice, of the wrong type,
	// negative, or later than year 9999.
	ErrTimestamp = errors.New("counter: invalid timestamp")

	// ErrDomain means a key is not acceptable as a domain name once normalized: empty, longer
	// than 253 bytes, not UTF-8, holding whitespace or control characters, or spelling
	// "timestamp" in another case.
	ErrDomain = errors.New("counter: invalid domain")

	// ErrCount means a domain's value is not a whole JSON number from 0 to 2^53-1.
	ErrCount = errors.New("counter: invalid count")

	// ErrTooLarge means a request holds more counters, or a counter more domains, than the
	// Limits given to Parse allow.
	ErrTooLarge = errors.New("counter: request too large")

	// ErrUnsupportedMediaType means the Content-Type names neither JSON nor NDJSON, or Parse
	// was given a Format it does not know.
	ErrUnsupportedMediaType = errors.New("counter: unsupported media type")

	// ErrRecord means the bytes given to DecodeRecord are not a record AppendRecord wrote: empty,
	// an unknown version, truncated, or followed by extra bytes.
	ErrRecord = errors.New("counter: invalid record")
)

// Error describes why a request was rejected. Message is written for the producer who sent the
// request: it says what is wrong and how to fix it, and quotes at most 64 bytes of the input.
type Error struct {
	// Kind is one of the package's sentinel errors; Unwrap returns it.
	Kind error

	// Counter is the index of the offending counter within the request (for NDJSON, counting
	// non-blank lines from 0), or -1 when the error is not about one counter.
	Counter int

	// Field is the offending JSON key, cut to at most 64 bytes (ending in "...") when longer,
	// or "" when the error is not about one key.
	Field string

	// Message is the full human-readable text that Error returns.
	Message string
}

// Error returns e.Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns e.Kind, so errors.Is(err, ErrTimestamp) and the like work.
func (e *Error) Unwrap() error { return e.Kind }
