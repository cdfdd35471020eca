package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"toptraffic/tests/harness"
)

// Bounds on a clean stop after SIGTERM, from each service's shutdown order with the default
// settings, plus a margin for the race detector on a small machine.
const (
	// Aggregator: every runner's final publish and commit (SHUTDOWN_TIMEOUT, 15 s, in
	// parallel, while the health server stops within the same bound), leaving the group,
	// then flushing the snapshot writer.
	aggregatorStopBound = 20 * time.Second
	// Gateway: requests in flight (SHUTDOWN_TIMEOUT, 15 s), then flushing the producer
	// (SHUTDOWN_TIMEOUT again).
	gatewayStopBound = 35 * time.Second
	// Query: requests in flight (SHUTDOWN_TIMEOUT, 15 s), then closing the readers.
	queryStopBound = 20 * time.Second

	// statsDeadline bounds how long the statistics may take to equal the ground truth: a
	// partition that changed owner replays up to an hour of records first.
	statsDeadline = 60 * time.Second
	// sessionTimeout is the stacks' GROUP_SESSION_TIMEOUT.
	sessionTimeout = 6 * time.Second
	// rebalanceDeadline bounds a new assignment: a killed member is noticed after the 6 s
	// session timeout, and the group may wait for the 15 s rebalance timeout.
	rebalanceDeadline = 60 * time.Second
	// brokerDeadline bounds stopping or starting the broker; a real Kafka is a JVM.
	brokerDeadline = 2 * time.Minute
	// outage is the least time the broker stays down: longer than the 6 s group session.
	outage = 8 * time.Second

	// loadSteps is how many acknowledged requests the load makes before the fault and again
	// after it, so every fault happens mid-stream and the new owners have work to do.
	loadSteps = 300
)

// faultRun is one scenario's stack, load and ground truth.
type faultRun struct {
	t     *testing.T
	s     *harness.Stack
	plan  harness.Plan
	truth *harness.Truth
	load  *harness.Load
	// gone holds the aggregators the scenario killed or stopped on purpose.
	gone []*harness.Proc
}

// TestFault runs the pipeline's processes through crashes, restarts, scaling and a broker
// outage while counters stream in, and then wants both statistics endpoints to equal the
// ground truth exactly: nothing lost, nothing counted twice. Each scenario has a stack of its
// own. See harness.Plan for how the traffic makes a lost or repeated record visible.
func TestFault(t *testing.T) {
	tests := []struct {
		name        string
		aggregators int
		// restartsBroker marks scenarios that need a broker the harness can restart;
		// embeddedOnly those that need the embedded one.
		restartsBroker, embeddedOnly bool
		brokerEnv                    []string
		fault                        func(r *faultRun)
	}{
		{name: "kill -9 an aggregator and start another", aggregators: 2, fault: killAggregator},
		{name: "SIGTERM an aggregator", aggregators: 3, fault: stopAggregator},
		{name: "scale aggregators 1 to 3 to 1", aggregators: 1, fault: scaleAggregators},
		{name: "restart the query service", aggregators: 2, fault: restartQuery},
		{name: "restart the gateway under load", aggregators: 2, fault: restartGateway},
		{
			name:           "broker outage",
			aggregators:    2,
			restartsBroker: true,
			fault:          brokerOutage(false),
		},
		{
			// The dev broker promises to keep acknowledged batches through a crash only
			// when it syncs each one; a real Kafka is not killed here.
			name:         "broker crash with synced writes",
			aggregators:  2,
			embeddedOnly: true,
			brokerEnv:    []string{"DEVBROKER_SYNC_WRITES=true"},
			fault:        brokerOutage(true),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.restartsBroker && !harness.CanRestartBroker() {
				t.Skip("needs the embedded broker or a Kafka started by scripts/kafka-local")
			}
			if tt.embeddedOnly && harness.External() {
				t.Skip("needs the embedded broker")
			}
			began := time.Now()
			s := harness.NewStack(t, harness.Options{
				Aggregators: tt.aggregators,
				Env:         []string{"ALLOWED_LATENESS=3h"},
				BrokerEnv:   tt.brokerEnv,
			})
			r := &faultRun{t: t, s: s, plan: harness.DefaultPlan(), truth: &harness.Truth{}}
			// A settled group first, so the fault's new generation is the fault's doing.
			s.WaitAssignment(t, 0, rebalanceDeadline)

			r.load = harness.StartLoad(t, s, r.truth, harness.LoadOptions{Plan: &r.plan})
			r.load.WaitWritten(t, loadSteps, time.Minute)
			tt.fault(r)
			r.load.WaitWritten(t, loadSteps, 2*time.Minute)

			st := r.load.Stop()
			r.logLoad(st)
			r.assertExact("after the fault")
			r.assertRunning()
			r.stopAll()
			t.Logf("scenario took %v", time.Since(began).Round(100*time.Millisecond))
		})
	}
}

func killAggregator(r *faultRun) {
	before := harness.LastGeneration(r.s.Aggregators...)
	victim := r.s.Aggregators[0]
	victim.Kill()
	r.gone = append(r.gone, victim)
	r.t.Logf("killed %s with SIGKILL in generation %d", victim.Name, before)
	r.s.AddAggregator()
	r.s.WaitAssignment(r.t, before, rebalanceDeadline)
}

func stopAggregator(r *faultRun) {
	before := harness.LastGeneration(r.s.Aggregators...)
	victim := r.s.Aggregators[0]
	began := time.Now()
	r.stop(victim, aggregatorStopBound)
	r.gone = append(r.gone, victim)
	// Leaving the group is what moves its partitions without waiting for the session timeout.
	if !logged(victim, "left consumer group") {
		r.t.Errorf("%s did not log leaving the consumer group", victim.Name)
	}
	r.s.WaitAssignment(r.t, before, rebalanceDeadline)
	if took := time.Since(began); took >= sessionTimeout {
		r.t.Errorf("the partitions of the stopped %s were rebuilt elsewhere %v after SIGTERM, "+
			"want less than the %v session timeout: it did not leave the group",
			victim.Name, took.Round(10*time.Millisecond), sessionTimeout)
	}
}

func scaleAggregators(r *faultRun) {
	before := harness.LastGeneration(r.s.Aggregators...)
	r.s.AddAggregator()
	r.s.AddAggregator()
	gen := r.s.WaitAssignment(r.t, before, rebalanceDeadline)
	r.load.WaitWritten(r.t, loadSteps, 2*time.Minute)
	r.assertExact("with 3 aggregators")

	// Back to one: the original and one of the new ones leave, one after the other.
	for _, p := range r.s.Aggregators[:2] {
		r.stop(p, aggregatorStopBound)
		r.gone = append(r.gone, p)
	}
	r.s.WaitAssignment(r.t, gen, rebalanceDeadline)
}

func restartQuery(r *faultRun) {
	r.stop(r.s.Query, queryStopBound)
	// Meanwhile the gateway says the query service is unavailable, and nothing else.
	st, err := r.s.GetStats("lastHour")
	if err != nil || st.Status != http.StatusServiceUnavailable ||
		errorCode(st.Raw) != "query_unavailable" {
		r.t.Errorf("GET lastHour with the query service down = %d %s, %v; want 503 "+
			"query_unavailable", st.Status, st.Raw, err)
	}
	r.s.Query.Restart()
	began, warming := time.Now(), 0
	harness.Eventually(r.t, statsDeadline, func() error {
		st, err := r.s.GetStats("lastHour")
		switch {
		case err != nil:
			return err
		case st.Status == http.StatusServiceUnavailable && errorCode(st.Raw) == "warming_up":
			warming++
			return fmt.Errorf("query service still warming up")
		case st.Status != http.StatusOK:
			return fmt.Errorf("GET lastHour = %d %s", st.Status, st.Raw)
		}
		return nil
	})
	r.t.Logf("query service answers %v after its restart (%d warming_up answers seen)",
		time.Since(began).Round(10*time.Millisecond), warming)
}

func restartGateway(r *faultRun) {
	refused := r.load.Stats().ByReason["connection_refused"]
	r.stop(r.s.Ingest, gatewayStopBound)
	// The load keeps trying: wait until it has met the closed port, then start the gateway.
	harness.Eventually(r.t, 30*time.Second, func() error {
		if r.load.Stats().ByReason["connection_refused"] == refused {
			return fmt.Errorf("the load has not been refused by the stopped gateway yet")
		}
		return nil
	})
	r.s.Ingest.Restart()
}

// brokerOutage stops the broker (or with crash kills it) during ingest, keeps it down for a
// while and starts it again on the same data; every service must recover by itself.
func brokerOutage(crash bool) func(r *faultRun) {
	return func(r *faultRun) { outageOf(r, crash) }
}

func outageOf(r *faultRun, crash bool) {
	before := harness.LastGeneration(r.s.Aggregators...)
	// Requests answered during the outage may have written some of their records; they must
	// not carry ranked domains. SetMode returns once every hot request has its answer.
	r.load.SetMode(harness.Cold)
	unavailable := func() int {
		st := r.load.Stats()
		return st.ByReason["kafka_unavailable"] + st.ByReason["not_ready"]
	}
	seen := unavailable()
	warned := make([]int, len(r.s.Aggregators))
	for i, p := range r.s.Aggregators {
		warned[i] = warnings(p)
	}
	if crash {
		r.s.KillBroker(r.t)
	} else {
		r.s.StopBroker(r.t, brokerDeadline)
	}
	stopped := time.Now()

	// The outage lasts until the gateway has answered 503 and every aggregator has run into
	// it, and for longer than the group session timeout, so members are stale by the time
	// the broker is back.
	harness.Eventually(r.t, time.Minute, func() error {
		switch {
		case unavailable() == seen:
			return fmt.Errorf("no 503 kafka_unavailable or not_ready since the broker stopped: %v",
				r.load.Stats().ByReason)
		case time.Since(stopped) < outage:
			return fmt.Errorf("the broker has been down for less than %v", outage)
		}
		for i, p := range r.s.Aggregators {
			if warnings(p) == warned[i] {
				return fmt.Errorf("%s has not noticed the outage", p.Name)
			}
		}
		return nil
	})
	st, err := r.s.GetStats("lastHour")
	r.t.Logf("with the broker down for %v: load answers %v; GET lastHour = %d, %v",
		time.Since(stopped).Round(100*time.Millisecond), r.load.Stats().ByReason, st.Status, err)
	r.s.StartBroker(r.t, brokerDeadline)

	// Every service recovers on its own: the gateway writes again, the aggregators rejoin
	// their group and rebuild, and the exact comparison at the end covers the query service.
	began := time.Now()
	r.load.WaitWritten(r.t, 1, time.Minute)
	r.t.Logf("the gateway acknowledged a request %v after the broker came back",
		time.Since(began).Round(10*time.Millisecond))
	r.load.SetMode(harness.Hot)
	r.s.WaitAssignment(r.t, before, rebalanceDeadline)
	r.assertRunning()
}

// stop sends p SIGTERM and wants it to exit 0 within bound.
func (r *faultRun) stop(p *harness.Proc, bound time.Duration) {
	r.t.Helper()
	took := p.Stop(bound)
	r.t.Logf("%s stopped cleanly in %v (bound %v)", p.Name, took.Round(10*time.Millisecond), bound)
}

// assertExact pauses the load, posts a burst into the last full minute and tops the hour up
// as the plan says, then wants both endpoints to equal the ground truth of the window each
// answer names.
func (r *faultRun) assertExact(when string) {
	r.t.Helper()
	r.load.SetMode(harness.Paused)
	defer r.load.SetMode(harness.Hot)

	now := time.Now().UTC()
	minute := now.Truncate(time.Minute).Add(-time.Minute)
	r.s.PostUntilWritten(r.t, r.truth, r.plan.MinuteBurst(minute), time.Minute)
	hour := now.Truncate(time.Hour).Add(-time.Hour)
	r.s.PostUntilWritten(r.t, r.truth, r.plan.TopUp(r.truth.Expected(hour, time.Hour), hour),
		time.Minute)
	posted := time.Now()

	tests := []struct {
		name string
		path string
		size time.Duration
	}{
		{name: "last full minute", path: "lastMinute", size: time.Minute},
		{name: "last full hour", path: "lastHour", size: time.Hour},
	}
	for _, tt := range tests {
		var got harness.Stats
		var want []harness.Entry
		harness.Eventually(r.t, statsDeadline, func() error {
			var err error
			got, err = r.s.GetStats(tt.path)
			if err != nil {
				return err
			}
			if got.Status != http.StatusOK {
				return fmt.Errorf("GET %s = %d %s", tt.path, got.Status, got.Raw)
			}
			want = harness.TopTen(r.truth.Expected(got.WindowStart, tt.size))
			if len(want) == 0 {
				if tt.size == time.Minute {
					// The minute turned since the burst: give the new last minute one.
					r.s.PostUntilWritten(r.t, r.truth, r.plan.MinuteBurst(got.WindowStart),
						time.Minute)
				}
				return fmt.Errorf("no counter acknowledged for the window at %v yet",
					got.WindowStart)
			}
			if !reflect.DeepEqual(got.Top, want) {
				return fmt.Errorf("GET %s (window %v) differs from the ground truth: %s\n"+
					"got  %v\nwant %v", tt.path, got.WindowStart.Format(time.TimeOnly),
					harness.DiffTop(got.Top, want), got.Top, want)
			}
			return nil
		})
		r.t.Logf("%s %s: exact %v after the last POST, window %v, %d domains, top %v",
			when, tt.name, time.Since(posted).Round(10*time.Millisecond),
			got.WindowStart.Format(time.TimeOnly), len(want), want[0])
		if tt.size == time.Hour && got.WindowStart.Equal(hour) {
			if err := r.plan.Ranked(want); err != nil {
				r.t.Errorf("the test data does not make the ranking sensitive: %v", err)
			}
		}
	}
}

func (r *faultRun) logLoad(st harness.LoadStats) {
	r.t.Helper()
	r.t.Logf("load: %d requests, %d acknowledged with %d counters and %d records; "+
		"answers %v; ambiguous: %d cold (ignored, cannot reach the top ten), %d hot",
		st.Requests, st.Written, st.Counters, st.Records, st.ByReason,
		st.AmbiguousCold, st.AmbiguousHot)
	for _, p := range st.Problems {
		r.t.Errorf("load: %s", p)
	}
}

// assertRunning wants every service the scenario did not end on purpose to be running.
func (r *faultRun) assertRunning() {
	r.t.Helper()
	for _, p := range r.services() {
		if !p.Running() {
			r.t.Errorf("%s exited on its own; its log ends with:\n%s",
				p.Name, lastLines(p.Log(), 20))
		}
	}
}

// stopAll stops every service with SIGTERM, the gateway first, and wants each to exit 0 within
// its bound: no fault may leave a service that cannot stop.
func (r *faultRun) stopAll() {
	r.t.Helper()
	for _, p := range r.services() {
		bound := aggregatorStopBound
		switch p {
		case r.s.Ingest:
			bound = gatewayStopBound
		case r.s.Query:
			bound = queryStopBound
		}
		r.stop(p, bound)
	}
}

// services lists the gateway, the aggregators the scenario left running and the query service.
func (r *faultRun) services() []*harness.Proc {
	out := []*harness.Proc{r.s.Ingest}
	for _, p := range r.s.Aggregators {
		if !slices.Contains(r.gone, p) {
			out = append(out, p)
		}
	}
	return append(out, r.s.Query)
}

func logged(p *harness.Proc, msg string) bool {
	return slices.ContainsFunc(harness.ParseLog(p.Log()), func(l harness.LogLine) bool {
		return l.Msg == msg
	})
}

// warnings counts the lines p logged at warn level or above.
func warnings(p *harness.Proc) int {
	n := 0
	for _, l := range harness.ParseLog(p.Log()) {
		if l.Level != "INFO" && l.Level != "DEBUG" {
			n++
		}
	}
	return n
}

func errorCode(body string) string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Code
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
