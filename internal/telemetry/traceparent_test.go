package telemetry_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tutorhub/tutorhub/internal/telemetry"
)

func TestTraceParentRoundTrips(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "write")
	defer span.End()
	stored := telemetry.TraceParent(ctx)
	if stored == "" {
		t.Fatal("no traceparent for a recording span")
	}
	_, child := tp.Tracer("test").Start(telemetry.ContextWithTraceParent(context.Background(), stored), "dispatch")
	defer child.End()
	got := child.(sdktrace.ReadOnlySpan)
	if got.SpanContext().TraceID() != span.SpanContext().TraceID() || got.Parent().SpanID() != span.SpanContext().SpanID() {
		t.Errorf("the span started from %q: trace %s parent %s; want the writer's trace and span", stored, got.SpanContext().TraceID(), got.Parent().SpanID())
	}
}

func TestNoOrBadTraceParentLeavesTheContextAlone(t *testing.T) {
	t.Parallel()
	if got := telemetry.TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent without a span = %q, want empty", got)
	}
	for _, tp := range []string{"", "00-zz-yy-01", "not a traceparent"} {
		ctx := telemetry.ContextWithTraceParent(context.Background(), tp)
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			t.Errorf("ContextWithTraceParent(%q) gave a parent %v", tp, sc)
		}
	}
}
