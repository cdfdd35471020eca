package snapshot

import (
	"strconv"
	"time"
)

// segmentPeriod is how often the snapshots topic rolls a new log segment. Kafka compacts and
// deletes only closed segments, so at its default of a week nothing would be freed for days.
const segmentPeriod = time.Hour

// TopicConfigs returns the configs the snapshots topic is created with: compacted, so that
// each window keeps only its newest snapshot per partition, and deleted after retention, so
// that the topic does not grow by a record per window and partition for ever (a year of
// minutes at 12 partitions would be six million records, all read by every query service at
// start). Retention must cover what the query services keep in memory, or a restarted one
// could not rebuild it.
func TopicConfigs(retention time.Duration) map[string]string {
	return map[string]string{
		"cleanup.policy": "compact,delete",
		"retention.ms":   strconv.FormatInt(retention.Milliseconds(), 10),
		"segment.ms":     strconv.FormatInt(min(segmentPeriod, retention).Milliseconds(), 10),
	}
}
