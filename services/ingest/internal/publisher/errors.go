package publisher

import "errors"

var (
	// ErrNotReady means the counters topic has not been confirmed yet: the broker is not
	// reachable or the topic has no leader for every partition. Retry later.
	ErrNotReady = errors.New("publisher not ready: counters topic not confirmed yet")

	// ErrClosed means Close was called; nothing more is accepted.
	ErrClosed = errors.New("publisher closed")

	// ErrAckTimeout means the broker did not acknowledge every record of a Publish call within
	// the produce timeout. Some of the records may still have been written.
	ErrAckTimeout = errors.New("broker did not acknowledge in time")

	// ErrUnavailable means the broker could not be reached, or refused at least one record of
	// a Publish call after the producer's retries. Other records of the call may have been
	// written.
	ErrUnavailable = errors.New("kafka unavailable")

	// ErrCloseTimeout means Close stopped waiting for the producer to flush; records still in
	// its buffers may be lost.
	ErrCloseTimeout = errors.New("producer did not flush in time")
)
