// Package kafkasetup creates the clients and topics the toptraffic services share, so that every
// process agrees on how topics are created and when they are ready to use.
//
// Topics are created explicitly at start-up and never by broker auto-creation: auto-created
// topics get the broker's default partition count and cleanup policy, and the counters topic's
// partition count is part of the pipeline's exactness (see docs/design.md).
package kafkasetup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ErrTopicNotReady is returned when a topic does not show up in metadata with a leader for every
// partition before the context ends.
var ErrTopicNotReady = errors.New("topic not ready")

// Topic describes a topic a service needs.
type Topic struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Configs are topic-level settings such as cleanup.policy, applied only at creation.
	Configs map[string]string
}

// NewTransport returns a kafka-go Transport of its own. Each user gets a separate one because a
// Transport caches metadata: one shared with the client that just created a topic may keep
// reporting the topic as missing for a metadata TTL.
func NewTransport(clientID string) *kafka.Transport {
	return &kafka.Transport{
		ClientID:    clientID,
		DialTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 6 * time.Second,
	}
}

// NewClient returns a client for admin requests against brokers.
func NewClient(brokers []string, clientID string) *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(brokers...),
		Timeout:   10 * time.Second,
		Transport: NewTransport(clientID),
	}
}

// EnsureTopics creates the topics that are missing and waits until every one of them is in the
// cluster's metadata with a leader for each partition. It returns the partition count each
// topic really has, which differs from the requested one when the topic already existed with
// another count; the caller decides whether that matters and logs it.
func EnsureTopics(
	ctx context.Context,
	client *kafka.Client,
	logger *zap.Logger,
	topics ...Topic,
) (map[string]int, error) {
	configs := make([]kafka.TopicConfig, 0, len(topics))
	for _, t := range topics {
		tc := kafka.TopicConfig{
			Topic:             t.Name,
			NumPartitions:     t.Partitions,
			ReplicationFactor: t.ReplicationFactor,
		}
		for k, v := range t.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		configs = append(configs, tc)
	}

	// The broker may still be starting; retry creation until the context gives up.
	var resp *kafka.CreateTopicsResponse
	err := poll(ctx, 200*time.Millisecond, func() (bool, error) {
		var err error
		resp, err = client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
		if err != nil {
			logger.Debug("create topics failed, retrying", zap.Error(err))
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	for _, t := range topics {
		switch err := resp.Errors[t.Name]; {
		case err == nil:
			logger.Info("topic created",
				zap.String("topic", t.Name),
				zap.Int("partitions", t.Partitions),
				zap.Int("replication_factor", t.ReplicationFactor))
		case errors.Is(err, kafka.TopicAlreadyExists):
			logger.Debug("topic exists", zap.String("topic", t.Name))
		default:
			return nil, fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}

	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	counts := map[string]int{}
	var lastProblem string
	err = poll(ctx, 200*time.Millisecond, func() (bool, error) {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err != nil {
			lastProblem = err.Error()
			return false, nil
		}
		for _, t := range md.Topics {
			if t.Error != nil || len(t.Partitions) == 0 {
				lastProblem = fmt.Sprintf("topic %s: %v", t.Name, t.Error)
				return false, nil
			}
			for _, p := range t.Partitions {
				if p.Error != nil || p.Leader.ID < 0 || p.Leader.Host == "" {
					lastProblem = fmt.Sprintf("topic %s partition %d has no leader", t.Name, p.ID)
					return false, nil
				}
			}
			counts[t.Name] = len(t.Partitions)
		}
		return len(counts) == len(names), nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for topics %v: %w: %s", names, ErrTopicNotReady, lastProblem)
	}
	return counts, nil
}

// poll calls f every interval until it reports done, returns an error, or ctx ends.
func poll(ctx context.Context, interval time.Duration, f func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
