package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }
func (a *adaptiveLimit) current64() int64    { return a.limit() }
func window(a *adaptiveLimit, c *fakeClock, n, slow int, inFlight int64) (int64, bool) {
	var l int64
	var changed bool
	c.advance(adaptiveWindowMin)
	for i := range n {
		took := time.Millisecond
		if i < slow {
			took = time.Second
		}
		l, changed = a.observe(took, inFlight)
	}
	return l, changed
}

func TestAdaptiveLimitStartsAtItsFloorAndGrowsWhileFastAndHoldingRequestsBack(t *testing.T) {
	c := newFakeClock()
	a := newAdaptiveLimit(100*time.Millisecond, 8, 64, c.now)
	if got := a.current64(); got != 8 {
		t.Fatalf("starting limit = %d, want the floor 8", got)
	}
	// Fast requests, as many in flight as the limit allows: it grows by a tenth, at least 1.
	l, changed := window(a, c, adaptiveWindowRequests, 0, 8)
	if l != 9 || !changed {
		t.Fatalf("after a fast window at the limit: %d (changed %v), want 9", l, changed)
	}
	for range 40 {
		l, _ = window(a, c, adaptiveWindowRequests, 0, l)
	}
	if l != 64 {
		t.Fatalf("after many fast windows at the limit: %d, want the ceiling 64", l)
	}
}

func TestAdaptiveLimitStaysWhileItHoldsNothingBack(t *testing.T) {
	c := newFakeClock()
	a := newAdaptiveLimit(100*time.Millisecond, 8, 64, c.now)
	// Fast, but never more than 3 in flight: the limit is not what bounds the instance.
	for range 10 {
		if l, changed := window(a, c, adaptiveWindowRequests, 0, 3); l != 8 || changed {
			t.Fatalf("limit %d (changed %v), want 8 unchanged", l, changed)
		}
	}
}

func TestAdaptiveLimitCutsBelowTheConcurrencyThatWasSlow(t *testing.T) {
	c := newFakeClock()
	a := newAdaptiveLimit(100*time.Millisecond, 4, 512, c.now)
	a.current = 512 // as after a long quiet climb
	// 2 of 100 over the target (p99 over it), with at most 40 in flight: three quarters of 40.
	l, changed := window(a, c, adaptiveWindowRequests, 2, 40)
	if l != 30 || !changed {
		t.Fatalf("after a slow window: %d (changed %v), want 30", l, changed)
	}
	// Exactly 1 % over the target is a p99 within it: no cut (and no growth: 30 < 0.9 * 30 is false).
	l, _ = window(a, c, adaptiveWindowRequests, 1, 10)
	if l != 30 {
		t.Fatalf("after a window with 1 %% slow: %d, want 30", l)
	}
	// Slow again and again: never below the floor.
	for range 30 {
		l, _ = window(a, c, adaptiveWindowRequests, 50, l)
	}
	if l != 4 {
		t.Fatalf("after many slow windows: %d, want the floor 4", l)
	}
}

func TestAdaptiveLimitDecidesOnEnoughRequests(t *testing.T) {
	c := newFakeClock()
	a := newAdaptiveLimit(100*time.Millisecond, 8, 64, c.now)
	// 100 requests within less than the shortest window: no decision yet.
	for range adaptiveWindowRequests {
		if _, changed := a.observe(time.Millisecond, 8); changed {
			t.Fatal("decided before the shortest window passed")
		}
	}
	// A quiet instance: a few requests a second decide once a second passes with 20 of them.
	a = newAdaptiveLimit(100*time.Millisecond, 8, 64, c.now)
	for range adaptiveWindowFew - 1 {
		c.advance(50 * time.Millisecond)
		if _, changed := a.observe(time.Millisecond, 8); changed {
			t.Fatal("decided on fewer requests than a window needs")
		}
	}
	c.advance(time.Second)
	if l, changed := a.observe(time.Millisecond, 8); l != 9 || !changed {
		t.Fatalf("after a quiet second's window: %d (changed %v), want 9", l, changed)
	}
	// Too few requests for too long: the window is dropped, one slow request does not count later.
	a = newAdaptiveLimit(100*time.Millisecond, 8, 64, c.now)
	a.observe(time.Second, 8)
	c.advance(adaptiveWindowIdle)
	a.observe(time.Millisecond, 1)
	if l, _ := window(a, c, adaptiveWindowRequests, 1, 8); l != 9 {
		t.Fatalf("limit %d, want 9: the slow request of the dropped window counted", l)
	}
}

func TestShedderAdmitsUpToTheAdaptiveLimitAndRefusesTheRestAtOnce(t *testing.T) {
	s := newShedder(Resilience{MaxInFlight: 64, MinInFlight: 2, LatencyTarget: time.Minute})
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			return
		}
		entered <- struct{}{}
		<-release
	}))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/subjects", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("admitted request answered %d", rec.Code)
			}
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/subjects", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third request at a limit of 2: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Probes are never refused, however full the instance is.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code == http.StatusServiceUnavailable {
		t.Fatal("/ready was shed")
	}
	close(release)
	wg.Wait()
	if s.InFlight() != 0 || s.Refused() != 1 {
		t.Fatalf("in flight %d, refused %d; want 0 and 1", s.InFlight(), s.Refused())
	}
}
