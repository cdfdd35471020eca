package counter

import (
	"strconv"
	"strings"
)

// Format says how the counters in a request body are laid out.
type Format int

const (
	// FormatJSON is a body holding one counter object or a JSON array of counter objects. It is
	// the zero Format.
	FormatJSON Format = iota

	// FormatNDJSON is a body holding one counter object per line; blank lines are skipped.
	FormatNDJSON
)

// String returns the media type the Format is parsed from, for logs.
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "application/json"
	case FormatNDJSON:
		return "application/x-ndjson"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// FormatFor picks the Format for a request's Content-Type header value. Parameters such as
// charset are ignored and the media type is matched case-insensitively.
//
// application/json and a missing (empty or blank) header give FormatJSON, and so does
// application/x-www-form-urlencoded, because that is what a plain `curl -d` sends; the body is
// still parsed as JSON. application/x-ndjson gives FormatNDJSON. Anything else is an *Error
// wrapping ErrUnsupportedMediaType.
func FormatFor(contentType string) (Format, error) {
	mt, params, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "" && strings.TrimSpace(params) != "":
		// Parameters with no media type before them ("; charset=utf-8", ";;;") are a broken
		// header, not a missing one.
	case mt == "",
		strings.EqualFold(mt, "application/json"),
		strings.EqualFold(mt, "application/x-www-form-urlencoded"):
		return FormatJSON, nil
	case strings.EqualFold(mt, "application/x-ndjson"):
		return FormatNDJSON, nil
	}
	return 0, &Error{
		Kind:    ErrUnsupportedMediaType,
		Counter: -1,
		Message: "content type " + strconv.Quote(clip(contentType)) + " is not supported: " +
			"send Content-Type: application/json (one counter object or an array of them) " +
			"or application/x-ndjson (one counter object per line)",
	}
}
