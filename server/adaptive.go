package server

import (
	"sync"
	"time"
)

// adaptiveLimit adapts an in-flight limit to the latency the instance achieves, additive
// increase and multiplicative decrease over windows of completed requests:
//
//   - a window closes once it holds adaptiveWindowRequests requests and at least
//     adaptiveWindowMin has passed, or after adaptiveWindowMax with at least
//     adaptiveWindowFew requests (a quieter instance decides less often); a window that
//     stays under adaptiveWindowFew requests for adaptiveWindowIdle is dropped undecided;
//   - if more than 1 % of the window's requests took longer than the target (its p99 is
//     over it), the limit becomes three quarters of the most requests that were in flight
//     at once during the window (or of the limit, when lower): the concurrency that made
//     requests slow is cut at once, however high the limit had climbed;
//   - otherwise, if that peak reached nine tenths of the limit (the limit is what holds
//     requests back), the limit grows by a tenth (at least one);
//   - it never leaves [min, max], and starts at min, so an instance that has just started
//     earns its concurrency instead of being overrun before its first window closes.
//
// A latency signal needs a target above the slowest request the instance serves normally
// (a password sign-in that hashes, a search counting every facet); docs/resilience.md says
// how to choose it.
type adaptiveLimit struct {
	target   time.Duration
	min, max float64
	now      func() time.Time

	mu      sync.Mutex
	current float64
	start   time.Time
	n, slow int
	peak    int64
}

const (
	adaptiveWindowRequests = 100
	adaptiveWindowFew      = 20
	adaptiveWindowMin      = 100 * time.Millisecond
	adaptiveWindowMax      = time.Second
	adaptiveWindowIdle     = 10 * time.Second
)

func newAdaptiveLimit(target time.Duration, minLimit, maxLimit int, now func() time.Time) *adaptiveLimit {
	if minLimit <= 0 {
		minLimit = 8
	}
	minLimit = min(minLimit, maxLimit)
	return &adaptiveLimit{target: target, min: float64(minLimit), max: float64(maxLimit), now: now,
		current: float64(minLimit), start: now()}
}

// limit is the limit now, a whole number of requests.
func (a *adaptiveLimit) limit() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int64(a.current)
}

// observe records one admitted request that took took, admitted when inFlight requests
// (itself included) were in flight; when the request closes a window it returns the new
// limit and whether it changed.
func (a *adaptiveLimit) observe(took time.Duration, inFlight int64) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	if took > a.target {
		a.slow++
	}
	a.peak = max(a.peak, inFlight)
	elapsed := a.now().Sub(a.start)
	switch {
	case a.n >= adaptiveWindowRequests && elapsed >= adaptiveWindowMin,
		a.n >= adaptiveWindowFew && elapsed >= adaptiveWindowMax:
	case elapsed >= adaptiveWindowIdle:
		a.reset()
		return int64(a.current), false
	default:
		return int64(a.current), false
	}
	before := int64(a.current)
	switch {
	case a.slow*100 > a.n:
		a.current = max(a.min, min(a.current, float64(a.peak))*0.75)
	case float64(a.peak) >= 0.9*a.current:
		a.current = min(a.max, a.current+max(1, a.current/10))
	}
	a.reset()
	return int64(a.current), int64(a.current) != before
}

func (a *adaptiveLimit) reset() {
	a.start = a.now()
	a.n, a.slow, a.peak = 0, 0, 0
}
