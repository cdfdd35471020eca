package config

import "errors"

// ErrInvalid marks a setting that was read but cannot be used; the wrapping error names the
// environment variable and its value.
var ErrInvalid = errors.New("invalid setting")
