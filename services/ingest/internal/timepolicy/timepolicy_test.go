package timepolicy

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	// 2020-12-16T07:10:31Z; its hour is 07:00-08:00.
	const ts = 1608102631
	hourEnd := time.Date(2020, 12, 16, 8, 0, 0, 0, time.UTC)
	p := Policy{AllowedLateness: 30 * time.Second, MaxFutureSkew: 5 * time.Minute}

	tests := []struct {
		name   string
		policy Policy
		ts     int64
		now    time.Time
		want   Verdict
	}{
		{name: "same second", policy: p, ts: ts, now: time.Unix(ts, 0), want: Accept},
		{name: "exactly the skew ahead", policy: p, ts: ts,
			now: time.Unix(ts, 0).Add(-5 * time.Minute), want: Accept},
		{name: "one second past the skew", policy: p, ts: ts,
			now: time.Unix(ts, 0).Add(-5*time.Minute - time.Second), want: Future},
		{name: "a millisecond past the skew", policy: p, ts: ts,
			now: time.Unix(ts, 0).Add(-5*time.Minute - time.Millisecond), want: Future},
		{name: "late for its minute, fine for its hour", policy: p, ts: ts,
			now: time.Unix(ts, 0).Add(10 * time.Minute), want: Accept},
		{name: "hour end plus lateness exactly", policy: p, ts: ts,
			now: hourEnd.Add(30 * time.Second), want: Accept},
		{name: "a millisecond after hour end plus lateness", policy: p, ts: ts,
			now: hourEnd.Add(30*time.Second + time.Millisecond), want: TooOld},
		{name: "epoch", policy: p, ts: 0, now: hourEnd, want: TooOld},
		{name: "zero lateness at hour end", policy: Policy{}, ts: ts, now: hourEnd,
			want: Accept},
		{name: "zero lateness after hour end", policy: Policy{}, ts: ts,
			now: hourEnd.Add(time.Millisecond), want: TooOld},
		{name: "zero skew one second ahead", policy: Policy{}, ts: ts,
			now: time.Unix(ts-1, 0), want: Future},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Check(tt.ts, tt.now); got != tt.want {
				t.Errorf("Check(%d, %s) = %s, want %s", tt.ts, tt.now.UTC(), got, tt.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	tests := []struct {
		name string
		v    Verdict
		want string
	}{
		{name: "accept", v: Accept, want: "accept"},
		{name: "future", v: Future, want: "future"},
		{name: "too old", v: TooOld, want: "too_old"},
		{name: "unknown", v: Verdict(9), want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
