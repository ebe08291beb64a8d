package bookings

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/payments"
)

// The changes below are the BookingLifecycle workflow's, made through its activities. Each
// takes the workflow's time (workflow.Now) as at, so the workflow's timers and the checks
// here agree, and each is idempotent: applied again, or to a booking that has moved on, it
// changes nothing and reports the booking as it is.

// workflowActor names the workflow in the audit log.
const workflowActor = "workflow:BookingLifecycle"

// Load returns a booking by id, without an actor: the workflow's read.
func (s *Service) Load(ctx context.Context, id uuid.UUID) (Booking, error) {
	row, err := s.q.GetBooking(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Booking{}, NotFound(id)
	}
	if err != nil {
		return Booking{}, fmt.Errorf("read booking %s: %w", id, err)
	}
	return bookingOf(row.Booking, row.RefundedMinor), nil
}

// SetChargeStatus mirrors the status of the booking's charge, as payments reports it.
func (s *Service) SetChargeStatus(ctx context.Context, id uuid.UUID, status payments.ChargeStatus) (Booking, error) {
	return s.change(ctx, workflowActor, id, time.Time{}, func(b *Booking, _ time.Time) (string, error) {
		if b.ChargeStatus == status {
			return "", nil
		}
		b.ChargeStatus = status
		return silent, nil
	})
}

// Confirm records a succeeded payment: a booking awaiting payment becomes confirmed and
// both sides are told. A booking that is no longer awaiting payment (its hold expired, it
// was cancelled) keeps its state; confirmed is false and the caller refunds the charge.
func (s *Service) Confirm(ctx context.Context, id uuid.UUID) (b Booking, confirmed bool, err error) {
	b, err = s.change(ctx, workflowActor, id, time.Time{}, func(b *Booking, _ time.Time) (string, error) {
		switch b.State {
		case StateConfirmed:
			return "", nil
		case StateAwaitingPayment:
			b.State, b.ChargeStatus = StateConfirmed, payments.ChargeSucceeded
			return EventConfirmed, nil
		}
		if b.ChargeStatus == payments.ChargeSucceeded {
			return "", nil
		}
		b.ChargeStatus = payments.ChargeSucceeded
		return silent, nil
	})
	return b, err == nil && b.State == StateConfirmed, err
}

// Expire ends a booking whose tutor did not decide by DecideBy, or whose payment did not
// arrive by HoldUntil, releasing the slot. Before its deadline, or in another state, it
// changes nothing.
func (s *Service) Expire(ctx context.Context, id uuid.UUID, at time.Time) (Booking, error) {
	return s.change(ctx, workflowActor, id, at, func(b *Booking, now time.Time) (string, error) {
		switch {
		case b.State == StateRequested && !now.Before(b.DecideBy):
		case b.State == StateAwaitingPayment && !b.HoldUntil.IsZero() && !now.Before(b.HoldUntil):
		default:
			return "", nil
		}
		b.State = StateExpired
		return EventExpired, nil
	})
}

// Remind records the reminder kind of a confirmed booking once, which tells both sides.
func (s *Service) Remind(ctx context.Context, id uuid.UUID, kind string) (Booking, error) {
	return s.change(ctx, workflowActor, id, time.Time{}, func(b *Booking, _ time.Time) (string, error) {
		if b.State != StateConfirmed || slices.Contains(b.Reminders, kind) {
			return "", nil
		}
		b.Reminders = append(slices.Clone(b.Reminders), kind)
		return EventReminder, nil
	})
}

// Complete moves a confirmed booking whose lesson has ended to completed, which opens its
// review.
func (s *Service) Complete(ctx context.Context, id uuid.UUID, at time.Time) (Booking, error) {
	return s.change(ctx, workflowActor, id, at, func(b *Booking, now time.Time) (string, error) {
		if b.State != StateConfirmed || now.Before(b.EndsAt) {
			return "", nil
		}
		b.State = StateCompleted
		return EventCompleted, nil
	})
}
