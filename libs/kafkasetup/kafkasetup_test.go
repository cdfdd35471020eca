package kafkasetup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestEnsureTopics(t *testing.T) {
	brokers := newCluster(t)
	client := NewClient(brokers, "test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tests := []struct {
		name   string
		topics []Topic
		want   map[string]int
	}{
		{
			name: "creates missing topics with their configs",
			topics: []Topic{
				{Name: "counters", Partitions: 12, ReplicationFactor: 1},
				{Name: "snapshots", Partitions: 1, ReplicationFactor: 1,
					Configs: map[string]string{"cleanup.policy": "compact"}},
			},
			want: map[string]int{"counters": 12, "snapshots": 1},
		},
		{
			name:   "an existing topic keeps its partition count",
			topics: []Topic{{Name: "counters", Partitions: 24, ReplicationFactor: 1}},
			want:   map[string]int{"counters": 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EnsureTopics(ctx, client, zap.NewNop(), tt.topics...)
			if err != nil {
				t.Fatalf("EnsureTopics() error = %v", err)
			}
			for name, n := range tt.want {
				if got[name] != n {
					t.Errorf("topic %s has %d partitions, want %d", name, got[name], n)
				}
			}
		})
	}

	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: "snapshots",
			ConfigNames:  []string{"cleanup.policy"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policy = e.ConfigValue
			}
		}
	}
	if policy != "compact" {
		t.Fatalf("snapshots cleanup.policy = %q, want compact", policy)
	}
}

func TestEnsureTopicsGivesUpWithTheContext(t *testing.T) {
	// Nothing listens on port 1: creation keeps failing until the context ends.
	client := NewClient([]string{"127.0.0.1:1"}, "test")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := EnsureTopics(ctx, client, zap.NewNop(), Topic{Name: "t", Partitions: 1,
		ReplicationFactor: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EnsureTopics() error = %v, want the context's deadline", err)
	}
}
