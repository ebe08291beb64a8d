package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/workflows"
)

// fakeBooking stands in for the booking row behind the activities: each mocked activity
// applies the same rule the bookings service does, and records what it was asked, when
// (in the test environment's skipped time).
type fakeBooking struct {
	mu      sync.Mutex
	env     *testsuite.TestWorkflowEnvironment
	b       activities.BookingView
	calls   []string
	at      map[string]time.Time
	refunds []int64
	events  []string
	// paidFirst makes CancelCharge find the charge already succeeded (the payment won the
	// race with the hold's end).
	paidFirst bool
}

func (f *fakeBooking) record(name string) {
	f.calls = append(f.calls, name)
	f.at[name] = f.env.Now()
}

func (f *fakeBooking) view() activities.BookingView {
	v := f.b
	v.Reminders = slices.Clone(f.b.Reminders)
	return v
}

// set changes the booking as a person would through the API.
func (f *fakeBooking) set(fn func(b *activities.BookingView)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.b)
	f.b.Version++
}

func newLifecycleEnv(t *testing.T, start time.Time) (*testsuite.TestWorkflowEnvironment, *fakeBooking) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	workflows.RegisterBookings(env)
	activities.RegisterBookings(env, &activities.BookingActivities{})
	lesson := start.Add(72 * time.Hour)
	f := &fakeBooking{env: env, at: map[string]time.Time{}, b: activities.BookingView{
		ID: uuid.New(), State: bookings.StateRequested, StartsAt: lesson, EndsAt: lesson.Add(time.Hour),
		DecideBy: start.Add(bookings.DecideWithin), PriceMinor: 5000, Version: 1,
	}}
	id := f.b.ID
	lock := func(name string) func() {
		f.mu.Lock()
		f.record(name)
		return f.mu.Unlock
	}
	env.OnActivity(activities.LoadBookingName, mock.Anything, id).Return(func(context.Context, uuid.UUID) (activities.BookingView, error) {
		defer lock("load")()
		return f.view(), nil
	})
	env.OnActivity(activities.StartBookingChargeName, mock.Anything, id).Return(func(context.Context, uuid.UUID) (activities.BookingView, error) {
		defer lock("start-charge")()
		f.b.ChargeStatus = payments.ChargePending
		return f.view(), nil
	})
	env.OnActivity(activities.CancelBookingChargeName, mock.Anything, id).Return(func(context.Context, uuid.UUID) (activities.BookingView, error) {
		defer lock("cancel-charge")()
		if f.paidFirst {
			f.b.ChargeStatus = payments.ChargeSucceeded
		}
		if f.b.ChargeStatus != payments.ChargeSucceeded {
			f.b.ChargeStatus = payments.ChargeCanceled
		}
		return f.view(), nil
	})
	env.OnActivity(activities.RefundBookingName, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RefundInput) (activities.BookingView, error) {
		defer lock("refund")()
		f.refunds = append(f.refunds, in.AmountMinor)
		f.b.ChargeStatus = payments.ChargeRefunded
		return f.view(), nil
	})
	env.OnActivity(activities.ConfirmBookingName, mock.Anything, id).Return(func(context.Context, uuid.UUID) (activities.ConfirmResult, error) {
		defer lock("confirm")()
		switch f.b.State {
		case bookings.StateAwaitingPayment:
			f.b.State, f.b.ChargeStatus = bookings.StateConfirmed, payments.ChargeSucceeded
			f.events = append(f.events, bookings.EventConfirmed)
		case bookings.StateConfirmed:
		default:
			f.b.ChargeStatus = payments.ChargeSucceeded
		}
		return activities.ConfirmResult{Booking: f.view(), Confirmed: f.b.State == bookings.StateConfirmed}, nil
	})
	env.OnActivity(activities.ExpireBookingName, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TimedInput) (activities.BookingView, error) {
		defer lock("expire")()
		if f.b.State == bookings.StateRequested && !in.At.Before(f.b.DecideBy) ||
			f.b.State == bookings.StateAwaitingPayment && !in.At.Before(f.b.HoldUntil) {
			f.b.State = bookings.StateExpired
			f.events = append(f.events, bookings.EventExpired)
		}
		return f.view(), nil
	})
	env.OnActivity(activities.RemindBookingName, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RemindInput) (activities.BookingView, error) {
		defer lock("remind-" + in.Kind)()
		if f.b.State == bookings.StateConfirmed && !slices.Contains(f.b.Reminders, in.Kind) {
			f.b.Reminders = append(f.b.Reminders, in.Kind)
			f.events = append(f.events, bookings.EventReminder+":"+in.Kind)
		}
		return f.view(), nil
	})
	env.OnActivity(activities.CompleteBookingName, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TimedInput) (activities.BookingView, error) {
		defer lock("complete")()
		if f.b.State == bookings.StateConfirmed && !in.At.Before(f.b.EndsAt) {
			f.b.State = bookings.StateCompleted
			f.events = append(f.events, bookings.EventCompleted)
		}
		return f.view(), nil
	})
	env.OnActivity(activities.SetChargeStatusName, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChargeStatusInput) (activities.BookingView, error) {
		defer lock("charge-status")()
		f.b.ChargeStatus = in.Status
		return f.view(), nil
	})
	return env, f
}

func (f *fakeBooking) accept(hold time.Duration) {
	f.set(func(b *activities.BookingView) {
		b.State = bookings.StateAwaitingPayment
		b.HoldUntil = f.env.Now().Add(hold)
	})
	f.env.SignalWorkflow(workflows.SignalBookingChanged, nil)
}

func (f *fakeBooking) pay() {
	f.env.SignalWorkflow(payments.SignalChargeSucceeded, payments.Outcome{BookingID: f.b.ID, Status: payments.ChargeSucceeded, AmountMinor: f.b.PriceMinor, Currency: "EUR"})
}

func runLifecycle(t *testing.T, env *testsuite.TestWorkflowEnvironment, f *fakeBooking) bookings.State {
	t.Helper()
	env.ExecuteWorkflow(workflows.BookingLifecycleName, workflows.BookingLifecycleInput{BookingID: f.b.ID})
	if !env.IsWorkflowCompleted() {
		t.Fatal("BookingLifecycle did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.BookingLifecycleResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res.State
}

// TestBookingLifecyclePaidLessonRemindsAndCompletes: request -> accept -> pay (the charge
// signal sent twice, as a repeated webhook would) -> confirmed once -> the 24 h and 1 h
// reminders each once, at their times -> completed at the lesson's end.
func TestBookingLifecyclePaidLessonRemindsAndCompletes(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	env.RegisterDelayedCallback(func() { f.accept(bookings.HoldFor) }, 2*time.Hour)
	env.RegisterDelayedCallback(f.pay, 2*time.Hour+10*time.Minute)
	env.RegisterDelayedCallback(f.pay, 2*time.Hour+11*time.Minute)
	if got := runLifecycle(t, env, f); got != bookings.StateCompleted {
		t.Fatalf("final state %s, want completed", got)
	}
	want := []string{bookings.EventConfirmed, bookings.EventReminder + ":24h", bookings.EventReminder + ":1h", bookings.EventCompleted}
	if !slices.Equal(f.events, want) {
		t.Fatalf("events %v, want %v", f.events, want)
	}
	if got, want := f.at["remind-24h"], f.b.StartsAt.Add(-24*time.Hour); !got.Equal(want) {
		t.Errorf("24h reminder at %s, want %s", got, want)
	}
	if got, want := f.at["remind-1h"], f.b.StartsAt.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("1h reminder at %s, want %s", got, want)
	}
	if got := f.at["complete"]; !got.Equal(f.b.EndsAt) {
		t.Errorf("completed at %s, want the lesson's end %s", got, f.b.EndsAt)
	}
	if len(f.refunds) != 0 {
		t.Errorf("refunds %v of a completed lesson", f.refunds)
	}
}

// TestBookingLifecycleUnpaidHoldExpires: an accepted booking nobody pays expires when the
// hold ends (time skipped), after its charge is cancelled, releasing the slot.
func TestBookingLifecycleUnpaidHoldExpires(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	env.RegisterDelayedCallback(func() { f.accept(bookings.HoldFor) }, time.Hour)
	if got := runLifecycle(t, env, f); got != bookings.StateExpired {
		t.Fatalf("final state %s, want expired", got)
	}
	if got, want := f.at["expire"], start.Add(time.Hour+bookings.HoldFor); !got.Equal(want) {
		t.Errorf("expired at %s, want the hold's end %s", got, want)
	}
	if !slices.Contains(f.calls, "cancel-charge") || f.b.ChargeStatus != payments.ChargeCanceled {
		t.Errorf("the charge was not cancelled: calls %v, status %s", f.calls, f.b.ChargeStatus)
	}
}

// TestBookingLifecycleUndecidedRequestExpires: a tutor who never answers lets the request
// expire at its decision deadline.
func TestBookingLifecycleUndecidedRequestExpires(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	if got := runLifecycle(t, env, f); got != bookings.StateExpired {
		t.Fatalf("final state %s, want expired", got)
	}
	if got := f.at["expire"]; !got.Equal(f.b.DecideBy) {
		t.Errorf("expired at %s, want %s", got, f.b.DecideBy)
	}
	if slices.Contains(f.calls, "start-charge") {
		t.Error("a charge was started for a booking never accepted")
	}
}

// TestBookingLifecycleCancelledAfterPaymentRefundsThePolicysShare: the API applied the
// policy (refund_minor) and cancelled; the workflow refunds exactly that, once.
func TestBookingLifecycleCancelledAfterPaymentRefundsThePolicysShare(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	env.RegisterDelayedCallback(func() { f.accept(bookings.HoldFor) }, time.Hour)
	env.RegisterDelayedCallback(f.pay, time.Hour+5*time.Minute)
	env.RegisterDelayedCallback(func() {
		f.set(func(b *activities.BookingView) { b.State, b.RefundMinor = bookings.StateCancelled, 2500 })
		env.SignalWorkflow(workflows.SignalBookingChanged, nil)
		env.SignalWorkflow(workflows.SignalBookingChanged, nil)
	}, 60*time.Hour)
	if got := runLifecycle(t, env, f); got != bookings.StateCancelled {
		t.Fatalf("final state %s, want cancelled", got)
	}
	if !slices.Equal(f.refunds, []int64{2500}) {
		t.Fatalf("refunds %v, want [2500]", f.refunds)
	}
}

// TestBookingLifecyclePaymentRacingTheHoldConfirms: when the hold ends but cancelling the
// charge finds it already succeeded, the booking is confirmed, not expired.
func TestBookingLifecyclePaymentRacingTheHoldConfirms(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	env.RegisterDelayedCallback(func() { f.accept(bookings.HoldFor) }, time.Hour)
	// The hold's timer and the payment fire together: the charge was cancelled but the
	// provider reports it succeeded.
	f.paidFirst = true
	if got := runLifecycle(t, env, f); got != bookings.StateCompleted {
		t.Fatalf("final state %s, want completed (the payment won the race with the hold)", got)
	}
	if len(f.refunds) != 0 {
		t.Fatalf("refunds %v of a confirmed lesson", f.refunds)
	}
}

// TestBookingLifecycleDeclined ends at once with nothing charged.
func TestBookingLifecycleDeclined(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	env, f := newLifecycleEnv(t, start)
	env.RegisterDelayedCallback(func() {
		f.set(func(b *activities.BookingView) { b.State = bookings.StateDeclined })
		env.SignalWorkflow(workflows.SignalBookingChanged, nil)
	}, time.Hour)
	if got := runLifecycle(t, env, f); got != bookings.StateDeclined {
		t.Fatalf("final state %s, want declined", got)
	}
	if got := f.at["load"]; !got.Equal(start.Add(time.Hour)) {
		t.Errorf("last read at %s, want at the signal", got)
	}
	if slices.ContainsFunc(f.calls, func(c string) bool { return c == "start-charge" || c == "refund" }) {
		t.Errorf("payments touched for a declined booking: %v", f.calls)
	}
}

// TestBookingEventsRoute: a request starts the booking's lifecycle (one per booking, on the
// bookings queue) and tells the tutor; a person's decision signals the lifecycle and tells the
// student; the workflow's own events only notify. A payload of another schema is parked.
func TestBookingEventsRoute(t *testing.T) {
	t.Parallel()
	p := bookings.EventPayload{Schema: bookings.EventSchema, BookingID: uuid.New(), TutorID: uuid.New(), TutorUserID: uuid.New(), StudentID: uuid.New(),
		StartsAt: time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), TimeZone: "Europe/Berlin"}
	raw, _ := json.Marshal(p)
	ev := func(typ string) workflows.Event {
		return workflows.Event{ID: uuid.New(), AggregateType: bookings.Aggregate, AggregateID: p.BookingID, Type: typ, Payload: raw}
	}
	names := func(typ string) []string {
		var out []string
		for _, r := range workflows.RoutesFor(typ) {
			out = append(out, r.Workflow)
		}
		return out
	}
	for typ, want := range map[string][]string{
		bookings.EventRequested: {workflows.BookingLifecycleName, workflows.NotifyFanoutName},
		bookings.EventAccepted:  {workflows.SignalBookingName, workflows.NotifyFanoutName},
		bookings.EventDeclined:  {workflows.SignalBookingName, workflows.NotifyFanoutName},
		bookings.EventCancelled: {workflows.SignalBookingName, workflows.NotifyFanoutName},
		bookings.EventConfirmed: {workflows.NotifyFanoutName},
		bookings.EventReminder:  {workflows.NotifyFanoutName},
		bookings.EventExpired:   {workflows.NotifyFanoutName},
		bookings.EventCompleted: {workflows.NotifyFanoutName},
	} {
		if got := names(typ); !slices.Equal(got, want) {
			t.Errorf("routes of %s = %v, want %v", typ, got, want)
		}
	}
	r, _ := workflows.RouteFor(bookings.EventRequested)
	e := ev(bookings.EventRequested)
	if r.Queue != workflows.QueueBookings || r.WorkflowID(e) != "booking/"+p.BookingID.String() {
		t.Errorf("lifecycle route %s on %s", r.WorkflowID(e), r.Queue)
	}
	if in, err := r.Input(e); err != nil || in != (workflows.BookingLifecycleInput{BookingID: p.BookingID}) {
		t.Errorf("input %+v %v", in, err)
	}
	if got, _ := workflows.SearchAttributes(e).GetKeyword(workflows.BookingIDAttribute); got != p.BookingID.String() {
		t.Errorf("BookingId attribute %q", got)
	}
	notify := workflows.RoutesFor(bookings.EventRequested)[1]
	in, err := notify.Input(e)
	if err != nil {
		t.Fatal(err)
	}
	if n := in.(notifications.Notice); len(n.Recipients) != 1 || n.Recipients[0] != p.TutorUserID || n.Category != notifications.CategoryBookings ||
		n.Data["start"] != "2026-03-29 03:30 CEST" {
		t.Errorf("request notice %+v", n)
	}
	in, _ = workflows.RoutesFor(bookings.EventConfirmed)[0].Input(ev(bookings.EventConfirmed))
	if n := in.(notifications.Notice); !slices.Equal(n.Recipients, []uuid.UUID{p.StudentID, p.TutorUserID}) {
		t.Errorf("confirmation goes to %v, want both sides", n.Recipients)
	}
	bad, _ := json.Marshal(bookings.EventPayload{Schema: 99, BookingID: p.BookingID})
	if _, err := r.Input(workflows.Event{ID: uuid.New(), Type: bookings.EventRequested, Payload: bad}); err == nil {
		t.Error("a payload of an unknown schema was accepted")
	}
}
