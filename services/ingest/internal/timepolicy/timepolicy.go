// Package timepolicy decides, at the gateway, whether a counter's timestamp can still count in
// some window. It mirrors the aggregators' rule so that the gateway drops only what they would
// ignore anyway, and says why: an event from the future, or one too old for any open window.
package timepolicy

import (
	"time"

	"toptraffic/libs/window"
)

// Verdict is what the policy decided for one timestamp.
type Verdict int

const (
	// Accept means at least one window the aggregators keep will count the event.
	Accept Verdict = iota

	// Future means the timestamp is further ahead of the gateway's clock than MaxFutureSkew.
	Future

	// TooOld means even the event's hour window closed more than AllowedLateness ago.
	TooOld
)

// String returns the reason name used in responses: "accept", "future" or "too_old".
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Future:
		return "future"
	case TooOld:
		return "too_old"
	}
	return "unknown"
}

// Policy holds the two bounds. The zero Policy accepts only events of the current hour whose
// timestamp is not ahead of the clock.
type Policy struct {
	// AllowedLateness is how long after a window ends the aggregators still count events
	// for it. It must be the aggregators' setting.
	AllowedLateness time.Duration

	// MaxFutureSkew is how far ahead of the gateway's clock a timestamp may be.
	MaxFutureSkew time.Duration
}

// Check decides for an event with Unix-second timestamp ts that reaches the gateway at now,
// the time its records will carry.
//
// The aggregators count an event in a window when its record time is at most the window's end
// plus AllowedLateness, for each window size on its own. The largest window, the hour, closes
// last, so an event is too old exactly when now is past its hour's end plus the lateness; an
// event late for its minute but not its hour is accepted and counts in the hour only.
func (p Policy) Check(ts int64, now time.Time) Verdict {
	event := time.Unix(ts, 0)
	if event.After(now.Add(p.MaxFutureSkew)) {
		return Future
	}
	last := window.Sizes[len(window.Sizes)-1]
	if now.After(window.Of(last, ts).EndTime().Add(p.AllowedLateness)) {
		return TooOld
	}
	return Accept
}
