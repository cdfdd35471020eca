package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Options shape a stack.
type Options struct {
	// Aggregators is how many aggregator processes to start (default 1).
	Aggregators int
	// Env adds settings to every service, e.g. "ALLOWED_LATENESS=3h".
	Env []string
	// BrokerEnv adds settings to the embedded broker, e.g. "DEVBROKER_SYNC_WRITES=true".
	BrokerEnv []string
}

// Stack is a running pipeline: a broker (unless KAFKA_BROKERS names one), the query service,
// aggregators and the gateway, with topics and a consumer group of its own.
type Stack struct {
	t           testing.TB
	bin         string
	env         []string
	Brokers     string
	Broker      *Proc // nil when the broker is external
	Query       *Proc
	Ingest      *Proc
	Aggregators []*Proc
	GatewayURL  string
	QueryURL    string
	HTTP        *http.Client
	// Partitions is the counters topic's partition count (the services' default).
	Partitions int
	// brokerLock is held while the stack uses an external broker.
	brokerLock *brokerLock
}

// External reports whether the suite runs against a broker named by KAFKA_BROKERS.
func External() bool { return os.Getenv("KAFKA_BROKERS") != "" }

// NewStack starts a stack and waits until the gateway and the query service are ready.
func NewStack(t testing.TB, opts Options) *Stack {
	t.Helper()
	s := &Stack{t: t, bin: Binaries(t), HTTP: &http.Client{Timeout: 10 * time.Second},
		Partitions: 12}
	suffix := uniqueSuffix(t)

	if External() {
		s.Brokers = os.Getenv("KAFKA_BROKERS")
		s.brokerLock = lockBroker(t, s.Brokers)
	} else {
		s.Brokers = FreeAddr(t)
		s.Broker = Start(t, "devbroker", filepath.Join(s.bin, "devbroker"),
			append([]string{
				"DEVBROKER_ADDR=" + s.Brokers,
				"DEVBROKER_DATA_DIR=" + filepath.Join(t.TempDir(), "broker"),
			}, opts.BrokerEnv...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := WaitPort(ctx, s.Brokers); err != nil {
			t.Fatal(err)
		}
	}
	LogBrokerVersion(t, s.Brokers)

	gateway, query := FreeAddr(t), FreeAddr(t)
	s.GatewayURL, s.QueryURL = "http://"+gateway, "http://"+query
	s.env = append([]string{
		"KAFKA_BROKERS=" + s.Brokers,
		"COUNTERS_TOPIC=counters-" + suffix,
		"SNAPSHOTS_TOPIC=snapshots-" + suffix,
		"AGGREGATOR_GROUP_ID=aggregators-" + suffix,
		"PORT=" + gateway[strings.LastIndex(gateway, ":")+1:],
		"QUERY_ADDR=" + query,
		"QUERY_URL=" + s.QueryURL,
		// Real Kafka refuses session timeouts under 6 s by default.
		"GROUP_SESSION_TIMEOUT=6s",
		"GROUP_HEARTBEAT_INTERVAL=1s",
	}, opts.Env...)

	s.Query = Start(t, "query", filepath.Join(s.bin, "query"), s.env...)
	n := max(opts.Aggregators, 1)
	for range n {
		s.AddAggregator()
	}
	s.Ingest = Start(t, "ingest", filepath.Join(s.bin, "ingest"), s.env...)
	s.WaitReady(60 * time.Second)
	return s
}

// AddAggregator starts one more aggregator in the stack's consumer group.
func (s *Stack) AddAggregator() *Proc {
	s.t.Helper()
	p := Start(s.t, fmt.Sprintf("aggregator-%d", len(s.Aggregators)+1),
		filepath.Join(s.bin, "aggregator"), s.env...)
	s.Aggregators = append(s.Aggregators, p)
	return p
}

// WaitReady waits until the gateway's and the query service's /readyz answer 200.
func (s *Stack) WaitReady(timeout time.Duration) {
	s.t.Helper()
	Eventually(s.t, timeout, func() error {
		for _, u := range []string{s.GatewayURL + "/readyz", s.QueryURL + "/readyz"} {
			resp, err := s.HTTP.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", u, resp.Status)
			}
		}
		return nil
	})
}

// Post sends body to the gateway's POST /api/counters and returns the status and response body.
func (s *Stack) Post(body string) (int, string, error) {
	resp, err := s.HTTP.Post(s.GatewayURL+"/api/counters", "application/json",
		strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Entry is one row of the statistics.
type Entry struct {
	Domain string `json:"domain"`
	Count  uint64 `json:"count"`
}

// Stats is an answer of GET /api/stats/lastMinute or lastHour.
type Stats struct {
	Status      int
	WindowStart time.Time
	Top         []Entry
	Raw         string
}

// GetStats asks the gateway for path ("lastMinute" or "lastHour").
func (s *Stack) GetStats(path string) (Stats, error) {
	resp, err := s.HTTP.Get(s.GatewayURL + "/api/stats/" + path)
	if err != nil {
		return Stats{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Status: resp.StatusCode, Raw: string(b)}
	if resp.StatusCode != http.StatusOK {
		return st, nil
	}
	if err := json.Unmarshal(b, &st.Top); err != nil {
		return st, fmt.Errorf("decode %s: %w: %s", path, err, tail(b, 200))
	}
	if st.Top == nil {
		return st, fmt.Errorf("%s answered %q, want a JSON array", path, tail(b, 200))
	}
	if h := resp.Header.Get("X-Window-Start"); h != "" {
		st.WindowStart, err = time.Parse(time.RFC3339, h)
		if err != nil {
			return st, fmt.Errorf("X-Window-Start %q: %w", h, err)
		}
	}
	return st, nil
}

// TopTen ranks sums the way the API does: count descending, ties by domain ascending, ten at most.
func TopTen(sums map[string]uint64) []Entry {
	out := make([]Entry, 0, len(sums))
	for d, c := range sums {
		if c > 0 {
			out = append(out, Entry{Domain: d, Count: c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Domain < out[j].Domain
	})
	if len(out) > 10 {
		out = out[:10]
	}
	return out
}

// LogBrokerVersion logs which broker the suite runs against: KAFKA_VERSION when the script that
// started it says, and the highest Produce and Fetch versions the broker answers, which tell
// Kafka releases apart.
func LogBrokerVersion(t testing.TB, brokers string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(strings.Split(brokers, ",")...), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp *kafka.ApiVersionsResponse
	Eventually(t, 30*time.Second, func() error {
		var err error
		resp, err = c.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
		return err
	})
	var apis []string
	for _, k := range resp.ApiKeys {
		if k.ApiName == "Produce" || k.ApiName == "Fetch" || k.ApiName == "JoinGroup" {
			apis = append(apis, fmt.Sprintf("%s v%d-v%d", k.ApiName, k.MinVersion, k.MaxVersion))
		}
	}
	kind := "embedded dev broker (kfake)"
	if External() {
		kind = "external broker"
		if v := os.Getenv("KAFKA_VERSION"); v != "" {
			kind = "Apache Kafka " + v
		}
	}
	t.Logf("broker %s at %s: %s", kind, brokers, strings.Join(apis, ", "))
}

// Counter is one posted counter, kept to compute the expected statistics.
type Counter struct {
	Timestamp int64
	Counts    map[string]uint64
}

// JSON encodes the counter the way producers send it.
func (c Counter) JSON() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"timestamp": %d`, c.Timestamp)
	keys := make([]string, 0, len(c.Counts))
	for d := range c.Counts {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	for _, d := range keys {
		fmt.Fprintf(&b, `, %q: %d`, d, c.Counts[d])
	}
	b.WriteByte('}')
	return b.String()
}

// Expected sums the counters whose timestamp falls in [start, start+size) by domain.
func Expected(counters []Counter, start time.Time, size time.Duration) map[string]uint64 {
	from, to := start.Unix(), start.Add(size).Unix()
	sums := map[string]uint64{}
	for _, c := range counters {
		if c.Timestamp < from || c.Timestamp >= to {
			continue
		}
		for d, n := range c.Counts {
			sums[strings.ToLower(d)] += n
		}
	}
	return sums
}

// DiffTop describes how got differs from want, domain by domain, for failure messages.
func DiffTop(got, want []Entry) string {
	counts := func(es []Entry) map[string]uint64 {
		m := make(map[string]uint64, len(es))
		for _, e := range es {
			m[e.Domain] = e.Count
		}
		return m
	}
	g, w := counts(got), counts(want)
	var diffs []string
	for _, e := range want {
		switch c, ok := g[e.Domain]; {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing (want %d)", e.Domain, e.Count))
		case c != e.Count:
			diffs = append(diffs, fmt.Sprintf("%s %d, want %d (%+d)",
				e.Domain, c, e.Count, int64(c)-int64(e.Count)))
		}
	}
	for _, e := range got {
		if _, ok := w[e.Domain]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %d unexpected", e.Domain, e.Count))
		}
	}
	if len(diffs) == 0 && len(got) == len(want) {
		diffs = append(diffs, "same counts, different order")
	}
	return strings.Join(diffs, "; ")
}
