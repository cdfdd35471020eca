package config

import "errors"

// ErrInvalid marks a setting whose value was read but cannot be used; the wrapping error names
// the environment variable and the value.
var ErrInvalid = errors.New("invalid setting")
