package window

import (
	"encoding/json"
	"testing"
	"time"
)

func utc(h, m, s, ns int) time.Time { return time.Date(2020, 12, 16, h, m, s, ns, time.UTC) }

func TestAt(t *testing.T) {
	tests := []struct {
		name string
		size Size
		at   time.Time
		want time.Time
	}{
		{name: "last millisecond of a minute", size: Minute, at: utc(10, 21, 59, 999e6), want: utc(10, 21, 0, 0)},
		{name: "first instant of a minute", size: Minute, at: utc(10, 22, 0, 0), want: utc(10, 22, 0, 0)},
		{name: "last second of an hour", size: Hour, at: utc(9, 59, 59, 0), want: utc(9, 0, 0, 0)},
		{name: "first second of an hour", size: Hour, at: utc(10, 0, 0, 0), want: utc(10, 0, 0, 0)},
		{name: "mid hour", size: Hour, at: utc(10, 22, 5, 0), want: utc(10, 0, 0, 0)},
		{name: "other time zone is the same instant", size: Hour,
			at:   time.Date(2020, 12, 16, 11, 30, 0, 0, time.FixedZone("cet", 3600)),
			want: utc(10, 0, 0, 0)},
		{name: "before the epoch floors down", size: Minute,
			at: time.Unix(-1, 500e6), want: time.Unix(-60, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := At(tt.size, tt.at)
			if !w.StartTime().Equal(tt.want) {
				t.Fatalf("At(%v, %v) starts %v, want %v", tt.size, tt.at, w.StartTime(), tt.want)
			}
			if w.End()-w.Start != int64(tt.size) {
				t.Fatalf("window %v is %ds long, want %d", w, w.End()-w.Start, tt.size)
			}
		})
	}
}

func TestLastFull(t *testing.T) {
	tests := []struct {
		name      string
		size      Size
		now       time.Time
		wantStart time.Time
		wantEnd   time.Time
	}{
		{name: "seed example minute", size: Minute, now: utc(10, 22, 5, 0),
			wantStart: utc(10, 21, 0, 0), wantEnd: utc(10, 22, 0, 0)},
		{name: "seed example hour", size: Hour, now: utc(10, 22, 5, 0),
			wantStart: utc(9, 0, 0, 0), wantEnd: utc(10, 0, 0, 0)},
		{name: "on the minute edge the previous minute is full", size: Minute,
			now: utc(10, 22, 0, 0), wantStart: utc(10, 21, 0, 0), wantEnd: utc(10, 22, 0, 0)},
		{name: "just before the edge", size: Minute, now: utc(10, 21, 59, 999e6),
			wantStart: utc(10, 20, 0, 0), wantEnd: utc(10, 21, 0, 0)},
		{name: "just before the hour", size: Hour, now: utc(9, 59, 59, 0),
			wantStart: utc(8, 0, 0, 0), wantEnd: utc(9, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := LastFull(tt.size, tt.now)
			if !w.StartTime().Equal(tt.wantStart) || !w.EndTime().Equal(tt.wantEnd) {
				t.Fatalf("LastFull(%v, %v) = %v-%v, want %v-%v", tt.size, tt.now,
					w.StartTime(), w.EndTime(), tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Size
		wantErr bool
	}{
		{name: "minute", in: `"minute"`, want: Minute},
		{name: "hour", in: `"hour"`, want: Hour},
		{name: "unknown", in: `"day"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Size
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Fatalf("Unmarshal(%s) = %v, want %v", tt.in, got, tt.want)
			}
			out, err := json.Marshal(got)
			if err != nil || string(out) != tt.in {
				t.Fatalf("Marshal(%v) = %s, %v; want %s", got, out, err, tt.in)
			}
		})
	}
	if _, err := json.Marshal(Size(5)); err == nil {
		t.Fatal("Marshal(Size(5)) succeeded, want an error for a size that is not minute or hour")
	}
}
