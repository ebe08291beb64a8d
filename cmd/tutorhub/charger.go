package main

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/payments"
)

// newCharger is the one place `serve` and `worker` get the payment provider bookings charge
// through: the payments service over Stripe (stripe-mock in the local stack), configured by
// the TUTORHUB_STRIPE_* and TUTORHUB_PAYMENTS_* keys.
func newCharger(pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger) *payments.Service {
	return payments.New(pool, paymentOptions(cfg, log))
}
