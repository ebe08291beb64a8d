package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/tutors"
)

// With Temporal's breaker open, the relay spends no wait on a start and charges the event no
// attempt: the event stays pending and due, and goes out at the first dispatch after
// Temporal is back, not after a backoff grown through the outage.
func TestOpenBreakerKeepsEventsDueWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	first := insertEvent(t, s.pool, tutors.EventCreated, nil)
	behind := insertEvent(t, s.pool, tutors.EventUpdated, nil)
	b := breaker.New("temporal", breaker.Options{Failures: 1, OpenFor: time.Hour})
	// The relay's client reaches Temporal through a proxy of this test, which then stops.
	fault := testenv.NewFault(t, testenv.TemporalAddress())
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	down, err := temporalclient.Dial(dctx, config.Temporal{Address: fault.Addr, Namespace: testenv.TemporalNamespace()},
		temporalclient.Options{Breaker: b, CallTimeout: 300 * time.Millisecond})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	fault.Stop()
	broken, err := outbox.New(s.pool, down, outbox.Options{QueuePrefix: s.prefix, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first start fails within the call timeout and opens the breaker.
	start := time.Now()
	if n, err := broken.DispatchBatch(ctx); err != nil || n != 1 {
		t.Fatalf("DispatchBatch with Temporal down = %d, %v; want it to stop after the first failed start", n, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a start with Temporal down took %s, beyond the call timeout", took)
	}
	if b.State() != breaker.Open {
		t.Fatalf("breaker %s after a failed start, want open", b.State())
	}
	if got := readRow(t, s.pool, first.id); got.attempts != 1 || got.due {
		t.Fatalf("the failed event: %+v; want one attempt, due later", got)
	}
	// The event behind it meets the open breaker: refused at once, left as it was.
	start = time.Now()
	if n, err := broken.DispatchBatch(ctx); err != nil || n != 1 {
		t.Fatalf("DispatchBatch with the breaker open = %d, %v; want it to stop at the refused start", n, err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("a dispatch with the breaker open took %s: it waited on Temporal", took)
	}
	if got := readRow(t, s.pool, behind.id); got.dispatched || got.attempts != 0 || !got.due || got.lastError != "" {
		t.Fatalf("the refused event: %+v; want pending, no attempt charged, still due", got)
	}
	if st := broken.Stats(); st.Deferred != 2 || st.Started != 0 {
		t.Errorf("stats %+v; want two deferred starts, none started", st)
	}
	if _, err := down.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "x"}, "X"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a start through the open breaker: %v, want a refusal", err)
	}

	// Temporal back (a relay whose client reaches it): the refused event goes out at once.
	healthy := s.relay(t, outbox.Options{})
	if _, err := healthy.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readRow(t, s.pool, behind.id); !got.dispatched {
		t.Fatalf("the refused event after recovery: %+v; want dispatched at the first dispatch", got)
	}
}
