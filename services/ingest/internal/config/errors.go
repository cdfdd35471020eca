package config

import "errors"

// ErrInvalid marks a setting that was read but cannot be used; every validation error wraps it
// and starts with the name of the environment variable at fault.
var ErrInvalid = errors.New("invalid setting")
