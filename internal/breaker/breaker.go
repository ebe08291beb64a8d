// Package breaker is a circuit breaker per outside dependency (Redis, Kratos, PostgreSQL,
// S3, Temporal, SMTP, the search engine).
//
// Guarantees:
//   - Closed: every call goes through. Failures consecutive Failures times open the breaker.
//   - Open: no call goes through; Allow answers an *OpenError at once (errors.Is ErrOpen)
//     carrying how long until the next probe, so callers take their degraded path without
//     paying a connection attempt or a timeout.
//   - After the open window, the breaker is half-open: up to Probes calls go through at once
//     and the rest are refused as while open. A probe that succeeds closes the breaker; one
//     that fails opens it again for twice the previous window, up to MaxOpenFor.
//   - Each state change calls OnChange once (the wiring logs it and counts it), and State
//     is readable at any time (exported as a metric).
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// State is a breaker's state.
type State int

// The states; the numbers are the metric's values.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// ErrOpen is what every refusal of an open (or saturated half-open) breaker matches.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is a refusal: the dependency is considered down for RetryAfter more.
type OpenError struct {
	Name       string
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("%s: circuit breaker open (next probe in %s)", e.Name, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// Options tune a Breaker. Zero values take the defaults shown.
type Options struct {
	// Failures is how many consecutive failures open the breaker (default 5).
	Failures int
	// OpenFor is the first open window (default 1s); it doubles after each failed probe.
	OpenFor time.Duration
	// MaxOpenFor caps the open window (default 30s).
	MaxOpenFor time.Duration
	// Probes is how many calls a half-open breaker lets through at once (default 1).
	Probes int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnChange is called once per state change, outside the breaker's lock.
	OnChange func(name string, from, to State)
}

// Breaker is one dependency's circuit breaker. It is safe for concurrent use.
type Breaker struct {
	name string
	opts Options

	mu       sync.Mutex
	state    State
	failures int           // consecutive, while closed
	window   time.Duration // the current (or last) open window
	until    time.Time     // end of the open window
	probes   int           // in flight, while half-open
	probeAt  time.Time     // when the last probe started
}

// New returns a closed breaker for the dependency called name.
func New(name string, opts Options) *Breaker {
	if opts.Failures <= 0 {
		opts.Failures = 5
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = time.Second
	}
	if opts.MaxOpenFor < opts.OpenFor {
		opts.MaxOpenFor = max(30*time.Second, opts.OpenFor)
	}
	if opts.Probes <= 0 {
		opts.Probes = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Breaker{name: name, opts: opts}
}

// Name is the dependency's name.
func (b *Breaker) Name() string { return b.name }

// State is the breaker's state now (an open breaker whose window has passed reads half-open).
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.opts.Now().Before(b.until) {
		return HalfOpen
	}
	return b.state
}

// Allow asks to make one call. When it returns nil the caller must report the call's
// outcome with Done exactly once; otherwise the error is an *OpenError.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	now := b.opts.Now()
	var change func()
	switch b.state {
	case Open:
		if now.Before(b.until) {
			retry := b.until.Sub(now)
			b.mu.Unlock()
			return &OpenError{Name: b.name, RetryAfter: retry}
		}
		change = b.setLocked(HalfOpen)
		b.probes = 0
		fallthrough
	case HalfOpen:
		// A probe whose outcome never came (lost, or a caller that never reported) must not
		// keep the breaker half-open for ever: after an open window another may go.
		if b.probes >= b.opts.Probes && now.Sub(b.probeAt) >= b.opts.OpenFor {
			b.probes = 0
		}
		if b.probes >= b.opts.Probes {
			b.mu.Unlock()
			b.notify(change)
			return &OpenError{Name: b.name, RetryAfter: b.opts.OpenFor}
		}
		b.probes++
		b.probeAt = now
	}
	b.mu.Unlock()
	b.notify(change)
	return nil
}

// Done reports the outcome of a call Allow let through: failed means the dependency failed
// or timed out (not that it answered with a domain error such as "not found").
func (b *Breaker) Done(failed bool) {
	b.mu.Lock()
	var change func()
	switch b.state {
	case Closed:
		if !failed {
			b.failures = 0
			break
		}
		b.failures++
		if b.failures >= b.opts.Failures {
			b.window = b.opts.OpenFor
			b.until = b.opts.Now().Add(b.window)
			change = b.setLocked(Open)
		}
	case HalfOpen:
		b.probes = max(0, b.probes-1)
		if failed {
			b.window = min(2*b.window, b.opts.MaxOpenFor)
			b.until = b.opts.Now().Add(b.window)
			change = b.setLocked(Open)
		} else {
			b.failures = 0
			b.probes = 0
			change = b.setLocked(Closed)
		}
	case Open:
		// A call let through before the breaker opened: its outcome changes nothing.
	}
	b.mu.Unlock()
	b.notify(change)
}

// Ignore ends a call Allow let through whose outcome says nothing about the dependency
// (the caller gave up first, or a call nested in it was refused): a half-open breaker lets
// another probe through instead.
func (b *Breaker) Ignore() {
	b.mu.Lock()
	if b.state == HalfOpen {
		b.probes = max(0, b.probes-1)
	}
	b.mu.Unlock()
}

// Do runs fn through the breaker; failed classifies fn's error (nil counts any error).
func (b *Breaker) Do(fn func() error, failed func(error) bool) error {
	if err := b.Allow(); err != nil {
		return err
	}
	err := fn()
	if failed == nil {
		b.Done(err != nil)
	} else {
		b.Done(err != nil && failed(err))
	}
	return err
}

func (b *Breaker) setLocked(to State) func() {
	from := b.state
	b.state = to
	if from == to || b.opts.OnChange == nil {
		return nil
	}
	return func() { b.opts.OnChange(b.name, from, to) }
}

func (b *Breaker) notify(change func()) {
	if change != nil {
		change()
	}
}
