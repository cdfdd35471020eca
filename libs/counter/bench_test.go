package counter

import (
	"fmt"
	"strings"
	"testing"
)

// benchCounter returns a counter object with ten domains, mixed case like real producers send.
func benchCounter(ts int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"timestamp":%d`, ts)
	for i := range 10 {
		fmt.Fprintf(&b, `,"Site%d.example.com":%d`, 9-i, 100+i*37)
	}
	b.WriteString("}")
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = benchCounter(1608102631 + i)
	}
	tests := []struct {
		name    string
		body    string
		f       Format
		domains int // in the body, for the ns/domain metric
	}{
		{name: "single_10_domains", body: benchCounter(1608102631), f: FormatJSON, domains: 10},
		{name: "array_100_counters", body: "[" + strings.Join(lines, ",") + "]", f: FormatJSON,
			domains: 1000},
		{name: "ndjson_100_counters", body: strings.Join(lines, "\n"), f: FormatNDJSON,
			domains: 1000},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(tc.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(body, tc.f, DefaultLimits()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.domains), "ns/domain")
		})
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], 1608102631, 12345)
	}
}
