package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/payments"
)

// Registered names of the payment activities.
const (
	ApplyPaymentEventName  = "ApplyPaymentEvent"
	SignalBookingName      = "SignalBooking"
	RefundOrphanChargeName = "RefundOrphanCharge"
	ReconcilePaymentsName  = "ReconcilePayments"
)

// PaymentActivities are the side effects of PaymentWebhook and Reconcile: the payments service
// (database and provider) and the Temporal client that signals bookings.
type PaymentActivities struct {
	Payments *payments.Service
	Temporal client.Client
	// BookingWorkflowID names a booking's workflow; nil is payments.BookingWorkflowID.
	BookingWorkflowID func(uuid.UUID) string
}

// RegisterPayments registers the payment activities on a worker of workflows.QueuePayments.
func RegisterPayments(r worker.ActivityRegistry, a *PaymentActivities) {
	r.RegisterActivityWithOptions(a.ApplyPaymentEvent, activity.RegisterOptions{Name: ApplyPaymentEventName})
	r.RegisterActivityWithOptions(a.SignalBooking, activity.RegisterOptions{Name: SignalBookingName})
	r.RegisterActivityWithOptions(a.RefundOrphanCharge, activity.RegisterOptions{Name: RefundOrphanChargeName})
	r.RegisterActivityWithOptions(a.ReconcilePayments, activity.RegisterOptions{Name: ReconcilePaymentsName})
}

// ApplyPaymentEvent applies a stored provider event (idempotent by its id).
func (a *PaymentActivities) ApplyPaymentEvent(ctx context.Context, providerEventID string) (payments.Applied, error) {
	res, err := a.Payments.ApplyEvent(ctx, providerEventID)
	return res, paymentError(err)
}

// SignalBookingResult says whether the booking's workflow heard the signal.
type SignalBookingResult struct {
	// NotRunning is set when no booking workflow runs (its hold expired, it was cancelled).
	NotRunning bool
}

// SignalBooking sends a charge outcome to the booking's workflow ("booking/<id>").
func (a *PaymentActivities) SignalBooking(ctx context.Context, signal string, out payments.Outcome) (SignalBookingResult, error) {
	id := payments.BookingWorkflowID(out.BookingID)
	if a.BookingWorkflowID != nil {
		id = a.BookingWorkflowID(out.BookingID)
	}
	err := a.Temporal.SignalWorkflow(ctx, id, "", signal, out)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return SignalBookingResult{NotRunning: true}, nil
	}
	if err != nil {
		return SignalBookingResult{}, fmt.Errorf("signal %s to %s: %w", signal, id, err)
	}
	return SignalBookingResult{}, nil
}

// RefundOrphanCharge refunds in full a succeeded charge whose booking no longer runs.
func (a *PaymentActivities) RefundOrphanCharge(ctx context.Context, bookingID uuid.UUID) (payments.Charge, error) {
	c, err := a.Payments.RefundOrphan(ctx, bookingID, "the booking had ended when the payment arrived")
	return c, paymentError(err)
}

// ReconcilePayments compares the provider's records and the ledger with the charges of the
// window ending at end, and records the report.
func (a *PaymentActivities) ReconcilePayments(ctx context.Context, end time.Time, window time.Duration) (payments.Report, error) {
	r, err := a.Payments.Reconcile(ctx, end.Add(-window), end)
	return r, paymentError(err)
}

// ErrPaymentRefused is the type of a payment activity failure that retrying cannot fix.
const ErrPaymentRefused = "PaymentRefused"

func paymentError(err error) error {
	switch tutorhub.ErrorCode(err) {
	case "", tutorhub.EUNAVAILABLE, tutorhub.EINTERNAL:
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrPaymentRefused, err)
}
