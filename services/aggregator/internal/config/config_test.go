package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults form a working local stack", env: nil,
			check: func(t *testing.T, c Config) {
				if c.Brokers[0] != "127.0.0.1:9092" || c.TopK != 100 || c.AllowedLateness != time.Minute {
					t.Fatalf("defaults = %+v", c)
				}
				if c.Addr != "127.0.0.1:0" {
					t.Fatalf("Addr = %q, want a free port so several aggregators share a host", c.Addr)
				}
			}},
		{name: "broker list", env: []string{"KAFKA_BROKERS=a:1,b:2"},
			check: func(t *testing.T, c Config) {
				if len(c.Brokers) != 2 || c.Brokers[1] != "b:2" {
					t.Fatalf("Brokers = %v", c.Brokers)
				}
			}},
		{name: "unparsable lateness", env: []string{"ALLOWED_LATENESS=soon"},
			wantErr: "ALLOWED_LATENESS"},
		{name: "negative lateness", env: []string{"ALLOWED_LATENESS=-1s"},
			wantErr: "ALLOWED_LATENESS"},
		{name: "top k below ten", env: []string{"TOP_K=5"}, wantErr: "TOP_K"},
		{name: "same topics", env: []string{"SNAPSHOTS_TOPIC=counters"},
			wantErr: "SNAPSHOTS_TOPIC"},
		{name: "heartbeat not below session", env: []string{"GROUP_HEARTBEAT_INTERVAL=6s"},
			wantErr: "GROUP_HEARTBEAT_INTERVAL"},
		{name: "slow flush", env: []string{"FLUSH_INTERVAL=2s"}, wantErr: "FLUSH_INTERVAL"},
		{name: "snapshots kept less than an hour's life",
			env: []string{"SNAPSHOTS_TOPIC_RETENTION=90m"}, wantErr: "SNAPSHOTS_TOPIC_RETENTION"},
		{name: "snapshots retention", env: []string{"SNAPSHOTS_TOPIC_RETENTION=72h"},
			check: func(t *testing.T, c Config) {
				if c.SnapshotsTopicRetention != 72*time.Hour {
					t.Fatalf("SnapshotsTopicRetention = %v, want 72h", c.SnapshotsTopicRetention)
				}
			}},
		{name: "zero partitions", env: []string{"COUNTERS_PARTITIONS=0"},
			wantErr: "COUNTERS_PARTITIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load() error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			tt.check(t, c)
		})
	}
}
