package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults form a working local stack", env: map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.Brokers[0] != "127.0.0.1:9092" || c.TopK != 100 || c.AllowedLateness != time.Minute {
					t.Fatalf("defaults = %+v", c)
				}
				if c.Addr != "127.0.0.1:0" {
					t.Fatalf("Addr = %q, want a free port so several aggregators share a host", c.Addr)
				}
			}},
		{name: "broker list", env: map[string]string{"KAFKA_BROKERS": "a:1,b:2"},
			check: func(t *testing.T, c Config) {
				if len(c.Brokers) != 2 || c.Brokers[1] != "b:2" {
					t.Fatalf("Brokers = %v", c.Brokers)
				}
			}},
		{name: "unparsable lateness", env: map[string]string{"ALLOWED_LATENESS": "soon"},
			wantErr: "ALLOWED_LATENESS"},
		{name: "negative lateness", env: map[string]string{"ALLOWED_LATENESS": "-1s"},
			wantErr: "ALLOWED_LATENESS"},
		{name: "top k below ten", env: map[string]string{"TOP_K": "5"}, wantErr: "TOP_K"},
		{name: "same topics", env: map[string]string{"SNAPSHOTS_TOPIC": "counters"},
			wantErr: "SNAPSHOTS_TOPIC"},
		{name: "heartbeat not below session", env: map[string]string{"GROUP_HEARTBEAT_INTERVAL": "6s"},
			wantErr: "GROUP_HEARTBEAT_INTERVAL"},
		{name: "slow flush", env: map[string]string{"FLUSH_INTERVAL": "2s"}, wantErr: "FLUSH_INTERVAL"},
		{name: "zero partitions", env: map[string]string{"COUNTERS_PARTITIONS": "0"},
			wantErr: "COUNTERS_PARTITIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.env)
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
