package outbox

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tutorhub/tutorhub/queries"
)

// relayMetrics exports a relay's counts, the outbox backlog and the relay's lag. Prometheus
// shows them as tutorhub_outbox_dispatched_total, tutorhub_outbox_already_dispatched_total,
// tutorhub_outbox_deferred_total, tutorhub_outbox_parked_total, tutorhub_outbox_backlog,
// tutorhub_outbox_parked_events, tutorhub_outbox_oldest_age_seconds and the histogram
// tutorhub_outbox_relay_lag_seconds.
type relayMetrics struct {
	registration metric.Registration
	lag          metric.Float64Histogram
}

// lagBuckets bound the relay lag histogram's buckets, in seconds: from a NOTIFY-driven
// dispatch (milliseconds) through poll intervals and backoffs to an outage's backlog.
var lagBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}

// dispatched records the lag of an event marked dispatched: the time from its creation (the
// writing transaction's start, by the database's clock) to now, by this process's clock.
func (m *relayMetrics) dispatched(ctx context.Context, eventType string, created time.Time) {
	if m == nil {
		return
	}
	m.lag.Record(ctx, max(0, time.Since(created).Seconds()), metric.WithAttributes(attribute.String("event_type", eventType)))
}

func newRelayMetrics(m metric.Meter, r *Relay) (*relayMetrics, error) {
	var errs []error
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	dispatched := counter("tutorhub.outbox.dispatched", "Outbox events whose workflow this relay started.")
	already := counter("tutorhub.outbox.already_dispatched", "Outbox events whose workflow had already been started (a repeated dispatch, answered by Temporal).")
	deferred := counter("tutorhub.outbox.deferred", "Failed workflow starts, each retried later with backoff.")
	parked := counter("tutorhub.outbox.parked", "Outbox events this relay parked as undispatchable.")
	backlog, err := m.Int64ObservableGauge("tutorhub.outbox.backlog", metric.WithDescription("Outbox events waiting for dispatch (parked events excluded)."))
	errs = append(errs, err)
	parkedNow, err := m.Int64ObservableGauge("tutorhub.outbox.parked_events", metric.WithDescription("Outbox events parked and waiting for an operator."))
	errs = append(errs, err)
	oldest, err := m.Float64ObservableGauge("tutorhub.outbox.oldest_age", metric.WithUnit("s"), metric.WithDescription("Age of the oldest outbox event waiting for dispatch; 0 when none waits."))
	errs = append(errs, err)
	lag, err := m.Float64Histogram("tutorhub.outbox.relay_lag", metric.WithUnit("s"),
		metric.WithDescription("Time from an outbox event's creation to its dispatch (its workflow started, or found started), by event type."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("outbox metrics: %w", err)
		}
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s := r.Stats()
		o.ObserveInt64(dispatched, s.Started)
		o.ObserveInt64(already, s.AlreadyStarted)
		o.ObserveInt64(deferred, s.Deferred)
		o.ObserveInt64(parked, s.Parked)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		b, err := queries.New(r.pool).OutboxBacklog(ctx)
		if err != nil {
			return fmt.Errorf("outbox backlog: %w", err)
		}
		o.ObserveInt64(backlog, b.Pending)
		o.ObserveInt64(parkedNow, b.Parked)
		age := 0.0
		if b.Pending > 0 {
			age = max(0, time.Since(b.Oldest).Seconds())
		}
		o.ObserveFloat64(oldest, age)
		return nil
	}, dispatched, already, deferred, parked, backlog, parkedNow, oldest)
	if err != nil {
		return nil, fmt.Errorf("outbox metrics: %w", err)
	}
	return &relayMetrics{registration: reg, lag: lag}, nil
}
