package outbox

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/tutorhub/tutorhub/queries"
)

// relayMetrics exports a relay's counts and the outbox backlog. Prometheus shows them as
// tutorhub_outbox_dispatched_total, tutorhub_outbox_already_dispatched_total,
// tutorhub_outbox_deferred_total, tutorhub_outbox_parked_total, tutorhub_outbox_backlog,
// tutorhub_outbox_parked_events and tutorhub_outbox_oldest_age_seconds.
type relayMetrics struct {
	registration metric.Registration
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
	return &relayMetrics{registration: reg}, nil
}
