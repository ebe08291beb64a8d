// Package temporalclient connects tutorhub to Temporal (the local dev server, a self-hosted
// cluster or Temporal Cloud) with the settings of config.Temporal: TLS with an optional client
// certificate and CA, or a Temporal Cloud API key. Every client logs through slog (workflow
// and activity lines carry the trace and span ids), traces workflow starts, workflows and
// activities with OpenTelemetry (continuing the caller's trace), and reports the SDK's metrics
// to an OpenTelemetry meter, which the process exports for Prometheus, with the failed
// workflow runs its workers see (WorkflowFailuresMetric). With Options.Breaker, its workflow
// starts and signals pass a circuit breaker and are bounded by Options.CallTimeout.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	temporallog "go.temporal.io/sdk/log"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/config"
)

// Options are the process's observability hooks; nil fields fall back to the OpenTelemetry
// globals (tracer) or to no metrics.
type Options struct {
	// Logger receives the SDK's log lines.
	Logger *slog.Logger
	// Tracer traces workflow starts, workflows and activities.
	Tracer trace.TracerProvider
	// Meter receives the SDK's metrics (temporal_request, temporal_workflow_task_..., ...).
	Meter metric.MeterProvider
	// Breaker, when set, guards the client's workflow starts and signals (not its workers'
	// polls): while it is open they fail at once (errors.Is breaker.ErrOpen), so the outbox
	// relay leaves its events for later instead of waiting on a server that is down.
	Breaker *breaker.Breaker
	// CallTimeout caps each guarded call (default DefaultCallTimeout); the caller's deadline
	// shortens it further.
	CallTimeout time.Duration
}

// ClientOptions builds the SDK's options from cfg and opts; it reads the TLS files, so a
// missing or malformed certificate is reported here rather than at the first call.
func ClientOptions(cfg config.Temporal, opts Options) (client.Options, error) {
	co := client.Options{HostPort: cfg.Address, Namespace: cfg.Namespace}
	if opts.Logger != nil {
		co.Logger = temporallog.NewStructuredLogger(opts.Logger)
	}
	tracerOpts := temporalotel.TracerOptions{}
	if opts.Tracer != nil {
		tracerOpts.Tracer = opts.Tracer.Tracer("go.temporal.io/sdk")
	}
	tracing, err := temporalotel.NewTracingInterceptor(tracerOpts)
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	co.Interceptors = []interceptor.ClientInterceptor{tracing, &failureCounter{}}
	if opts.Breaker != nil {
		timeout := opts.CallTimeout
		if timeout <= 0 {
			timeout = DefaultCallTimeout
		}
		// Innermost: the start's span records a refusal like any other failure.
		co.Interceptors = append(co.Interceptors, &guard{b: opts.Breaker, timeout: timeout})
	}
	if opts.Meter != nil {
		co.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter: opts.Meter.Meter("go.temporal.io/sdk"),
			// Counters that only grow, so Prometheus sees them as counters (..._total).
			UseMonotonicCounters: true,
		})
	}
	if cfg.TLS() {
		tlsConfig, err := tlsConfig(cfg)
		if err != nil {
			return client.Options{}, err
		}
		co.ConnectionOptions.TLS = tlsConfig
	}
	if cfg.APIKey != "" {
		co.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	return co, nil
}

// tlsConfig verifies the server with the CA file (or the system roots) under the address's
// host name, and presents the client certificate when one is configured.
func tlsConfig(cfg config.Temporal) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", cfg.Address, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal CA file %s holds no PEM certificate", cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Dial connects to Temporal and checks that the namespace answers, so a wrong address,
// namespace or credential fails at start with the server's reason.
func Dial(ctx context.Context, cfg config.Temporal, opts Options) (client.Client, error) {
	co, err := ClientOptions(cfg, opts)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, co)
	if err != nil {
		return nil, fmt.Errorf("temporal at %s: %w", cfg.Address, err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Namespace}); err != nil {
		c.Close()
		return nil, fmt.Errorf("temporal namespace %q at %s: %w", cfg.Namespace, cfg.Address, err)
	}
	return c, nil
}
