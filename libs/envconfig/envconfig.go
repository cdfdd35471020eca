// Package envconfig fills a service's settings struct from environment variables with the
// caarlos0/env library, and reports what it cannot parse by variable name: the library names
// the Go struct field, while an operator can only fix the variable.
package envconfig

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// ErrParse is wrapped by every error about a value that cannot be read as its field's type.
var ErrParse = errors.New("cannot parse")

// Parse fills a T from environ, given as os.Environ returns it, using T's `env` and
// `envDefault` struct tags. Every parse error starts with its variable and wraps both ErrParse
// and invalid, the caller's own sentinel for bad settings (nil for none), e.g.
// "ALLOWED_LATENESS: invalid setting: cannot parse as time.Duration: ...". Validating the
// values is the caller's.
func Parse[T any](environ []string, invalid error) (T, error) {
	var cfg T
	err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)})
	if err == nil {
		return cfg, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return cfg, fmt.Errorf("read environment: %w", err)
	}
	t := reflect.TypeFor[T]()
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			errs = append(errs, fmt.Errorf("read environment: %w", e))
			continue
		}
		name := pe.Name
		if f, ok := t.FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		if invalid != nil {
			e = fmt.Errorf("%s: %w: %w as %s: %w", name, invalid, ErrParse, pe.Type, pe.Err)
		} else {
			e = fmt.Errorf("%s: %w as %s: %w", name, ErrParse, pe.Type, pe.Err)
		}
		errs = append(errs, e)
	}
	return cfg, errors.Join(errs...)
}

// Lookup returns the value of name in environ and whether it is set at all, for the rare
// setting where "set but empty" means something other than the default.
func Lookup(environ []string, name string) (string, bool) {
	v, ok := env.ToMap(environ)[name]
	return v, ok
}
