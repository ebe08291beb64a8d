// Package telemetry sets up OpenTelemetry for a tutorhub process: every request gets a trace
// (exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, kept in-process
// otherwise so log lines still carry trace ids), and metrics are exposed for Prometheus.
//
// The standard OTEL_* environment variables configure the exporter and the service name
// (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry holds one process's tracer and meter providers.
type Telemetry struct {
	Tracer   trace.TracerProvider
	Meter    metric.MeterProvider
	registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// Setup creates the providers for the named service (OTEL_SERVICE_NAME overrides it) and
// installs them as the process-wide defaults, with W3C trace-context propagation.
func Setup(ctx context.Context, service, version string) (*Telemetry, error) {
	if v := os.Getenv("OTEL_SERVICE_NAME"); v != "" {
		service = v
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	t := &Telemetry{registry: prometheus.NewRegistry()}
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	} else {
		// Nothing would receive a recorded span: spans keep their ids (log lines still
		// carry trace_id and span_id) but record nothing, which spares every request the
		// span's attributes and bookkeeping.
		topts = append(topts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	t.Tracer = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)

	exporter, err := otelprom.New(otelprom.WithRegisterer(t.registry))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exporter))
	t.Meter = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return t, nil
}

// MetricsHandler serves the process's metrics in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// CountFunc exports read, a count that only grows (such as a degraded-mode counter), as
// the counter name: an OpenTelemetry instrument name like "tutorhub.cache.degraded", which
// /metrics shows as tutorhub_cache_degraded_total. read is called at each collection and
// must be safe for concurrent use.
func (t *Telemetry) CountFunc(name, description string, read func() int64) error {
	_, err := t.Meter.Meter("github.com/tutorhub/tutorhub").Int64ObservableCounter(name,
		metric.WithDescription(description), observe(read))
	if err != nil {
		return fmt.Errorf("counter %s: %w", name, err)
	}
	return nil
}

// GaugeFunc exports read, a value that goes up and down (such as a limit), as the gauge
// name. read is called at each collection and must be safe for concurrent use.
func (t *Telemetry) GaugeFunc(name, description string, read func() int64) error {
	_, err := t.Meter.Meter("github.com/tutorhub/tutorhub").Int64ObservableGauge(name,
		metric.WithDescription(description), observe(read))
	if err != nil {
		return fmt.Errorf("gauge %s: %w", name, err)
	}
	return nil
}

// observe is the callback option that reports read() at each collection.
func observe(read func() int64) metric.Int64ObservableOption {
	return metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(read())
		return nil
	})
}

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// LogAttrs returns the trace and span ids of ctx's span, for log lines.
func LogAttrs(ctx context.Context) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}
