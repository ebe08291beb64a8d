// Package breakertest checks a dependency's circuit breaker the same way for every client
// that has one (SMTP, S3, Temporal, ...): while a fault lasts, calls fail within a bound until
// the breaker opens; while it is open, calls are refused at once without reaching the
// dependency; once the fault is removed, a call succeeds again within a deadline and the
// breaker is closed.
package breakertest

import (
	"errors"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
)

// Call is one call to the dependency through the guarded client.
type Call func() error

// timed runs call and says how long it took.
func timed(call Call) (time.Duration, error) {
	start := time.Now()
	err := call()
	return time.Since(start), err
}

// Opens calls the dependency during a fault: every call fails within failWithin, and the
// breaker is open after at most five of them. Then five more calls are refused with
// breaker.ErrOpen, each within refuseWithin (it did not wait on the dependency). what names
// the call in failures ("send", "start").
func Opens(t testing.TB, b *breaker.Breaker, what string, call Call, failWithin, refuseWithin time.Duration) {
	t.Helper()
	for i := 0; b.State() != breaker.Open; i++ {
		if i == 5 {
			t.Fatalf("the breaker is %s after %d failed calls to %s", b.State(), i, what)
		}
		took, err := timed(call)
		if err == nil {
			t.Fatalf("%s %d during the fault succeeded", what, i)
		}
		if took > failWithin {
			t.Fatalf("%s %d during the fault took %s, want within %s", what, i, took, failWithin)
		}
	}
	for i := range 5 {
		took, err := timed(call)
		if !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("%s %d with the breaker open: %v, want a refusal", what, i, err)
		}
		if took > refuseWithin {
			t.Fatalf("%s %d with the breaker open took %s: it waited on the dependency", what, i, took)
		}
	}
}

// Recovers calls the dependency after its fault was removed, every 50 ms, until a call
// succeeds (failing the test if none does within the deadline), checks the breaker is closed
// and returns how long recovery took.
func Recovers(t testing.TB, b *breaker.Breaker, what string, call Call, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	deadline := began.Add(within)
	for {
		err := call()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s succeeded within %s after the fault: %v (breaker %s)", what, within, err, b.State())
		}
		time.Sleep(50 * time.Millisecond) // the retry interval of a caller polling a recovering dependency
	}
	if s := b.State(); s != breaker.Closed {
		t.Fatalf("breaker %s after a successful %s, want closed", s, what)
	}
	return time.Since(began)
}
