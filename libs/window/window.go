// Package window holds the arithmetic of tumbling, epoch-aligned UTC windows: which window an
// event timestamp falls in, where a window ends, and which window is the "last full" one at a
// given instant. Every service uses it so that the gateway, the aggregators and the query service
// agree to the second on window edges.
package window

import (
	"fmt"
	"time"
)

// Size is the length of a tumbling window in seconds.
type Size int64

const (
	// Minute windows start at every multiple of 60 seconds since the Unix epoch.
	Minute Size = 60
	// Hour windows start at every multiple of 3600 seconds since the Unix epoch.
	Hour Size = 3600
)

// Sizes lists the window sizes toptraffic maintains, smallest first.
var Sizes = []Size{Minute, Hour}

// String returns "minute", "hour", or the size in seconds for any other size.
func (s Size) String() string {
	switch s {
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	default:
		return fmt.Sprintf("%ds", int64(s))
	}
}

// Duration returns the size as a time.Duration.
func (s Size) Duration() time.Duration { return time.Duration(s) * time.Second }

// ParseSize turns "minute" or "hour" back into a Size.
func ParseSize(name string) (Size, error) {
	switch name {
	case "minute":
		return Minute, nil
	case "hour":
		return Hour, nil
	default:
		return 0, fmt.Errorf("unknown window size %q: want \"minute\" or \"hour\"", name)
	}
}

// MarshalText encodes the size by name, so JSON carries "minute" rather than 60.
func (s Size) MarshalText() ([]byte, error) {
	if s != Minute && s != Hour {
		return nil, fmt.Errorf("marshal window size %d: not minute or hour", int64(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a size written by MarshalText.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Window is one tumbling window: [Start, Start+Size) in Unix seconds, UTC.
type Window struct {
	Size  Size
	Start int64
}

// Of returns the window of the given size that contains the Unix second ts. It floors towards
// negative infinity, so it is correct for timestamps before the epoch as well.
func Of(size Size, ts int64) Window {
	s := int64(size)
	start := ts - ts%s
	if ts%s < 0 {
		start -= s
	}
	return Window{Size: size, Start: start}
}

// At returns the window containing the instant t. Sub-second parts are floored: 10:21:59.999
// belongs to the minute that starts at 10:21:00.
func At(size Size, t time.Time) Window { return Of(size, floorUnix(t)) }

// LastFull returns the most recent window that has completely elapsed at instant now: at
// 10:22:05 the minute 10:21:00-10:22:00 and the hour 09:00-10:00. At exactly 10:22:00 the
// minute 10:21 is full.
func LastFull(size Size, now time.Time) Window {
	cur := At(size, now)
	return Window{Size: size, Start: cur.Start - int64(size)}
}

// End returns the first Unix second after the window.
func (w Window) End() int64 { return w.Start + int64(w.Size) }

// StartTime returns the window start as a UTC time.
func (w Window) StartTime() time.Time { return time.Unix(w.Start, 0).UTC() }

// EndTime returns the window end as a UTC time.
func (w Window) EndTime() time.Time { return time.Unix(w.End(), 0).UTC() }

// String formats the window for logs, e.g. "minute@2020-12-16T07:10:00Z".
func (w Window) String() string {
	return w.Size.String() + "@" + w.StartTime().Format(time.RFC3339)
}

func floorUnix(t time.Time) int64 {
	sec := t.Unix()
	// time.Unix already floors for instants after the epoch; before it, a non-zero
	// nanosecond part means the true floor is one second earlier.
	if sec < 0 && t.Nanosecond() != 0 {
		sec--
	}
	return sec
}
