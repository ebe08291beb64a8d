package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/grpchealth"
)

// Check is one readiness dependency: nil when it is usable.
type Check struct {
	Name  string
	Check func(context.Context) error
}

// Health serves liveness (/health), readiness (/ready) and grpc.health.v1. Readiness fails
// while any check fails and from the moment the server starts draining.
type Health struct {
	checks   []Check
	services []string
	draining atomic.Bool
	grpc     *grpchealth.StaticChecker
	timeout  time.Duration
}

// NewHealth returns a Health over checks, reporting services over grpc.health.v1.
func NewHealth(checks []Check, services ...string) *Health {
	return &Health{checks: checks, services: services, grpc: grpchealth.NewStaticChecker(services...), timeout: 2 * time.Second}
}

// Drain marks the server not ready, so load balancers stop sending new traffic.
func (h *Health) Drain() {
	h.draining.Store(true)
	h.grpc.SetStatus("", grpchealth.StatusNotServing)
	for _, s := range h.services {
		h.grpc.SetStatus(s, grpchealth.StatusNotServing)
	}
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

type readiness struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks,omitempty"`
}

// Ready runs every check concurrently, each within the check timeout.
func (h *Health) Ready(ctx context.Context) (readiness, bool) {
	if h.draining.Load() {
		return readiness{Status: "draining"}, false
	}
	out := readiness{Status: "ok", Checks: make(map[string]checkResult, len(h.checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, c := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			err := c.Check(cctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				out.Checks[c.Name] = checkResult{Status: "fail", Error: err.Error()}
				return
			}
			out.Checks[c.Name] = checkResult{Status: "ok"}
		}()
	}
	wg.Wait()
	if !ok {
		out.Status = "unavailable"
	}
	return out, ok
}

func (h *Health) serveLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Health) serveReady(w http.ResponseWriter, r *http.Request) {
	res, ok := h.Ready(r.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
