package suite

import (
	"strings"
	"testing"

	"toptraffic/scripts/bench/internal/ceiling"
	"toptraffic/scripts/loadgen/load"
)

func TestRowsVerdicts(t *testing.T) {
	var r Report
	r.HTTP.Bare.Posts.PerSecond = 10_000
	r.HTTP.Gateway.Posts.PerSecond = 6_000
	r.Consume.Raw = ceiling.Rate{Records: 1000, PerSecond: 1000}
	r.Consume.Aggregator = ceiling.Rate{Records: 1000, PerSecond: 700}
	r.E2E.Load.EventsPerSecond = 100_500
	r.E2E.Load.Posts = load.Requests{Requests: 10, OK: 10, Latency: load.Latency{P99Ms: 25}}
	r.E2E.Load.Visibility = &load.Visibility{Posted: 3, Seen: 3,
		Latency: load.Latency{P99Ms: 400}}
	r.E2E.Load.Gets = &load.Requests{Requests: 5, OK: 5, Latency: load.Latency{P99Ms: 1.5}}
	r.Memory = MemoryResult{DomainWindows: 10, BytesPerDomainWindow: 201}

	tests := []struct {
		name    string
		measure string
		want    string
	}{
		{name: "gateway over half the bare handler", measure: "1 HTTP", want: "met"},
		{name: "catch-up below 0.8", measure: "3 Consume", want: "missed"},
		{name: "rate reached", measure: "domain-events/s sustained", want: "met"},
		{name: "post p99 over 20ms", measure: "POST latency", want: "missed"},
		{name: "visible within a second", measure: "POST-to-visible", want: "met"},
		{name: "get p99 under 2ms", measure: "GET stats", want: "met"},
		{name: "memory over 200 bytes", measure: "5 Memory", want: "missed"},
		{name: "produce has no target", measure: "2 Produce", want: ""},
	}
	rows := r.rows()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, row := range rows {
				if strings.Contains(row.Measure, tc.measure) {
					if row.Verdict != tc.want {
						t.Fatalf("%q: verdict %q, want %q", row.Measure, row.Verdict, tc.want)
					}
					return
				}
			}
			t.Fatalf("no row for %q", tc.measure)
		})
	}
}

func TestWriteTableAligns(t *testing.T) {
	var b strings.Builder
	rows := []Row{
		{Measure: "a", Pipeline: "1/s", Verdict: "met"},
		{Measure: "a longer measure", Pipeline: "2/s", Target: ">= 1/s", Verdict: "missed"},
	}
	if err := WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want header, rule and 2 rows:\n%s", len(lines), b.String())
	}
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("line %q is %d wide, header %d", l, len(l), len(lines[0]))
		}
	}
}
