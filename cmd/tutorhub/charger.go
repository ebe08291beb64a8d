package main

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/payments"
)

// newCharger is the one place `serve` and `worker` get the payment provider bookings charge
// through: the payments service over Stripe (stripe-mock in the local stack), configured by
// the TUTORHUB_STRIPE_* and TUTORHUB_PAYMENTS_* keys; meter (nil: none) exports
// Reconcile's drift.
func newCharger(pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger, meter metric.Meter) *payments.Service {
	o := paymentOptions(cfg, log)
	o.Meter = meter
	return payments.New(pool, o)
}
