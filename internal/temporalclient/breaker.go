package temporalclient

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/tutorhub/tutorhub/internal/breaker"
)

// DefaultCallTimeout caps a guarded call (a workflow start or a signal) when Options leaves
// CallTimeout zero: the SDK retries an unreachable server until the call's deadline, so
// without a cap a call could wait as long as its caller allows.
const DefaultCallTimeout = 10 * time.Second

// guard is a client interceptor that puts a circuit breaker in front of the calls a process
// makes to Temporal on its own behalf (workflow starts and signals; never a worker's polls):
// a server that is unreachable or does not answer in time opens it, and while it is open
// those calls fail at once (errors.Is breaker.ErrOpen). Each call is bounded by its
// context's deadline capped at timeout. A lazily connected client's first contact with the
// server happens before the interceptors and is not guarded: Dial connects eagerly.
type guard struct {
	interceptor.ClientInterceptorBase
	b       *breaker.Breaker
	timeout time.Duration
}

func (g *guard) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &guardOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, g: g}
}

type guardOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	g *guard
}

func (o *guardOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	var run client.WorkflowRun
	err := o.g.do(ctx, func(ctx context.Context) (err error) {
		run, err = o.Next.ExecuteWorkflow(ctx, in)
		return err
	})
	return run, err
}

func (o *guardOutbound) SignalWorkflow(ctx context.Context, in *interceptor.ClientSignalWorkflowInput) error {
	return o.g.do(ctx, func(ctx context.Context) error { return o.Next.SignalWorkflow(ctx, in) })
}

func (o *guardOutbound) SignalWithStartWorkflow(ctx context.Context, in *interceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	var run client.WorkflowRun
	err := o.g.do(ctx, func(ctx context.Context) (err error) {
		run, err = o.Next.SignalWithStartWorkflow(ctx, in)
		return err
	})
	return run, err
}

func (g *guard) do(ctx context.Context, call func(context.Context) error) error {
	if err := g.b.Allow(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	err := call(cctx)
	cancel()
	switch {
	case err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The caller gave up: that says nothing about Temporal.
		g.b.Ignore()
	default:
		g.b.Done(ServerFailed(err))
	}
	return err
}

// ServerFailed reports whether err, from a call to the Temporal frontend, says the server is
// unwell: unreachable (Unavailable) or not answering in time. An answer (already started,
// not found, invalid, rate limited) is the server working.
func ServerFailed(err error) bool {
	if err == nil {
		return false
	}
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded)
}
