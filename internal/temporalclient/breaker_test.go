package temporalclient_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/breaker/breakertest"
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
			start := func() error {
				// No worker serves the queue: the run only has to be recorded, and times out.
				_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: "breaker-" + testenv.RandomID(), TaskQueue: queue, WorkflowExecutionTimeout: 10 * time.Second,
				}, "NoSuchWorkflow")
				return err
			}
			if err := start(); err != nil {
				t.Fatalf("start before the fault: %v", err)
			}

			tc.inject(fault)
			breakertest.Opens(t, b, "start", start, callTimeout+500*time.Millisecond, 50*time.Millisecond)
			fault.Clear()
			fault.Start()
			took := breakertest.Recovers(t, b, "start", start, 15*time.Second)
			t.Logf("starts succeed again %s after the fault ended", took.Round(time.Millisecond))
		})
	}
}
