package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// traceContext is the W3C Trace Context propagator: a stored traceparent reads the same
// whatever propagators a process installs globally.
var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent header value of ctx's span, so work done later (an
// outbox event's dispatch) can continue the trace; "" when ctx holds no valid span context.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c.Get("traceparent")
}

// ContextWithTraceParent returns ctx with the span that traceparent describes as its remote
// parent, so a span started from it joins that trace as the span's child. An empty or
// malformed traceparent leaves ctx as it is.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}
