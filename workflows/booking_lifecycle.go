package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/payments"
)

// BookingLifecycleName is BookingLifecycle's registered workflow type name.
const BookingLifecycleName = "BookingLifecycle"

// SignalBookingChanged tells a booking's workflow that a person changed the booking
// (accepted, declined, cancelled); the workflow re-reads it. It carries no payload.
// SignalBooking sends it, started through the outbox by the change's event.
const SignalBookingChanged = "booking-changed"

// Search attributes of BookingLifecycle runs, upserted on every change of state.
var (
	// BookingIDAttribute is the booking a run manages (or, on PaymentWebhook, concerns).
	BookingIDAttribute = temporal.NewSearchAttributeKeyKeyword("BookingId")
	// BookingStateAttribute is the booking's state as the run last read it.
	BookingStateAttribute = temporal.NewSearchAttributeKeyKeyword("BookingState")
)

// BookingLifecycleID is the id of a booking's workflow: one per booking.
func BookingLifecycleID(id uuid.UUID) string { return "booking/" + id.String() }

// BookingLifecycleInput names the booking.
type BookingLifecycleInput struct {
	BookingID uuid.UUID
}

// BookingLifecycleResult is the booking's final state.
type BookingLifecycleResult struct {
	State bookings.State
}

var bookingLifecycleRoute = Route{
	Workflow: BookingLifecycleName, Queue: QueueBookings, Input: bookingLifecycleInput,
	ID: func(ev Event) string { return BookingLifecycleID(ev.AggregateID) },
}

func bookingLifecycleInput(ev Event) (any, error) {
	var p bookings.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return nil, fmt.Errorf("booking event %s: %w", ev.ID, err)
	}
	if p.Schema != bookings.EventSchema || p.BookingID == uuid.Nil {
		return nil, fmt.Errorf("booking event %s: schema %d, booking %s", ev.ID, p.Schema, p.BookingID)
	}
	return BookingLifecycleInput{BookingID: p.BookingID}, nil
}

// RegisterBookings registers the booking workflows on a worker of QueueBookings.
func RegisterBookings(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(BookingLifecycle, workflow.RegisterOptions{Name: BookingLifecycleName})
	r.RegisterWorkflowWithOptions(SignalBooking, workflow.RegisterOptions{Name: SignalBookingName})
}

// SignalBookingName is SignalBooking's registered workflow type name.
const SignalBookingName = "SignalBooking"

// signalBookingRoute carries a person's change (accepted, declined, cancelled) to the
// booking's workflow: the event is in the outbox in the change's transaction, so the signal
// is sent once the change is committed, however the API process fares afterwards.
var signalBookingRoute = Route{Workflow: SignalBookingName, Queue: QueueBookings, Input: bookingLifecycleInput}

// SignalBooking tells a booking's BookingLifecycle that the booking changed. A lifecycle that
// is not running (not yet started, or already ended) needs no signal: it reads the booking
// when it starts, and an ended one has nothing left to do.
func SignalBooking(ctx workflow.Context, in BookingLifecycleInput) error {
	err := workflow.SignalExternalWorkflow(ctx, BookingLifecycleID(in.BookingID), "", SignalBookingChanged, nil).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Info("booking workflow not signalled", "booking_id", in.BookingID.String(), "error", err.Error())
	}
	return nil
}

// bookingActivityOptions retry database and provider outages with backoff for up to a day;
// a refusal that no retry fixes (an unknown booking, payments not configured) is not retried.
var bookingActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrBadInput, activities.ErrPaymentsUnavailable},
	},
}

// wake is what ended a wait.
type wake int

const (
	wakeTimer wake = iota
	wakeChanged
	wakePaid
	wakePaymentFailed
)

// BookingLifecycle drives one booking from request to its end. The booking row is the truth:
// people change it through the API (then signal SignalBookingChanged), payments signal the
// charge's outcome (payments.SignalChargeSucceeded, SignalChargeFailed), and the workflow
// changes it when time passes, always through idempotent activities that re-check the state,
// so a lost or repeated signal delays nothing beyond the next timer and changes nothing twice.
//
//   - requested: wait for the tutor until DecideBy, then expire (the slot is released);
//   - awaiting payment: start the charge, then wait for the payment until HoldUntil; at the
//     deadline cancel the charge (a charge that succeeded meanwhile confirms) and expire;
//   - confirmed: durable timers send each reminder (24 h and 1 h before) once, and the end of
//     the lesson completes the booking, which opens its review;
//   - cancelled: refund what the cancellation policy gave (paid) or cancel the charge;
//     declined or expired: cancel any charge; a payment that arrives after the booking ended
//     is refunded in full.
func BookingLifecycle(ctx workflow.Context, in BookingLifecycleInput) (BookingLifecycleResult, error) {
	if in.BookingID == uuid.Nil {
		return BookingLifecycleResult{}, temporal.NewNonRetryableApplicationError("BookingLifecycle needs a booking id", "InvalidInput", nil)
	}
	ctx = workflow.WithActivityOptions(ctx, bookingActivityOptions)
	log := workflow.GetLogger(ctx)
	changed := workflow.GetSignalChannel(ctx, SignalBookingChanged)
	paid := workflow.GetSignalChannel(ctx, payments.SignalChargeSucceeded)
	failed := workflow.GetSignalChannel(ctx, payments.SignalChargeFailed)
	id := in.BookingID

	run := func(name string, arg any) (activities.BookingView, error) {
		var v activities.BookingView
		err := workflow.ExecuteActivity(ctx, name, arg).Get(ctx, &v)
		return v, err
	}
	// charger runs a Charger activity; a refusal of payments (no retry fixes it) is logged
	// and the booking goes on without it: ok is false and err nil.
	charger := func(name string, arg any) (activities.BookingView, bool, error) {
		v, err := run(name, arg)
		var appErr *temporal.ApplicationError
		if err != nil && errors.As(err, &appErr) && appErr.Type() == activities.ErrPaymentsUnavailable {
			log.Warn("payments refused", "activity", name, "booking_id", id.String(), "error", err.Error())
			return v, false, nil
		}
		return v, err == nil, err
	}
	// wait blocks until the deadline (zero: no deadline) or a signal.
	wait := func(until time.Time) wake {
		tctx, cancel := workflow.WithCancel(ctx)
		defer cancel()
		var got wake
		sel := workflow.NewSelector(ctx)
		if !until.IsZero() {
			d := until.Sub(workflow.Now(ctx))
			if d <= 0 {
				return wakeTimer
			}
			sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) { got = wakeTimer })
		}
		sel.AddReceive(changed, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); got = wakeChanged })
		sel.AddReceive(paid, func(c workflow.ReceiveChannel, _ bool) {
			var o payments.Outcome
			c.Receive(ctx, &o)
			got = wakePaid
		})
		sel.AddReceive(failed, func(c workflow.ReceiveChannel, _ bool) {
			var o payments.Outcome
			c.Receive(ctx, &o)
			got = wakePaymentFailed
		})
		sel.Select(ctx)
		return got
	}

	b, err := run(activities.LoadBookingName, id)
	if err != nil {
		return BookingLifecycleResult{}, err
	}
	var shown bookings.State
	chargeStarted, refunded := false, false
	for {
		if b.State != shown {
			if err := workflow.UpsertTypedSearchAttributes(ctx,
				BookingIDAttribute.ValueSet(id.String()), BookingStateAttribute.ValueSet(string(b.State))); err != nil {
				return BookingLifecycleResult{}, err
			}
			shown = b.State
		}
		now := workflow.Now(ctx)
		var w wake
		switch b.State {
		case bookings.StateRequested:
			w = wait(b.DecideBy)
			if w == wakeTimer {
				b, err = run(activities.ExpireBookingName, activities.TimedInput{BookingID: id, At: workflow.Now(ctx)})
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				continue
			}
		case bookings.StateAwaitingPayment:
			if !chargeStarted {
				chargeStarted = true
				v, ok, err := charger(activities.StartBookingChargeName, id)
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				if ok {
					b = v
				}
				continue
			}
			w = wait(b.HoldUntil)
			if w == wakeTimer {
				v, ok, err := charger(activities.CancelBookingChargeName, id)
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				if ok && v.ChargeStatus == payments.ChargeSucceeded {
					w = wakePaid // the payment won the race with the hold's end
				} else {
					b, err = run(activities.ExpireBookingName, activities.TimedInput{BookingID: id, At: workflow.Now(ctx)})
					if err != nil {
						return BookingLifecycleResult{}, err
					}
					continue
				}
			}
			if w == wakePaymentFailed {
				b, err = run(activities.SetChargeStatusName, activities.ChargeStatusInput{BookingID: id, Status: payments.ChargeFailed})
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				continue
			}
		case bookings.StateConfirmed:
			due, kind := nextReminder(b, now)
			if kind != "" && !due.After(now) {
				b, err = run(activities.RemindBookingName, activities.RemindInput{BookingID: id, Kind: kind})
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				continue
			}
			if !b.EndsAt.After(now) {
				b, err = run(activities.CompleteBookingName, activities.TimedInput{BookingID: id, At: now})
				if err != nil {
					return BookingLifecycleResult{}, err
				}
				continue
			}
			next := b.EndsAt
			if kind != "" && due.Before(next) {
				next = due
			}
			w = wait(next)
			if w == wakeTimer {
				continue
			}
		case bookings.StateCancelled:
			switch {
			case b.ChargeStatus == payments.ChargeSucceeded && b.RefundMinor > 0 && !refunded:
				refunded = true
				if _, _, err := charger(activities.RefundBookingName, activities.RefundInput{BookingID: id, AmountMinor: b.RefundMinor, Reason: "cancelled"}); err != nil {
					return BookingLifecycleResult{}, err
				}
			case b.ChargeStatus == payments.ChargePending || b.ChargeStatus == payments.ChargeFailed:
				if _, _, err := charger(activities.CancelBookingChargeName, id); err != nil {
					return BookingLifecycleResult{}, err
				}
			}
			return BookingLifecycleResult{State: b.State}, nil
		case bookings.StateDeclined, bookings.StateExpired:
			if b.ChargeStatus == payments.ChargePending || b.ChargeStatus == payments.ChargeFailed {
				if _, _, err := charger(activities.CancelBookingChargeName, id); err != nil {
					return BookingLifecycleResult{}, err
				}
			}
			return BookingLifecycleResult{State: b.State}, nil
		default: // completed
			return BookingLifecycleResult{State: b.State}, nil
		}

		switch w {
		case wakePaid:
			var r activities.ConfirmResult
			if err := workflow.ExecuteActivity(ctx, activities.ConfirmBookingName, id).Get(ctx, &r); err != nil {
				return BookingLifecycleResult{}, err
			}
			b = r.Booking
			if !r.Confirmed && !refunded && b.State != bookings.StateCancelled {
				// Paid after the booking ended: nothing to deliver, everything goes back.
				refunded = true
				if _, _, err := charger(activities.RefundBookingName, activities.RefundInput{BookingID: id, AmountMinor: b.PriceMinor, Reason: "paid after the booking ended"}); err != nil {
					return BookingLifecycleResult{}, err
				}
			}
			if !r.Confirmed && b.State == bookings.StateCancelled && !refunded {
				// Cancelled while unpaid, then paid: the policy's refund was computed unpaid.
				refunded = true
				if _, _, err := charger(activities.RefundBookingName, activities.RefundInput{BookingID: id, AmountMinor: b.PriceMinor, Reason: "paid after cancellation"}); err != nil {
					return BookingLifecycleResult{}, err
				}
			}
		default:
			b, err = run(activities.LoadBookingName, id)
			if err != nil {
				return BookingLifecycleResult{}, err
			}
		}
	}
}

// nextReminder is the reminder to send next: the one due most recently (when its time has
// come and the lesson has not started), or else the next one to come; a reminder whose time
// passed before a later one came due is skipped. Zero kind: none left.
func nextReminder(b activities.BookingView, now time.Time) (time.Time, string) {
	if !now.Before(b.StartsAt) {
		return time.Time{}, ""
	}
	var dueKind string
	var dueAt time.Time
	var nextKind string
	var nextAt time.Time
	for _, r := range bookings.Reminders {
		at := b.StartsAt.Add(-r.Before)
		if !at.After(now) {
			if dueKind == "" || at.After(dueAt) {
				dueKind, dueAt = r.Kind, at
			}
		} else if nextKind == "" || at.Before(nextAt) {
			nextKind, nextAt = r.Kind, at
		}
	}
	if dueKind != "" && !slices.Contains(b.Reminders, dueKind) {
		return dueAt, dueKind
	}
	return nextAt, nextKind
}
