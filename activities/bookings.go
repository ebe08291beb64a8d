package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/payments"
)

// Registered names of the booking activities.
const (
	LoadBookingName         = "LoadBooking"
	StartBookingChargeName  = "StartBookingCharge"
	CancelBookingChargeName = "CancelBookingCharge"
	RefundBookingName       = "RefundBooking"
	ConfirmBookingName      = "ConfirmBooking"
	ExpireBookingName       = "ExpireBooking"
	RemindBookingName       = "RemindBooking"
	CompleteBookingName     = "CompleteBooking"
	SetChargeStatusName     = "SetBookingChargeStatus"
	// ErrPaymentsUnavailable is a Charger refusal no retry can fix (no provider configured,
	// a charge in a state that forbids the call): the workflow carries on without it.
	ErrPaymentsUnavailable = "PaymentsUnavailable"
)

// BookingActivities are the side effects of BookingLifecycle: the bookings service (the
// booking row, its outbox and audit events) and payments' Charger. Every activity is
// idempotent by booking id.
type BookingActivities struct {
	Bookings *bookings.Service
	Charger  payments.Charger
}

// RegisterBookings registers the booking activities on a worker of workflows.QueueBookings.
func RegisterBookings(r worker.ActivityRegistry, a *BookingActivities) {
	r.RegisterActivityWithOptions(a.LoadBooking, activity.RegisterOptions{Name: LoadBookingName})
	r.RegisterActivityWithOptions(a.StartBookingCharge, activity.RegisterOptions{Name: StartBookingChargeName})
	r.RegisterActivityWithOptions(a.CancelBookingCharge, activity.RegisterOptions{Name: CancelBookingChargeName})
	r.RegisterActivityWithOptions(a.RefundBooking, activity.RegisterOptions{Name: RefundBookingName})
	r.RegisterActivityWithOptions(a.ConfirmBooking, activity.RegisterOptions{Name: ConfirmBookingName})
	r.RegisterActivityWithOptions(a.ExpireBooking, activity.RegisterOptions{Name: ExpireBookingName})
	r.RegisterActivityWithOptions(a.RemindBooking, activity.RegisterOptions{Name: RemindBookingName})
	r.RegisterActivityWithOptions(a.CompleteBooking, activity.RegisterOptions{Name: CompleteBookingName})
	r.RegisterActivityWithOptions(a.SetBookingChargeStatus, activity.RegisterOptions{Name: SetChargeStatusName})
}

// BookingView is what the workflow knows of a booking after each activity.
type BookingView struct {
	ID           uuid.UUID
	State        bookings.State
	StartsAt     time.Time
	EndsAt       time.Time
	DecideBy     time.Time
	HoldUntil    time.Time
	PriceMinor   int64
	RefundMinor  int64
	ChargeStatus payments.ChargeStatus
	Reminders    []string
	Version      int64
}

func viewOf(b bookings.Booking) BookingView {
	return BookingView{
		ID: b.ID, State: b.State, StartsAt: b.StartsAt, EndsAt: b.EndsAt, DecideBy: b.DecideBy, HoldUntil: b.HoldUntil,
		PriceMinor: b.PriceMinor, RefundMinor: b.RefundMinor, ChargeStatus: b.ChargeStatus, Reminders: b.Reminders, Version: b.Version,
	}
}

// badBooking is a booking id no retry can fix.
func badBooking(err error) error {
	if tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, nil)
	}
	return err
}

// chargerError keeps a Charger's refusal (EPRECONDITION, EINVALID) from being retried.
func chargerError(op string, id uuid.UUID, err error) error {
	switch tutorhub.ErrorCode(err) {
	case tutorhub.EPRECONDITION, tutorhub.EINVALID, tutorhub.ENOTFOUND:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %s: %v", op, id, err), ErrPaymentsUnavailable, nil)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}

// LoadBooking reads a booking.
func (a *BookingActivities) LoadBooking(ctx context.Context, id uuid.UUID) (BookingView, error) {
	b, err := a.Bookings.Load(ctx, id)
	return viewOf(b), badBooking(err)
}

// StartBookingCharge asks payments for the booking's charge (the same charge however often
// it is called) and mirrors its status on the booking.
func (a *BookingActivities) StartBookingCharge(ctx context.Context, id uuid.UUID) (BookingView, error) {
	b, err := a.Bookings.Load(ctx, id)
	if err != nil {
		return BookingView{}, badBooking(err)
	}
	c, err := a.Charger.StartCharge(ctx, b.ChargeRequest())
	if err != nil {
		return BookingView{}, chargerError("start charge", id, err)
	}
	b, err = a.Bookings.SetChargeStatus(ctx, id, c.Status)
	return viewOf(b), err
}

// CancelBookingCharge cancels the booking's unpaid charge and mirrors the status payments
// reports (succeeded when the payment arrived first).
func (a *BookingActivities) CancelBookingCharge(ctx context.Context, id uuid.UUID) (BookingView, error) {
	c, err := a.Charger.CancelCharge(ctx, id)
	if err != nil {
		return BookingView{}, chargerError("cancel charge", id, err)
	}
	b, err := a.Bookings.SetChargeStatus(ctx, id, c.Status)
	return viewOf(b), badBooking(err)
}

// RefundInput is a refund of a booking's succeeded charge.
type RefundInput struct {
	BookingID   uuid.UUID
	AmountMinor int64
	Reason      string
}

// RefundBooking refunds part or all of the booking's charge (once per booking).
func (a *BookingActivities) RefundBooking(ctx context.Context, in RefundInput) (BookingView, error) {
	c, err := a.Charger.Refund(ctx, in.BookingID, in.AmountMinor, in.Reason)
	if err != nil {
		return BookingView{}, chargerError("refund", in.BookingID, err)
	}
	b, err := a.Bookings.SetChargeStatus(ctx, in.BookingID, c.Status)
	return viewOf(b), badBooking(err)
}

// ConfirmResult is the booking after a payment and whether the payment confirmed it.
type ConfirmResult struct {
	Booking   BookingView
	Confirmed bool
}

// ConfirmBooking records a succeeded payment.
func (a *BookingActivities) ConfirmBooking(ctx context.Context, id uuid.UUID) (ConfirmResult, error) {
	b, ok, err := a.Bookings.Confirm(ctx, id)
	return ConfirmResult{Booking: viewOf(b), Confirmed: ok}, badBooking(err)
}

// TimedInput names a booking and the workflow's time of the change.
type TimedInput struct {
	BookingID uuid.UUID
	At        time.Time
}

// ExpireBooking expires a booking past its decision or payment deadline.
func (a *BookingActivities) ExpireBooking(ctx context.Context, in TimedInput) (BookingView, error) {
	b, err := a.Bookings.Expire(ctx, in.BookingID, in.At)
	return viewOf(b), badBooking(err)
}

// CompleteBooking completes a confirmed booking whose lesson has ended.
func (a *BookingActivities) CompleteBooking(ctx context.Context, in TimedInput) (BookingView, error) {
	b, err := a.Bookings.Complete(ctx, in.BookingID, in.At)
	return viewOf(b), badBooking(err)
}

// RemindInput is one reminder of a booking.
type RemindInput struct {
	BookingID uuid.UUID
	Kind      string
}

// RemindBooking records a reminder once, which notifies both sides.
func (a *BookingActivities) RemindBooking(ctx context.Context, in RemindInput) (BookingView, error) {
	b, err := a.Bookings.Remind(ctx, in.BookingID, in.Kind)
	return viewOf(b), badBooking(err)
}

// ChargeStatusInput is a charge status payments reported.
type ChargeStatusInput struct {
	BookingID uuid.UUID
	Status    payments.ChargeStatus
}

// SetBookingChargeStatus mirrors a charge status on the booking.
func (a *BookingActivities) SetBookingChargeStatus(ctx context.Context, in ChargeStatusInput) (BookingView, error) {
	b, err := a.Bookings.SetChargeStatus(ctx, in.BookingID, in.Status)
	return viewOf(b), badBooking(err)
}
