package counter

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The helpers in this file walk JSON that json.Valid has already accepted, so they index
// without bounds checks of their own: a string always has its closing quote, a key its colon.

// maxEcho is the most bytes of input an error message quotes.
const maxEcho = 64

// skipWS returns the index of the first byte at or after i that is not JSON whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString takes b[i] == '"' and returns the index just past the closing quote, and whether
// the string holds any backslash escape.
func scanString(b []byte, i int) (end int, escaped bool) {
	for i++; ; i++ {
		switch b[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++ // the escaped byte is never the closing quote
		}
	}
}

// scanNumber returns the index just past the JSON number starting at b[i].
func scanNumber(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return i
		}
	}
	return i
}

// appendUnescaped appends the text of the JSON string body s (the bytes between the quotes) to
// dst. A lone UTF-16 surrogate escape has no UTF-8 form: it is written as U+FFFD and ok is false.
func appendUnescaped(dst, s []byte) (out []byte, ok bool) {
	ok = true
	for len(s) > 0 {
		// Copy the run up to the next escape in one go; most strings have none.
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...), ok
		}
		dst = append(dst, s[:j]...)
		s = s[j:]

		switch s[1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[2:6])
			s = s[6:]
			if !utf16.IsSurrogate(r) {
				dst = utf8.AppendRune(dst, r)
				continue
			}
			// A high surrogate needs a low one right after it to make one rune.
			if r < 0xdc00 && len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
				if pair := utf16.DecodeRune(r, hex4(s[2:6])); pair != unicode.ReplacementChar {
					dst = utf8.AppendRune(dst, pair)
					s = s[6:]
					continue
				}
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
			ok = false
			continue
		default: // '"', '\\' and '/' stand for themselves
			dst = append(dst, s[1])
		}
		s = s[2:]
	}
	return dst, ok
}

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default: // 'A' to 'F'; json.Valid let nothing else through
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// clip cuts s to at most maxEcho bytes, ending in "..." when it had to cut, without splitting a
// UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho - len("...")
	for back := 0; back < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); back++ {
		i--
	}
	return s[:i] + "..."
}

// describe names the JSON value starting at b[i] for an error message, quoting at most maxEcho
// bytes of it.
func describe(b []byte, i int) string {
	switch b[i] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't':
		return "true"
	case 'f':
		return "false"
	case 'n':
		return "null"
	case '"':
		end, _ := scanString(b, i)
		s, _ := appendUnescaped(nil, b[i+1:end-1])
		return "the string " + quote(string(s))
	}
	return clip(string(b[i:scanNumber(b, i)]))
}
