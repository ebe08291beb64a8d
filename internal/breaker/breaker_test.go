package breaker_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type change struct{ from, to breaker.State }

func newBreaker(t *testing.T) (*breaker.Breaker, *clock, *[]change) {
	t.Helper()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	var changes []change
	b := breaker.New("dep", breaker.Options{
		Failures: 3, OpenFor: time.Second, MaxOpenFor: 4 * time.Second, Now: c.Now,
		OnChange: func(_ string, from, to breaker.State) { changes = append(changes, change{from, to}) },
	})
	return b, c, &changes
}

func fail(t *testing.T, b *breaker.Breaker, n int) {
	t.Helper()
	for range n {
		if err := b.Allow(); err != nil {
			t.Fatalf("Allow: %v", err)
		}
		b.Done(true)
	}
}

func TestOpensAfterConsecutiveFailuresOnly(t *testing.T) {
	b, _, _ := newBreaker(t)
	fail(t, b, 2)
	if err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	b.Done(false) // a success resets the count
	fail(t, b, 2)
	if b.State() != breaker.Closed {
		t.Fatalf("state %s after non-consecutive failures, want closed", b.State())
	}
	fail(t, b, 1)
	if b.State() != breaker.Open {
		t.Fatalf("state %s after 3 consecutive failures, want open", b.State())
	}
	err := b.Allow()
	var oe *breaker.OpenError
	if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &oe) || oe.RetryAfter <= 0 || oe.RetryAfter > time.Second {
		t.Fatalf("Allow while open = %v, want an OpenError with a retry within the window", err)
	}
}

func TestHalfOpenLetsOneProbeThroughAndClosesOnSuccess(t *testing.T) {
	b, c, changes := newBreaker(t)
	fail(t, b, 3)
	c.Advance(time.Second)
	if b.State() != breaker.HalfOpen {
		t.Fatalf("state %s after the window, want half-open", b.State())
	}
	if err := b.Allow(); err != nil {
		t.Fatalf("probe refused: %v", err)
	}
	if err := b.Allow(); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("second call during the probe = %v, want refused", err)
	}
	b.Done(false)
	if b.State() != breaker.Closed {
		t.Fatalf("state %s after a good probe, want closed", b.State())
	}
	want := []change{{breaker.Closed, breaker.Open}, {breaker.Open, breaker.HalfOpen}, {breaker.HalfOpen, breaker.Closed}}
	if len(*changes) != len(want) {
		t.Fatalf("changes %v, want %v (each once)", *changes, want)
	}
	for i := range want {
		if (*changes)[i] != want[i] {
			t.Fatalf("changes %v, want %v", *changes, want)
		}
	}
}

func TestFailedProbeDoublesTheWindowUpToTheCap(t *testing.T) {
	b, c, _ := newBreaker(t)
	fail(t, b, 3)
	for _, window := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		c.Advance(time.Hour)
		fail(t, b, 1) // the probe fails
		var oe *breaker.OpenError
		if err := b.Allow(); !errors.As(err, &oe) || oe.RetryAfter != window {
			t.Fatalf("after a failed probe: %v, want open for %s", err, window)
		}
	}
}

func TestOutcomeOfACallStartedBeforeOpeningChangesNothing(t *testing.T) {
	b, _, _ := newBreaker(t)
	if err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	fail(t, b, 3)
	b.Done(false) // the early call finishes well while the breaker is open
	if b.State() != breaker.Open {
		t.Fatalf("state %s, want still open", b.State())
	}
}

func TestDoClassifiesErrors(t *testing.T) {
	b, _, _ := newBreaker(t)
	answer := errors.New("not found")
	for range 5 {
		_ = b.Do(func() error { return answer }, func(err error) bool { return err != answer })
	}
	if b.State() != breaker.Closed {
		t.Fatalf("answers opened the breaker")
	}
}
