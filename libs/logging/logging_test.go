package logging

import "testing"

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		level   string
		format  Format
		wantErr bool
	}{
		{name: "console info", level: "info", format: FormatConsole},
		{name: "json debug", level: "debug", format: FormatJSON},
		{name: "empty format means console", level: "warn", format: ""},
		{name: "bad level", level: "loud", format: FormatJSON, wantErr: true},
		{name: "bad format", level: "info", format: "xml", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, err := New("test", tt.level, tt.format)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && logger == nil {
				t.Fatal("New() returned a nil logger without an error")
			}
		})
	}
}
