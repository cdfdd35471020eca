package envconfig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type settings struct {
	Port    int           `env:"PORT" envDefault:"3000"`
	Wait    time.Duration `env:"WAIT" envDefault:"1s"`
	Brokers []string      `env:"BROKERS" envDefault:"a:1" envSeparator:","`
}

var errInvalid = errors.New("invalid setting")

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		environ  []string
		want     settings
		wantVars []string // variables the error must name
	}{
		{name: "defaults", want: settings{Port: 3000, Wait: time.Second, Brokers: []string{"a:1"}}},
		{name: "set values", environ: []string{"PORT=8080", "WAIT=2m", "BROKERS=x:1,y:2", "OTHER=1"},
			want: settings{Port: 8080, Wait: 2 * time.Minute, Brokers: []string{"x:1", "y:2"}}},
		{name: "every bad value is named", environ: []string{"PORT=eighty", "WAIT=soon"},
			wantVars: []string{"PORT", "WAIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse[settings](tt.environ, errInvalid)
			if len(tt.wantVars) > 0 {
				if !errors.Is(err, ErrParse) || !errors.Is(err, errInvalid) {
					t.Fatalf("Parse() error = %v, want ErrParse and the caller's sentinel", err)
				}
				for _, v := range tt.wantVars {
					if !strings.Contains(err.Error(), v+": ") {
						t.Errorf("error %q does not name %s", err, v)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got.Port != tt.want.Port || got.Wait != tt.want.Wait ||
				strings.Join(got.Brokers, ",") != strings.Join(tt.want.Brokers, ",") {
				t.Fatalf("Parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	environ := []string{"EMPTY=", "SET=x=y"}
	if v, ok := Lookup(environ, "EMPTY"); !ok || v != "" {
		t.Errorf("Lookup(EMPTY) = %q, %v; want \"\", true", v, ok)
	}
	if v, ok := Lookup(environ, "SET"); !ok || v != "x=y" {
		t.Errorf("Lookup(SET) = %q, %v; want \"x=y\", true", v, ok)
	}
	if _, ok := Lookup(environ, "UNSET"); ok {
		t.Error("Lookup(UNSET) reports it set")
	}
}
