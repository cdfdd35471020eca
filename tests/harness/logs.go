package harness

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// LogLine is one line a service logged in the console format the harness asks for: time,
// level, caller (and logger name), message, then the fields as a JSON object.
type LogLine struct {
	// Level is the level name without colour codes, e.g. "WARN".
	Level  string
	Msg    string
	Fields map[string]any
}

// ansiCodes matches the colour codes of the console format's level names.
var ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")

// ParseLog returns the lines of a service log that carry a message and JSON fields; the
// harness's own markers and anything else are skipped.
func ParseLog(text string) []LogLine {
	var out []LogLine
	for line := range strings.Lines(text) {
		cols := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
		if len(cols) < 3 {
			continue
		}
		last := cols[len(cols)-1]
		if !strings.HasPrefix(last, "{") {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(last), &fields); err != nil {
			continue
		}
		out = append(out, LogLine{
			Level:  strings.Trim(ansiCodes.ReplaceAllString(cols[1], ""), " "),
			Msg:    cols[len(cols)-2],
			Fields: fields,
		})
	}
	return out
}

// Int returns a numeric field, and false if the line has no such field.
func (l LogLine) Int(key string) (int, bool) {
	v, ok := l.Fields[key].(float64)
	return int(v), ok
}

// Ints returns a field holding a list of numbers.
func (l LogLine) Ints(key string) []int {
	list, _ := l.Fields[key].([]any)
	out := make([]int, 0, len(list))
	for _, v := range list {
		if f, ok := v.(float64); ok {
			out = append(out, int(f))
		}
	}
	return out
}

// Generation is a consumer-group generation as one aggregator logged it, with what happened
// to its partitions in that generation.
type Generation struct {
	ID         int
	Partitions []int
	// Rebuilt lists the partitions whose runner reported the partition rebuilt (or found
	// nothing to replay) in this generation.
	Rebuilt []int
}

// Generations returns the generations an aggregator's log shows, oldest first.
func Generations(log string) []Generation {
	var out []Generation
	for _, l := range ParseLog(log) {
		switch l.Msg {
		case "generation started":
			id, _ := l.Int("generation")
			out = append(out, Generation{ID: id, Partitions: l.Ints("partitions")})
		case "partition rebuilt", "partition ready, nothing to replay":
			p, ok := l.Int("partition")
			if ok && len(out) > 0 {
				g := &out[len(out)-1]
				if !slices.Contains(g.Rebuilt, p) {
					g.Rebuilt = append(g.Rebuilt, p)
				}
			}
		}
	}
	return out
}

// CheckAssignment reports whether the last generation each aggregator log shows is the same
// one, newer than after, and splits partitions 0..n-1 among them with every partition once;
// with rebuilt set, it also wants every partition reported rebuilt. It returns that generation.
func CheckAssignment(logs []string, n, after int, rebuilt bool) (int, error) {
	owner := make(map[int]int, n)
	id := -1
	for i, log := range logs {
		gens := Generations(log)
		if len(gens) == 0 {
			return 0, fmt.Errorf("aggregator %d has not joined a generation yet", i)
		}
		g := gens[len(gens)-1]
		switch {
		case g.ID <= after:
			return 0, fmt.Errorf("aggregator %d is still in generation %d, want one after %d",
				i, g.ID, after)
		case id >= 0 && g.ID != id:
			return 0, fmt.Errorf("aggregators are in generations %d and %d", id, g.ID)
		}
		id = g.ID
		for _, p := range g.Partitions {
			if prev, ok := owner[p]; ok {
				return 0, fmt.Errorf("generation %d gives partition %d to aggregators %d and %d",
					id, p, prev, i)
			}
			owner[p] = i
			if rebuilt && !slices.Contains(g.Rebuilt, p) {
				return 0, fmt.Errorf("generation %d: partition %d not rebuilt yet by aggregator %d",
					id, p, i)
			}
		}
	}
	if len(owner) != n {
		return 0, fmt.Errorf("generation %d assigns %d of %d partitions", id, len(owner), n)
	}
	return id, nil
}

// LastGeneration returns the newest generation any of the aggregators logged, 0 for none.
func LastGeneration(aggs ...*Proc) int {
	last := 0
	for _, p := range aggs {
		for _, g := range Generations(p.Log()) {
			last = max(last, g.ID)
		}
	}
	return last
}

// WaitAssignment waits until the running aggregators agree on a generation newer than after
// that gives each counters partition to exactly one of them, and until every partition was
// rebuilt by its new owner. It returns the generation and logs how long that took.
func (s *Stack) WaitAssignment(t testing.TB, after int, timeout time.Duration) int {
	t.Helper()
	began := time.Now()
	var gen int
	for _, rebuilt := range []bool{false, true} {
		Eventually(t, timeout, func() error {
			var logs []string
			for _, p := range s.Aggregators {
				if p.Running() {
					logs = append(logs, p.Log())
				}
			}
			var err error
			gen, err = CheckAssignment(logs, s.Partitions, after, rebuilt)
			return err
		})
		what := "assigned"
		if rebuilt {
			what = "rebuilt"
		}
		t.Logf("generation %d: all %d partitions %s %v after the change",
			gen, s.Partitions, what, time.Since(began).Round(10*time.Millisecond))
	}
	return gen
}
