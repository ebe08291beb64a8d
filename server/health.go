package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/grpchealth"
	"golang.org/x/sync/singleflight"
)

// Check is one readiness dependency: nil when it is usable.
type Check struct {
	Name  string
	Check func(context.Context) error
	// Every, when positive, makes this a background check: it runs when Start is called and
	// then every Every, never because of a request, and readiness reports its latest result
	// (failing until its first run). Checks with a zero Every run on demand, at most once per
	// cache period for all /ready requests together.
	Every time.Duration
}

// Readiness is what /ready answers: a status and, when not ready, the names of the failing
// dependencies. It never carries error text or addresses; those go to the log.
type Readiness struct {
	// Status is "ok", "unavailable" or "draining".
	Status string `json:"status"`
	// Failing names the dependencies that failed their last check, sorted.
	Failing []string `json:"failing,omitempty"`
}

// readinessCacheTTL is how long the result of the on-demand checks answers every /ready.
const readinessCacheTTL = time.Second

// Health serves liveness (/health), readiness (/ready) and grpc.health.v1. Readiness fails
// while any check fails and from the moment the server starts draining.
//
// /ready costs its callers no database work of their own: the on-demand checks (pings) run
// at most once per second, one evaluation at a time whoever asks, and background checks
// (the migration state) are refreshed on their own schedule. A flood of /ready therefore
// adds at most one ping per dependency per second, and cannot slow another replica.
type Health struct {
	onDemand   []Check
	background []Check
	bgState    []atomic.Pointer[checkState] // per background check; nil until its first run
	services   []string
	draining   atomic.Bool
	grpc       *grpchealth.StaticChecker
	timeout    time.Duration
	ttl        time.Duration
	log        atomic.Pointer[slog.Logger]

	cached atomic.Pointer[verdict] // the last on-demand evaluation
	flight singleflight.Group
	start  sync.Once
}

// checkState is a background check's last result.
type checkState struct{ err error }

// verdict is one evaluation of the on-demand checks.
type verdict struct {
	at      time.Time
	failing []string
}

// NewHealth returns a Health over checks, reporting services over grpc.health.v1.
func NewHealth(checks []Check, services ...string) *Health {
	h := &Health{services: services, grpc: grpchealth.NewStaticChecker(services...), timeout: 2 * time.Second, ttl: readinessCacheTTL}
	for _, c := range checks {
		if c.Every > 0 {
			h.background = append(h.background, c)
		} else {
			h.onDemand = append(h.onDemand, c)
		}
	}
	h.bgState = make([]atomic.Pointer[checkState], len(h.background))
	return h
}

// setLogger makes h log dependency failures and recoveries (with their error text) to log.
func (h *Health) setLogger(log *slog.Logger) {
	if log != nil {
		h.log.CompareAndSwap(nil, log)
	}
}

// Start runs every background check once, then keeps refreshing each at its interval
// until ctx ends. Calls after the first do nothing.
func (h *Health) Start(ctx context.Context) {
	h.start.Do(func() {
		var wg sync.WaitGroup
		for i := range h.background {
			wg.Go(func() { h.runBackground(ctx, i) })
		}
		wg.Wait()
		for i, c := range h.background {
			go func() {
				t := time.NewTicker(c.Every)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						h.runBackground(ctx, i)
					}
				}
			}()
		}
	})
}

func (h *Health) runBackground(ctx context.Context, i int) {
	c := h.background[i]
	cctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	err := c.Check(cctx)
	if ctx.Err() != nil {
		return // stopping: the result says nothing about the dependency
	}
	prev := h.bgState[i].Swap(&checkState{err: err})
	h.logTransition(c.Name, prev == nil || prev.err == nil, err)
}

// logTransition logs a check that starts failing (with its error) or recovers.
func (h *Health) logTransition(name string, wasOK bool, err error) {
	log := h.log.Load()
	if log == nil {
		return
	}
	switch {
	case err != nil && wasOK:
		log.Warn("readiness check failing", "check", name, "error", err.Error())
	case err == nil && !wasOK:
		log.Info("readiness check recovered", "check", name)
	}
}

// Drain marks the server not ready, so load balancers stop sending new traffic.
func (h *Health) Drain() {
	h.draining.Store(true)
	h.grpc.SetStatus("", grpchealth.StatusNotServing)
	for _, s := range h.services {
		h.grpc.SetStatus(s, grpchealth.StatusNotServing)
	}
}

// Ready reports readiness from the cached on-demand evaluation (refreshing it when older
// than the cache period, one refresh at a time) and the latest background results.
func (h *Health) Ready(ctx context.Context) (Readiness, bool) {
	if h.draining.Load() {
		return Readiness{Status: "draining"}, false
	}
	failing := slices.Clone(h.evaluate(ctx).failing)
	for i, c := range h.background {
		if st := h.bgState[i].Load(); st == nil || st.err != nil {
			failing = append(failing, c.Name)
		}
	}
	if len(failing) > 0 {
		slices.Sort(failing)
		return Readiness{Status: "unavailable", Failing: failing}, false
	}
	return Readiness{Status: "ok"}, true
}

// evaluate returns a verdict on the on-demand checks no older than the cache period, running
// them only when the cached one has expired and no other caller is already running them.
func (h *Health) evaluate(ctx context.Context) *verdict {
	if v := h.cached.Load(); v != nil && time.Since(v.at) < h.ttl {
		return v
	}
	ch := h.flight.DoChan("ready", func() (any, error) {
		if v := h.cached.Load(); v != nil && time.Since(v.at) < h.ttl {
			return v, nil // refreshed while this caller was queueing
		}
		v := h.runOnDemand()
		h.cached.Store(v)
		return v, nil
	})
	select {
	case r := <-ch:
		return r.Val.(*verdict)
	case <-ctx.Done():
		// The caller gave up; the evaluation goes on for the next one.
		if v := h.cached.Load(); v != nil {
			return v
		}
		return &verdict{failing: h.onDemandNames()}
	}
}

// runOnDemand runs every on-demand check concurrently, each within the check timeout and
// detached from any one request, so a caller that hangs up does not fail the shared result.
func (h *Health) runOnDemand() *verdict {
	prev := h.cached.Load()
	errs := make([]error, len(h.onDemand))
	var wg sync.WaitGroup
	for i, c := range h.onDemand {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
			defer cancel()
			errs[i] = c.Check(ctx)
		})
	}
	wg.Wait()
	v := &verdict{at: time.Now()}
	for i, c := range h.onDemand {
		if errs[i] != nil {
			v.failing = append(v.failing, c.Name)
		}
		h.logTransition(c.Name, prev == nil || !slices.Contains(prev.failing, c.Name), errs[i])
	}
	return v
}

func (h *Health) onDemandNames() []string {
	names := make([]string, 0, len(h.onDemand))
	for _, c := range h.onDemand {
		names = append(names, c.Name)
	}
	return names
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
