package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"toptraffic/libs/logging"
)

func defaults() Config {
	return Config{
		Addr:                   "127.0.0.1:9092",
		DataDir:                ".data/devbroker",
		GroupMinSessionTimeout: time.Second,
		GroupMaxSessionTimeout: 5 * time.Minute,
		LogLevel:               "info",
		LogFormat:              logging.FormatConsole,
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    func(*Config)
		// wantErr lists substrings the error must hold; empty means no error is expected.
		wantErr []string
		// wantInvalid says the error must match ErrInvalid (a validation, not a parse, error).
		wantInvalid bool
	}{
		{
			name:    "defaults",
			environ: nil,
			want:    func(*Config) {},
		},
		{
			name: "everything set",
			environ: []string{
				"DEVBROKER_ADDR=0.0.0.0:19092",
				"DEVBROKER_DATA_DIR=/tmp/broker",
				"DEVBROKER_SYNC_WRITES=true",
				"DEVBROKER_GROUP_MIN_SESSION_TIMEOUT=250ms",
				"DEVBROKER_GROUP_MAX_SESSION_TIMEOUT=1m",
				"LOG_LEVEL=debug",
				"LOG_FORMAT=json",
				"UNRELATED=1",
			},
			want: func(c *Config) {
				c.Addr = "0.0.0.0:19092"
				c.DataDir = "/tmp/broker"
				c.SyncWrites = true
				c.GroupMinSessionTimeout = 250 * time.Millisecond
				c.GroupMaxSessionTimeout = time.Minute
				c.LogLevel = "debug"
				c.LogFormat = logging.FormatJSON
			},
		},
		{
			name:    "empty data dir means memory only",
			environ: []string{"DEVBROKER_DATA_DIR="},
			want:    func(c *Config) { c.DataDir = "" },
		},
		{
			name:    "port zero picks a free port",
			environ: []string{"DEVBROKER_ADDR=127.0.0.1:0"},
			want:    func(c *Config) { c.Addr = "127.0.0.1:0" },
		},
		{
			name:    "equal session bounds",
			environ: []string{"DEVBROKER_GROUP_MAX_SESSION_TIMEOUT=1s"},
			want:    func(c *Config) { c.GroupMaxSessionTimeout = time.Second },
		},
		{
			name:        "addr without port",
			environ:     []string{"DEVBROKER_ADDR=localhost"},
			wantErr:     []string{KeyAddr, "missing port"},
			wantInvalid: true,
		},
		{
			name:        "addr without host",
			environ:     []string{"DEVBROKER_ADDR=:9092"},
			wantErr:     []string{KeyAddr, "host is empty"},
			wantInvalid: true,
		},
		{
			name:        "port out of range",
			environ:     []string{"DEVBROKER_ADDR=127.0.0.1:70000"},
			wantErr:     []string{KeyAddr, "70000"},
			wantInvalid: true,
		},
		{
			name:        "port not a number",
			environ:     []string{"DEVBROKER_ADDR=127.0.0.1:kafka"},
			wantErr:     []string{KeyAddr, "kafka"},
			wantInvalid: true,
		},
		{
			name:        "zero min session timeout",
			environ:     []string{"DEVBROKER_GROUP_MIN_SESSION_TIMEOUT=0s"},
			wantErr:     []string{KeyGroupMinSessionTimeout, "positive"},
			wantInvalid: true,
		},
		{
			name:        "max session timeout below min",
			environ:     []string{"DEVBROKER_GROUP_MAX_SESSION_TIMEOUT=500ms"},
			wantErr:     []string{KeyGroupMaxSessionTimeout, KeyGroupMinSessionTimeout},
			wantInvalid: true,
		},
		{
			name:        "unknown log level",
			environ:     []string{"LOG_LEVEL=loud"},
			wantErr:     []string{KeyLogLevel, "loud"},
			wantInvalid: true,
		},
		{
			name:        "unknown log format",
			environ:     []string{"LOG_FORMAT=xml"},
			wantErr:     []string{KeyLogFormat, "xml"},
			wantInvalid: true,
		},
		{
			name: "every invalid setting is reported at once",
			environ: []string{
				"DEVBROKER_ADDR=nope",
				"LOG_LEVEL=loud",
				"LOG_FORMAT=xml",
			},
			wantErr:     []string{KeyAddr, KeyLogLevel, KeyLogFormat},
			wantInvalid: true,
		},
		{
			name:    "duration that does not parse",
			environ: []string{"DEVBROKER_GROUP_MIN_SESSION_TIMEOUT=soon"},
			wantErr: []string{"DEVBROKER_GROUP_MIN_SESSION_TIMEOUT", "soon"},
		},
		{
			name:    "bool that does not parse",
			environ: []string{"DEVBROKER_SYNC_WRITES=maybe"},
			wantErr: []string{"DEVBROKER_SYNC_WRITES", "maybe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.environ)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Parse() = %+v, want an error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Parse() error %q does not mention %q", err, s)
					}
				}
				if tt.wantInvalid && !errors.Is(err, ErrInvalid) {
					t.Errorf("Parse() error %q does not match ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			want := defaults()
			tt.want(&want)
			if got != want {
				t.Errorf("Parse() = %+v, want %+v", got, want)
			}
		})
	}
}

// TestKeysMatchTags keeps the Key constants, used in error messages, in step with the env tags
// the library actually reads.
func TestKeysMatchTags(t *testing.T) {
	want := map[string]string{
		"Addr":                   KeyAddr,
		"DataDir":                KeyDataDir,
		"SyncWrites":             KeySyncWrites,
		"GroupMinSessionTimeout": KeyGroupMinSessionTimeout,
		"GroupMaxSessionTimeout": KeyGroupMaxSessionTimeout,
		"LogLevel":               KeyLogLevel,
		"LogFormat":              KeyLogFormat,
	}
	typ := reflect.TypeFor[Config]()
	if typ.NumField() != len(want) {
		t.Fatalf("Config has %d fields, the test knows %d", typ.NumField(), len(want))
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if got := f.Tag.Get("env"); got != want[f.Name] {
			t.Errorf("field %s has env tag %q, want %q", f.Name, got, want[f.Name])
		}
	}
}
