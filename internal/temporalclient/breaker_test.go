package temporalclient_test

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
)

// The Temporal frontend stopped, or answering later than the call timeout, behind a private
// Toxiproxy: workflow starts fail within the call timeout, the breaker opens, starts then
// fail at once (what lets the outbox relay keep its events without waiting), and once the
// fault ends a start closes the breaker again, on the same client.
func TestBreakerGuardsWorkflowStarts(t *testing.T) {
	_, queue := testenv.Temporal(t) // skips (or fails under CI) without the dev server
	const callTimeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
		{"slower than the call timeout", func(f *testenv.Fault) { f.Latency(3 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fault := testenv.NewFault(t, testenv.TemporalAddress())
			b := breaker.New("temporal", breaker.Options{Failures: 3, OpenFor: time.Second, MaxOpenFor: time.Second})
			ctx := context.Background()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := temporalclient.Dial(dctx, config.Temporal{Address: fault.Addr, Namespace: testenv.TemporalNamespace()},
				temporalclient.Options{Breaker: b, CallTimeout: callTimeout})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := func() (time.Duration, error) {
				began := time.Now()
				// No worker serves the queue: the run only has to be recorded, and times out.
				_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: "breaker-" + testenv.RandomID(), TaskQueue: queue, WorkflowExecutionTimeout: 10 * time.Second,
				}, "NoSuchWorkflow")
				return time.Since(began), err
			}
			if _, err := start(); err != nil {
				t.Fatalf("start before the fault: %v", err)
			}

			tc.inject(fault)
			for i := 0; b.State() != breaker.Open; i++ {
				if i == 5 {
					t.Fatalf("the breaker is %s after %d failed starts", b.State(), i)
				}
				took, err := start()
				if err == nil {
					t.Fatalf("start %d during the fault succeeded", i)
				}
				if took > callTimeout+500*time.Millisecond {
					t.Fatalf("start %d during the fault took %s, want within the call timeout %s", i, took, callTimeout)
				}
			}
			for i := range 5 {
				took, err := start()
				if !errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("start %d with the breaker open: %v, want a refusal", i, err)
				}
				if took > 50*time.Millisecond {
					t.Fatalf("start %d with the breaker open took %s: it waited on Temporal", i, took)
				}
			}

			fault.Clear()
			fault.Start()
			recovered := time.Now()
			deadline := recovered.Add(15 * time.Second)
			for {
				_, err := start()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no start succeeded within 15s after the fault: %v (breaker %s)", err, b.State())
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("starts succeed again %s after the fault ended", time.Since(recovered).Round(time.Millisecond))
			if s := b.State(); s != breaker.Closed {
				t.Fatalf("breaker %s after a successful start, want closed", s)
			}
		})
	}
}
