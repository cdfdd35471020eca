package harness

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		err    error
		want   Outcome
	}{
		{name: "acknowledged", status: 200, body: `{"accepted":3}`, want: Written},
		{name: "not ready", status: 503, body: `{"code":"not_ready"}`, want: NotWritten},
		{name: "shutting down", status: 503, body: `{"code":"shutting_down"}`, want: NotWritten},
		{name: "kafka unavailable", status: 503, body: `{"code":"kafka_unavailable"}`,
			want: Ambiguous},
		{name: "other 5xx", status: 502, body: `bad gateway`, want: Ambiguous},
		{name: "bad request", status: 400, body: `{"code":"malformed_body"}`, want: Rejected},
		{name: "all dropped", status: 422, body: `{"code":"all_dropped"}`, want: Rejected},
		{name: "refused", err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect",
			syscall.ECONNREFUSED)}, want: NotWritten},
		{name: "reset", err: &net.OpError{Op: "read", Err: os.NewSyscallError("read",
			syscall.ECONNRESET)}, want: NotWritten},
		{name: "eof", err: fmt.Errorf("post: %w", io.EOF), want: NotWritten},
		{name: "client timeout", err: fmt.Errorf("post: %w", timeoutError{}), want: Ambiguous},
		{name: "unknown transport error", err: errors.New("tls: weird"), want: Ambiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Classify(tt.status, []byte(tt.body), tt.err)
			if got != tt.want {
				t.Errorf("Classify(%d, %s, %v) = %v (%s), want %v",
					tt.status, tt.body, tt.err, got, reason, tt.want)
			}
		})
	}
}

func TestTopUpMakesLeadersTheTopTen(t *testing.T) {
	p := DefaultPlan()
	hour := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	now := hour.Add(time.Hour + 30*time.Minute)
	tests := []struct {
		name     string
		requests int
	}{
		{name: "no traffic yet", requests: 0},
		{name: "a little traffic", requests: 20},
		{name: "much traffic", requests: 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var cs []Counter
			for range tt.requests {
				cs = append(cs, p.HotRequest(rng, now)...)
			}
			cs = append(cs, p.ColdRequest(rng, now, "x")...)
			cs = append(cs, p.TopUp(Expected(cs, hour, time.Hour), hour)...)
			for _, c := range cs {
				for d, n := range c.Counts {
					if n == 0 {
						t.Fatalf("counter at %d has count 0 for %s", c.Timestamp, d)
					}
				}
			}
			sums := Expected(cs, hour, time.Hour)
			if err := p.Ranked(TopTen(sums)); err != nil {
				t.Fatal(err)
			}
			for _, d := range p.Contenders {
				if sums[d] != sums[p.Leaders[9]] {
					t.Errorf("%s sums to %d, want the tenth leader's %d", d, sums[d],
						sums[p.Leaders[9]])
				}
			}
		})
	}
}

func TestCheckAssignment(t *testing.T) {
	line := func(msg, fields string) string {
		return "10:00:00.000\tINFO\tgroup/group.go:1\t" + msg + "\t" + fields + "\n"
	}
	gen := func(id int, parts string) string {
		return line("generation started",
			fmt.Sprintf(`{"service":"aggregator","generation":%d,"partitions":[%s]}`, id, parts))
	}
	rebuilt := func(p int) string {
		return line("partition rebuilt", fmt.Sprintf(`{"partition":%d,"replayed":5}`, p))
	}
	tests := []struct {
		name    string
		logs    []string
		after   int
		rebuilt bool
		wantGen int
		wantErr bool
	}{
		{
			name:    "two members split four partitions",
			logs:    []string{gen(1, "0,1,2,3") + gen(2, "0,1"), gen(2, "2,3")},
			wantGen: 2,
		},
		{
			name:    "members in different generations",
			logs:    []string{gen(2, "0,1"), gen(3, "2,3")},
			wantErr: true,
		},
		{
			name:    "partition given twice",
			logs:    []string{gen(2, "0,1,2"), gen(2, "2,3")},
			wantErr: true,
		},
		{
			name:    "partition missing",
			logs:    []string{gen(2, "0,1"), gen(2, "2")},
			wantErr: true,
		},
		{
			name:    "not newer than after",
			logs:    []string{gen(2, "0,1,2,3")},
			after:   2,
			wantErr: true,
		},
		{
			name:    "rebuilt in an earlier generation only",
			logs:    []string{gen(1, "0,1,2,3") + rebuilt(0) + gen(2, "0,1,2,3")},
			rebuilt: true,
			wantErr: true,
		},
		{
			name: "every partition rebuilt",
			logs: []string{gen(4, "0,1,2,3") + rebuilt(0) + rebuilt(1) + rebuilt(2) +
				line("partition ready, nothing to replay", `{"partition":3}`)},
			rebuilt: true,
			wantGen: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckAssignment(tt.logs, 4, tt.after, tt.rebuilt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckAssignment() = %d, %v; want error %v", got, err, tt.wantErr)
			}
			if err == nil && got != tt.wantGen {
				t.Errorf("CheckAssignment() = %d, want %d", got, tt.wantGen)
			}
		})
	}
}

func TestParseLog(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantLevel string
		wantMsg   string
		wantOK    bool
	}{
		{
			name: "coloured level",
			line: "19:55:37.886\t\x1b[33mWARN\x1b[0m\tpartition/partition.go:190\t" +
				"publish snapshots failed, retrying\t{\"partition\": 2}\n",
			wantLevel: "WARN", wantMsg: "publish snapshots failed, retrying", wantOK: true,
		},
		{
			name: "named logger",
			line: "19:55:37.880\t\x1b[34mINFO\x1b[0m\tapi\tapi/counters.go:229\tpublish failed\t" +
				"{\"records\": 1}\n",
			wantLevel: "INFO", wantMsg: "publish failed", wantOK: true,
		},
		{name: "harness marker", line: "==== start query at 2026-12-03T19:55:32Z\n"},
		{name: "fields not JSON", line: "a\tINFO\tb\tmsg\t{broken\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseLog(tt.line)
			if len(got) == 1 != tt.wantOK {
				t.Fatalf("ParseLog(%q) = %v, want a line: %v", tt.line, got, tt.wantOK)
			}
			if tt.wantOK && (got[0].Level != tt.wantLevel || got[0].Msg != tt.wantMsg) {
				t.Errorf("ParseLog(%q) = %q %q, want %q %q", tt.line, got[0].Level, got[0].Msg,
					tt.wantLevel, tt.wantMsg)
			}
		})
	}
}
