package main

import "testing"

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{name: "ipv4 loopback", addr: "127.0.0.1:9092"},
		{name: "other loopback", addr: "127.0.0.2:9092"},
		{name: "ipv6 loopback", addr: "[::1]:9092"},
		{name: "localhost", addr: "localhost:9092"},
		{name: "private address", addr: "10.0.0.5:9092", wantErr: true},
		{name: "public name", addr: "kafka.example.com:9092", wantErr: true},
		{name: "no port", addr: "127.0.0.1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkLoopback(tc.addr); (err != nil) != tc.wantErr {
				t.Fatalf("checkLoopback(%q) = %v, want error %v", tc.addr, err, tc.wantErr)
			}
		})
	}
}
