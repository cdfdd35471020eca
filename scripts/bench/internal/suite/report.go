package suite

import (
	"fmt"
	"io"
	"strings"

	"toptraffic/scripts/bench/internal/ceiling"
	"toptraffic/scripts/bench/internal/procs"
	"toptraffic/scripts/loadgen/load"
)

// The targets the pipeline is measured against.
const (
	targetEventsPerSec    = 100_000
	targetPostP99Ms       = 20
	targetVisibleP99Ms    = 1000
	targetCatchUpRatio    = 0.8
	targetGatewayRatio    = 0.5
	targetGetP99Ms        = 2
	targetBytesPerDomainW = 200
)

// Report is everything one benchmark run measured; it is written as JSON next to the table.
type Report struct {
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`

	HTTP    HTTPCeiling    `json:"http_ceiling"`
	Produce ProduceCeiling `json:"produce_ceiling"`
	Consume ConsumeCeiling `json:"consume_ceiling"`
	E2E     EndToEnd       `json:"end_to_end"`
	Memory  MemoryResult   `json:"memory"`

	Rows     []Row    `json:"rows"`
	Profiles []string `json:"profiles,omitempty"`
}

// HTTPCeiling compares the gateway with a bare handler, single-counter POSTs.
type HTTPCeiling struct {
	// Bare is the better of two runs, before and after the gateway's; BareRuns has both rates.
	Bare     load.Result `json:"bare"`
	BareRuns []float64   `json:"bare_runs_per_second"`
	Gateway  load.Result `json:"gateway"`
}

// ProduceCeiling compares raw kafka-go produce with the gateway's batched POSTs.
type ProduceCeiling struct {
	Raw     ceiling.Rate `json:"raw"`
	Gateway load.Result  `json:"gateway"`
}

// ConsumeCeiling compares raw kafka-go consumption with an aggregator catching up.
type ConsumeCeiling struct {
	// Raw is the better of RawRuns, one before the aggregator and one after.
	Raw     ceiling.Rate   `json:"raw"`
	RawRuns []ceiling.Rate `json:"raw_runs"`
	// Aggregator counts from its first partition being assigned to the last partition's
	// snapshot at the partition's end being read back.
	Aggregator ceiling.Rate `json:"aggregator"`
	// StartupS is from starting the process to its first partition assignment (topic checks
	// and joining the group), not part of the rate.
	StartupS float64 `json:"startup_s"`
	// RebuiltMaxS is the longest "partition rebuilt" took the aggregator logged itself.
	RebuiltMaxS float64 `json:"rebuilt_max_s"`
}

// EndToEnd is the sustained run through the whole pipeline.
type EndToEnd struct {
	Load load.Result `json:"load"`
	// CPU is the CPU each process used during the run, in cores (1.0 = one core busy).
	CPU map[string]float64 `json:"cpu_cores"`
}

// MemoryResult is the aggregator's resident memory with many distinct domains open.
type MemoryResult struct {
	Domains       int64        `json:"domains"`
	DomainWindows int64        `json:"domain_windows"`
	Baseline      procs.Memory `json:"baseline"`
	Loaded        procs.Memory `json:"loaded"`
	// BytesPerDomainWindow is (loaded RSS - baseline RSS) / domain-windows.
	BytesPerDomainWindow float64 `json:"bytes_per_domain_window"`
	// PeakBytesPerDomainWindow uses the peak RSS (VmHWM) instead.
	PeakBytesPerDomainWindow float64 `json:"peak_bytes_per_domain_window"`
}

// Row is one line of the table.
type Row struct {
	Measure  string `json:"measure"`
	Pipeline string `json:"pipeline"`
	Ceiling  string `json:"ceiling,omitempty"`
	Ratio    string `json:"ratio,omitempty"`
	Target   string `json:"target,omitempty"`
	// Verdict is "met", "missed", or empty for a row with no target.
	Verdict string `json:"verdict,omitempty"`
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// rows builds the table from the measurements.
func (r *Report) rows() []Row {
	h, p, c, e, m := r.HTTP, r.Produce, r.Consume, r.E2E.Load, r.Memory
	httpRatio := ratio(h.Gateway.Posts.PerSecond, h.Bare.Posts.PerSecond)
	produceRatio := ratio(p.Gateway.EventsPerSecond, p.Raw.PerSecond)
	consumeRatio := ratio(c.Aggregator.PerSecond, c.Raw.PerSecond)
	rows := []Row{
		{
			Measure: "1 HTTP: single-counter POST/s, keep-alive, c=64",
			Pipeline: fmt.Sprintf("%s/s (p99 %s)", si(h.Gateway.Posts.PerSecond),
				ms(h.Gateway.Posts.Latency.P99Ms)),
			Ceiling: fmt.Sprintf("%s/s bare handler (p99 %s)", si(h.Bare.Posts.PerSecond),
				ms(h.Bare.Posts.Latency.P99Ms)),
			Ratio:   fmt.Sprintf("%.2fx", httpRatio),
			Target:  fmt.Sprintf(">= %.1fx", targetGatewayRatio),
			Verdict: verdict(httpRatio >= targetGatewayRatio),
		},
		{
			Measure: fmt.Sprintf("2 Produce: domain-events/s, batched POSTs (%dx%d)",
				p.Gateway.Config.Batch, p.Gateway.Config.DomainsPerCounter),
			Pipeline: fmt.Sprintf("%s/s (p99 %s)", si(p.Gateway.EventsPerSecond),
				ms(p.Gateway.Posts.Latency.P99Ms)),
			Ceiling: fmt.Sprintf("%s/s raw kafka-go Writer", si(p.Raw.PerSecond)),
			Ratio:   fmt.Sprintf("%.2fx", produceRatio),
		},
		{
			Measure: fmt.Sprintf("3 Consume: catch-up of %s preloaded records",
				si(float64(c.Raw.Records))),
			Pipeline: fmt.Sprintf("%s/s aggregator", si(c.Aggregator.PerSecond)),
			Ceiling:  fmt.Sprintf("%s/s raw kafka-go Readers", si(c.Raw.PerSecond)),
			Ratio:    fmt.Sprintf("%.2fx", consumeRatio),
			Target:   fmt.Sprintf(">= %.1fx", targetCatchUpRatio),
			Verdict:  verdict(consumeRatio >= targetCatchUpRatio),
		},
		{
			Measure:  fmt.Sprintf("4 E2E: domain-events/s sustained for %.0fs", e.ElapsedS),
			Pipeline: fmt.Sprintf("%s/s (offered %s/s)", si(e.EventsPerSecond), si(offered(e))),
			Target:   fmt.Sprintf(">= %s/s", si(targetEventsPerSec)),
			Verdict:  verdict(e.EventsPerSecond >= targetEventsPerSec),
		},
		{
			Measure: "4 E2E: POST latency p50 / p99 / p99.9",
			Pipeline: fmt.Sprintf("%s / %s / %s", ms(e.Posts.Latency.P50Ms),
				ms(e.Posts.Latency.P99Ms), ms(e.Posts.Latency.P999Ms)),
			Target:  fmt.Sprintf("p99 <= %d ms", targetPostP99Ms),
			Verdict: verdict(e.Posts.Latency.P99Ms <= targetPostP99Ms && e.Posts.OK > 0),
		},
		visibilityRow(e.Visibility),
		getRow(e.Gets),
		{
			Measure: fmt.Sprintf("5 Memory: aggregator RSS per domain-window (%s windows)",
				si(float64(m.DomainWindows))),
			Pipeline: fmt.Sprintf("%.0f B (peak %.0f B)", m.BytesPerDomainWindow,
				m.PeakBytesPerDomainWindow),
			Target: fmt.Sprintf("<= %d B", targetBytesPerDomainW),
			Verdict: verdict(m.DomainWindows > 0 &&
				m.BytesPerDomainWindow <= targetBytesPerDomainW),
		},
	}
	return rows
}

func visibilityRow(v *load.Visibility) Row {
	row := Row{Measure: "4 E2E: POST-to-visible p50 / p99",
		Target: fmt.Sprintf("p99 <= %d ms", targetVisibleP99Ms)}
	if v == nil || v.Seen == 0 {
		row.Pipeline, row.Verdict = "no marker seen", verdict(false)
		return row
	}
	row.Pipeline = fmt.Sprintf("%s / %s (%d seen, %d timed out)", ms(v.Latency.P50Ms),
		ms(v.Latency.P99Ms), v.Seen, v.TimedOut)
	row.Verdict = verdict(v.Latency.P99Ms <= targetVisibleP99Ms && v.TimedOut == 0)
	return row
}

func getRow(g *load.Requests) Row {
	row := Row{Target: fmt.Sprintf("p99 <= %d ms", targetGetP99Ms)}
	if g == nil {
		row.Measure, row.Pipeline, row.Verdict = "4 E2E: GET stats", "not run", verdict(false)
		return row
	}
	row.Measure = fmt.Sprintf("4 E2E: GET stats p50 / p99 at %s/s", si(g.PerSecond))
	row.Pipeline = fmt.Sprintf("%s / %s", ms(g.Latency.P50Ms), ms(g.Latency.P99Ms))
	row.Verdict = verdict(g.Latency.P99Ms <= targetGetP99Ms && g.OK == g.Requests)
	return row
}

// offered is the domain-event rate the load asked for.
func offered(r load.Result) float64 {
	return r.Config.Rate * float64(r.Config.Batch*r.Config.DomainsPerCounter)
}

// si writes a rate with a k or M suffix and three significant digits.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// WriteTable prints the rows as a Markdown table, which reads as well in a terminal.
func WriteTable(w io.Writer, rows []Row) error {
	head := []string{"measure", "pipeline", "ceiling", "ratio", "target", "result"}
	cells := [][]string{head}
	for _, r := range rows {
		cells = append(cells, []string{r.Measure, r.Pipeline, r.Ceiling, r.Ratio, r.Target,
			r.Verdict})
	}
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fmt.Fprintf(&b, " %-*s |", width[i], c)
		}
		b.WriteString("\n")
	}
	line(cells[0])
	b.WriteString("|")
	for _, n := range width {
		b.WriteString(strings.Repeat("-", n+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
