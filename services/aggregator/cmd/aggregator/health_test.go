package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"toptraffic/services/aggregator/internal/metrics"
)

// fakeMember owns the partitions it is given once it has joined generation gen.
type fakeMember struct {
	parts  []int
	gen    int32
	joined bool
}

func (f fakeMember) Assigned() []int {
	if f.parts == nil {
		return nil
	}
	return append([]int(nil), f.parts...)
}

func (f fakeMember) Generation() (int32, bool) { return f.gen, f.joined }

func TestReadyz(t *testing.T) {
	tests := []struct {
		name           string
		topicsReady    bool
		member         member
		wantStatus     int
		wantBody       string
		wantPartitions []int
	}{
		{name: "waiting for topics", member: fakeMember{parts: []int{1}, gen: 1, joined: true},
			wantStatus: http.StatusServiceUnavailable, wantBody: "starting",
			wantPartitions: []int{}},
		{name: "topics set up, group not started", topicsReady: true,
			wantStatus: http.StatusServiceUnavailable, wantBody: "starting",
			wantPartitions: []int{}},
		{name: "still joining the group", topicsReady: true, member: fakeMember{},
			wantStatus: http.StatusServiceUnavailable, wantBody: "starting",
			wantPartitions: []int{}},
		{name: "owning partitions", topicsReady: true,
			member:     fakeMember{parts: []int{7, 0, 3}, gen: 4, joined: true},
			wantStatus: http.StatusOK, wantBody: "ready", wantPartitions: []int{0, 3, 7}},
		{name: "standby with no partition is ready", topicsReady: true,
			member:     fakeMember{gen: 4, joined: true},
			wantStatus: http.StatusOK, wantBody: "ready", wantPartitions: []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &readiness{}
			if tt.topicsReady {
				r.topicsSetUp()
			}
			if tt.member != nil {
				r.memberStarted(tt.member)
			}
			h := healthHandler(r, metrics.New().Handler())

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			var body struct {
				Status     string `json:"status"`
				Reason     string `json:"reason"`
				Partitions []int  `json:"partitions"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.Status != tt.wantBody {
				t.Errorf("status field = %q, want %q", body.Status, tt.wantBody)
			}
			if (body.Reason != "") != (tt.wantStatus != http.StatusOK) {
				t.Errorf("reason = %q with status %d", body.Reason, rec.Code)
			}
			if body.Partitions == nil || len(body.Partitions) != len(tt.wantPartitions) {
				t.Fatalf("partitions = %v (raw %s), want %v", body.Partitions, rec.Body,
					tt.wantPartitions)
			}
			for i := range body.Partitions {
				if body.Partitions[i] != tt.wantPartitions[i] {
					t.Errorf("partitions = %v, want %v", body.Partitions, tt.wantPartitions)
					break
				}
			}
		})
	}
}

func TestHealthzAndMetricsRoutes(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
	}{
		{name: "alive before anything is set up", method: http.MethodGet, path: "/healthz",
			wantStatus: http.StatusOK},
		{name: "metrics", method: http.MethodGet, path: "/metrics", wantStatus: http.StatusOK},
		{name: "post on metrics", method: http.MethodPost, path: "/metrics",
			wantStatus: http.StatusMethodNotAllowed},
		{name: "unknown", method: http.MethodGet, path: "/nope", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := healthHandler(&readiness{}, metrics.New().Handler())

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))

			if rec.Code != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
			}
		})
	}
}
