package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Plan names the domains a fault test posts and shapes the traffic so that a lost or repeated
// record shows in the top ten:
//
//   - Leaders get most records. TopUp brings them to totals one apart, so they are the top
//     ten and any change to one of their records changes a count in the answer.
//   - Contenders get fewer records. TopUp brings each to the tenth leader's total exactly;
//     they lose the tie only on the name, so a single repeated record of one lifts it into
//     the top ten.
//   - Fillers, a few hundred, get count 1 now and then, so the windows hold many domains.
type Plan struct {
	Leaders, Contenders, Fillers []string
}

// DefaultPlan is 10 leaders, 20 contenders and 270 fillers: 300 domains.
func DefaultPlan() Plan {
	var p Plan
	// Contenders sort after every leader, so the tie at the tenth place goes to the leader.
	for i := range 10 {
		p.Leaders = append(p.Leaders, fmt.Sprintf("lead-%02d.fault.test", i))
	}
	for i := range 20 {
		p.Contenders = append(p.Contenders, fmt.Sprintf("lead-%02d.fault.test", 10+i))
	}
	for i := range 270 {
		p.Fillers = append(p.Fillers, fmt.Sprintf("fill-%03d.fault.test", i))
	}
	return p
}

// HotRequest returns one to four counters of the plan's domains. Most are stamped in the last
// full hour before now; some in the last full minute and some in the current one.
func (p *Plan) HotRequest(rng *rand.Rand, now time.Time) []Counter {
	out := make([]Counter, 1+rng.IntN(4))
	for i := range out {
		c := Counter{Timestamp: hotTimestamp(rng, now), Counts: map[string]uint64{}}
		for range 1 + rng.IntN(4) {
			switch r := rng.IntN(100); {
			case r < 75:
				c.Counts[p.Leaders[rng.IntN(len(p.Leaders))]] += 1 + uint64(rng.IntN(5))
			case r < 90:
				c.Counts[p.Contenders[rng.IntN(len(p.Contenders))]] += 1 + uint64(rng.IntN(5))
			default:
				c.Counts[p.Fillers[rng.IntN(len(p.Fillers))]]++
			}
		}
		out[i] = c
	}
	return out
}

func hotTimestamp(rng *rand.Rand, now time.Time) int64 {
	now = now.UTC()
	switch r := rng.IntN(100); {
	case r < 85:
		return now.Truncate(time.Hour).Add(-time.Hour).Unix() + rng.Int64N(3600)
	case r < 93:
		return now.Truncate(time.Minute).Add(-time.Minute).Unix() + rng.Int64N(60)
	default:
		// The current minute, up to now: the gateway refuses timestamps far in the future only.
		start := now.Truncate(time.Minute)
		return start.Unix() + rng.Int64N(int64(now.Sub(start)/time.Second)+1)
	}
}

// ColdRequest returns one counter in the last full hour with count 1 for up to three domains
// named after id, which no other request uses: written once, twice or not at all, they stay
// far below the top ten.
func (p *Plan) ColdRequest(rng *rand.Rand, now time.Time, id string) []Counter {
	c := Counter{
		Timestamp: now.UTC().Truncate(time.Hour).Add(-time.Hour).Unix() + rng.Int64N(3600),
		Counts:    map[string]uint64{},
	}
	for i := range 1 + rng.IntN(3) {
		c.Counts[fmt.Sprintf("cold-%s-%d.fault.test", id, i)] = 1
	}
	return []Counter{c}
}

// TopUp returns counters stamped in the hour window starting at hour that bring the plan's
// leaders and contenders, given the window's sums so far, to the totals the Plan describes:
// the tenth leader one above the highest sum of any domain so far, each leader before it one
// more, every contender equal to the tenth leader.
func (p *Plan) TopUp(sums map[string]uint64, hour time.Time) []Counter {
	var tenth uint64
	for _, n := range sums {
		tenth = max(tenth, n)
	}
	tenth++
	want := map[string]uint64{}
	for i, d := range p.Leaders {
		want[d] = tenth + uint64(len(p.Leaders)-1-i)
	}
	for _, d := range p.Contenders {
		want[d] = tenth
	}
	// Ten domains a counter, spread over the hour.
	var out []Counter
	for i, d := range slices.Concat(p.Leaders, p.Contenders) {
		if i%10 == 0 {
			out = append(out, Counter{
				Timestamp: hour.Unix() + int64(len(out))*600 + 17,
				Counts:    map[string]uint64{},
			})
		}
		out[len(out)-1].Counts[d] = want[d] - sums[d]
	}
	return out
}

// Ranked checks that top, an expected top ten of the hour after TopUp, is the one the plan
// designed: the leaders in order, one apart.
func (p *Plan) Ranked(top []Entry) error {
	if len(top) != len(p.Leaders) {
		return fmt.Errorf("expected top list has %d entries, want %d", len(top), len(p.Leaders))
	}
	for i, e := range top {
		if e.Domain != p.Leaders[i] {
			return fmt.Errorf("expected place %d is %s, want %s", i+1, e.Domain, p.Leaders[i])
		}
		if i > 0 && top[i-1].Count != e.Count+1 {
			return fmt.Errorf("expected places %d and %d differ by %d, want 1",
				i, i+1, top[i-1].Count-e.Count)
		}
	}
	return nil
}

// MinuteBurst returns counters stamped in the minute window starting at minute: twelve
// domains with counts a few apart, in three counters.
func (p *Plan) MinuteBurst(minute time.Time) []Counter {
	out := make([]Counter, 3)
	for i := range out {
		out[i] = Counter{Timestamp: minute.Unix() + int64(10+20*i), Counts: map[string]uint64{}}
		for j := range 12 {
			out[i].Counts[fmt.Sprintf("minute-%02d.fault.test", j)] = uint64(40 - 3*j + i)
		}
	}
	return out
}
