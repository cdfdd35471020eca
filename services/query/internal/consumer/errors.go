package consumer

import "errors"

var (
	// ErrRunTwice is returned by a second call to Run: a Consumer reads the topic once.
	ErrRunTwice = errors.New("consumer already ran")

	// ErrMalformed marks a record that is not a usable snapshot; it is logged and skipped.
	ErrMalformed = errors.New("malformed snapshot record")
)
