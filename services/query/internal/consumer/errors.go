package consumer

import "errors"

var (
	// ErrRunTwice is returned by a second call to Run: a Consumer reads the topic once.
	ErrRunTwice = errors.New("consumer already ran")

	// ErrMalformed marks a record that is not a usable snapshot; it is logged and skipped.
	ErrMalformed = errors.New("malformed snapshot record")

	// ErrLogReset marks a snapshots topic that started over under the readers: the broker
	// forgot it, or its log now ends before the offset already read. The view built so far
	// no longer matches the topic and is rebuilt from scratch.
	ErrLogReset = errors.New("snapshots log was reset")

	// ErrPartitionsChanged marks a snapshots topic that gained partitions while it was being
	// read; the consumer starts reading again so that the new ones are read too.
	ErrPartitionsChanged = errors.New("snapshots topic partition count changed")
)
