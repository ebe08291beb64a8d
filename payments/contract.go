// Package payments takes a booking's money through the payment provider (Stripe): it creates
// and cancels charges, refunds them, applies the provider's webhooks exactly once, and keeps
// the double-entry ledger that every balance is read from.
//
// This file is the contract between bookings and payments: what the BookingLifecycle workflow
// asks of payments (Charger), and how payments tells a booking its charge's outcome (a signal
// on the booking's workflow).
package payments

import (
	"context"

	"github.com/google/uuid"
)

// ChargeRequest asks for the payment of one booking. The booking id is the idempotency key:
// asking twice for the same booking returns the same charge.
type ChargeRequest struct {
	BookingID   uuid.UUID
	StudentID   uuid.UUID
	TutorID     uuid.UUID
	AmountMinor int64
	Currency    string
}

// ChargeStatus is where a charge is in its life.
type ChargeStatus string

// The charge statuses. Succeeded, canceled and refunded (in full) are final for the booking.
const (
	ChargePending   ChargeStatus = "pending"
	ChargeSucceeded ChargeStatus = "succeeded"
	ChargeFailed    ChargeStatus = "failed"
	ChargeCanceled  ChargeStatus = "canceled"
	ChargeRefunded  ChargeStatus = "refunded"
)

// Charge is a booking's payment as tutorhub records it.
type Charge struct {
	ID         uuid.UUID
	BookingID  uuid.UUID
	ProviderID string // the provider's PaymentIntent id
	// ClientSecret lets the student's browser confirm the payment; never logged.
	ClientSecret string
	AmountMinor  int64
	Currency     string
	Status       ChargeStatus
}

// Charger is what a booking needs from payments. Every method is idempotent by booking id, so
// an activity that calls it may be retried.
type Charger interface {
	// StartCharge creates (or returns the existing) charge of a booking.
	StartCharge(ctx context.Context, req ChargeRequest) (Charge, error)
	// CancelCharge cancels a booking's unpaid charge (its hold expired, or it was declined or
	// cancelled before payment); a charge that already succeeded is left alone and reported.
	CancelCharge(ctx context.Context, bookingID uuid.UUID) (Charge, error)
	// Refund returns amountMinor of a booking's succeeded charge to the student; the same
	// booking refunded twice refunds once.
	Refund(ctx context.Context, bookingID uuid.UUID, amountMinor int64, reason string) (Charge, error)
}

// Signals that payments sends to the booking's workflow (workflow id "booking/<booking id>")
// once a webhook has been applied; the payload is an Outcome. The workflow must treat a
// repeated signal as a no-op.
const (
	SignalChargeSucceeded = "charge-succeeded"
	SignalChargeFailed    = "charge-failed"
)

// Outcome is the payload of a charge signal.
type Outcome struct {
	BookingID   uuid.UUID    `json:"booking_id"`
	ChargeID    uuid.UUID    `json:"charge_id"`
	Status      ChargeStatus `json:"status"`
	AmountMinor int64        `json:"amount_minor"`
	Currency    string       `json:"currency"`
	// Reason is the provider's failure message for a failed charge.
	Reason string `json:"reason,omitempty"`
}
