package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
)

// member is the consumer-group member as /readyz sees it; group.Group is one.
type member interface {
	// Assigned returns the partitions of the current generation.
	Assigned() []int
	// Generation returns the generation id, and false until the member has joined one.
	Generation() (int32, bool)
}

// readiness is what /readyz reports. A worker is ready once its topics are set up and it has
// joined a generation of the consumer group. Owning no partition is a ready state too: with
// more workers than partitions the extra ones wait as standbys, and an orchestrator must not
// restart or hold back a rollout for that.
type readiness struct {
	topicsReady atomic.Bool
	member      atomic.Pointer[member]
}

// topicsSetUp records that both topics exist with a leader for every partition.
func (r *readiness) topicsSetUp() { r.topicsReady.Store(true) }

// memberStarted records that m takes part in the consumer group from now on.
func (r *readiness) memberStarted(m member) { r.member.Store(&m) }

// readyBody is the JSON of /readyz.
type readyBody struct {
	Status string `json:"status"`
	// Reason says what is missing while not ready.
	Reason string `json:"reason,omitempty"`
	// Partitions are the partitions this worker owns; empty for a standby.
	Partitions []int `json:"partitions"`
	// Generation is the consumer-group generation this worker is in.
	Generation int32 `json:"generation,omitempty"`
}

// healthHandler serves the probes and the metrics on the aggregator's one HTTP address.
func healthHandler(r *readiness, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		status, body := r.check()
		writeJSON(w, status, body)
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

func (r *readiness) check() (int, readyBody) {
	notReady := func(reason string) (int, readyBody) {
		return http.StatusServiceUnavailable,
			readyBody{Status: "starting", Reason: reason, Partitions: []int{}}
	}
	if !r.topicsReady.Load() {
		return notReady("topics not set up yet (is Kafka reachable?)")
	}
	m := r.member.Load()
	if m == nil {
		return notReady("not in the consumer group yet")
	}
	gen, joined := (*m).Generation()
	if !joined {
		return notReady("joining the consumer group")
	}
	parts := (*m).Assigned()
	if parts == nil {
		parts = []int{}
	}
	slices.Sort(parts)
	return http.StatusOK, readyBody{Status: "ready", Partitions: parts, Generation: gen}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A prober that hung up needs no answer.
	_ = json.NewEncoder(w).Encode(body)
}
