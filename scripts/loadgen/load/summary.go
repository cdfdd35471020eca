package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteSummary prints res for a person: throughput, latency percentiles and errors by status.
func WriteSummary(w io.Writer, res Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	c := res.Config
	rate := "max"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%g/s", c.Rate)
	}
	line("target\t%s  rate %s  concurrency %d  batch %d x %d domains  zipf(%g) over %d",
		c.URL, rate, c.Concurrency, c.Batch, c.DomainsPerCounter, c.ZipfS, c.Domains)
	line("elapsed\t%.2fs", res.ElapsedS)
	line("POSTs\t%d sent, %d ok, %.1f/s", res.Posts.Requests, res.Posts.OK, res.Posts.PerSecond)
	line("domain-events\t%d accepted (%d sent in ok POSTs), %.0f/s",
		res.Accepted, res.Records, res.EventsPerSecond)
	line("POST latency\t%s", latencyLine(res.Posts.Latency))
	line("POST outcomes\t%s", outcomesLine(res.Posts.Outcomes))
	if g := res.Gets; g != nil {
		line("GETs\t%d sent, %d ok, %.1f/s", g.Requests, g.OK, g.PerSecond)
		line("GET latency\t%s", latencyLine(g.Latency))
		line("GET outcomes\t%s", outcomesLine(g.Outcomes))
	}
	if v := res.Visibility; v != nil {
		line("visibility\t%d markers: %d seen, %d timed out, %d failed; %d slots skipped",
			v.Posted, v.Seen, v.TimedOut, v.Failed, v.Skipped)
		line("POST-to-visible\t%s", latencyLine(v.Latency))
	}
	return tw.Flush()
}

func latencyLine(l Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  (n=%d)",
		l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.Count)
}

func outcomesLine(o map[string]int64) string {
	if len(o) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(o))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, o[k]))
	}
	return strings.Join(parts, ", ")
}
