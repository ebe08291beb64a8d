package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/workflows"
)

// recordingCharger is the test's payments.Charger: it keeps charges in memory, idempotent by
// booking id as the contract requires, and records every refund. The payments package's own
// Charger replaces it where the two are wired together.
type recordingCharger struct {
	mu      sync.Mutex
	charges map[uuid.UUID]payments.Charge
	refunds map[uuid.UUID][]int64
}

func newRecordingCharger() *recordingCharger {
	return &recordingCharger{charges: map[uuid.UUID]payments.Charge{}, refunds: map[uuid.UUID][]int64{}}
}

func (c *recordingCharger) StartCharge(_ context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.charges[r.BookingID]; ok {
		return ch, nil
	}
	ch := payments.Charge{ID: uuid.New(), BookingID: r.BookingID, ProviderID: "pi_" + r.BookingID.String()[:8], ClientSecret: "secret_" + r.BookingID.String(),
		AmountMinor: r.AmountMinor, Currency: r.Currency, Status: payments.ChargePending}
	c.charges[r.BookingID] = ch
	return ch, nil
}

func (c *recordingCharger) CancelCharge(_ context.Context, id uuid.UUID) (payments.Charge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.charges[id]
	if !ok {
		return payments.Charge{BookingID: id, Status: payments.ChargeCanceled}, nil
	}
	if ch.Status == payments.ChargePending || ch.Status == payments.ChargeFailed {
		ch.Status = payments.ChargeCanceled
	}
	c.charges[id] = ch
	return ch, nil
}

func (c *recordingCharger) Refund(_ context.Context, id uuid.UUID, amount int64, _ string) (payments.Charge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.charges[id]
	if ch.Status != payments.ChargeRefunded {
		c.refunds[id] = append(c.refunds[id], amount)
		ch.Status = payments.ChargeRefunded
	}
	c.charges[id] = ch
	return ch, nil
}

// succeed marks a charge paid, as payments does when the provider's webhook arrives.
func (c *recordingCharger) succeed(id uuid.UUID) payments.Charge {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.charges[id]
	ch.Status = payments.ChargeSucceeded
	c.charges[id] = ch
	return ch
}

func (c *recordingCharger) charge(id uuid.UUID) (payments.Charge, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.charges[id]
	return ch, ok
}

// bookingE2E runs BookingLifecycle on the Temporal dev server with a worker of the test's own
// task queue over the real PostgreSQL.
type bookingE2E struct {
	db      *pgxpool.Pool
	svc     *bookings.Service
	charger *recordingCharger
	tc      client.Client
	queue   string
	tutorID uuid.UUID
	tutor   bookings.Actor
	student bookings.Actor
	slot    int
}

func newBookingE2E(t testing.TB, hold time.Duration) *bookingE2E {
	t.Helper()
	db := testenv.Postgres(t)
	tc, queue := testenv.Temporal(t)
	e := &bookingE2E{db: db, svc: bookings.New(db, bookings.Options{HoldFor: hold}), charger: newRecordingCharger(), tc: tc, queue: queue}
	w := worker.New(tc, queue, worker.Options{})
	workflows.RegisterBookings(w)
	activities.RegisterBookings(w, &activities.BookingActivities{Bookings: e.svc, Charger: e.charger})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e.addParties(t)
	return e
}

// addParties stores the booking's two sides: a student and a tutor whose published profile
// (60.00 EUR an hour, UTC) is available all day every day.
func (e *bookingE2E) addParties(t testing.TB) {
	t.Helper()
	ctx, db := context.Background(), e.db
	user := func() uuid.UUID {
		id := uuid.New()
		if _, err := db.Exec(ctx, "INSERT INTO users (id, email) VALUES ($1, $2)", id, id.String()+"@example.com"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	e.tutor, e.student = bookings.Actor{UserID: user()}, bookings.Actor{UserID: user()}
	if err := db.QueryRow(ctx, `INSERT INTO tutors (user_id, headline, bio, hourly_rate_minor, currency, time_zone, availability, published)
		SELECT $1, 'Maths', 'Bio', 6000, 'EUR', 'UTC', jsonb_agg(jsonb_build_object('day', d, 'start', 0, 'end', 1440)), true
		FROM generate_series(1, 7) AS d RETURNING id`, e.tutor.UserID).Scan(&e.tutorID); err != nil {
		t.Fatal(err)
	}
}

// request books the next free hour two days ahead and starts its lifecycle as the relay does
// for booking.requested.
func (e *bookingE2E) request(t testing.TB) bookings.Booking {
	t.Helper()
	e.slot++
	start := time.Now().UTC().Truncate(time.Hour).Add(48*time.Hour + time.Duration(e.slot)*time.Hour)
	b, err := e.svc.RequestBooking(context.Background(), e.student, bookings.Request{TutorID: e.tutorID, Start: start, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.start(t, workflows.BookingLifecycleID(b.ID), workflows.BookingLifecycleName, b.ID)
	t.Logf("booking %s: workflow %s", b.ID, workflows.BookingLifecycleID(b.ID))
	return b
}

// start starts a workflow as the relay does (its id, REJECT_DUPLICATE).
func (e *bookingE2E) start(t testing.TB, id, name string, booking uuid.UUID) {
	t.Helper()
	if _, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: id, TaskQueue: e.queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, name, workflows.BookingLifecycleInput{BookingID: booking}); err != nil {
		t.Fatal(err)
	}
}

// changed delivers a person's change as the relay does: it starts SignalBooking from the
// change's event.
func (e *bookingE2E) changed(t testing.TB, booking uuid.UUID) {
	t.Helper()
	e.start(t, "SignalBooking/"+booking.String()+"/"+uuid.NewString(), workflows.SignalBookingName, booking)
}

// await polls the booking until ok holds, or fails after a deadline.
func (e *bookingE2E) await(t testing.TB, id uuid.UUID, what string, ok func(bookings.Booking) bool) bookings.Booking {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := e.svc.Load(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s: %s did not happen; it is %s (charge %q)", id, what, b.State, b.ChargeStatus)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a synchronisation
	}
}

func (e *bookingE2E) result(t *testing.T, id uuid.UUID) bookings.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.BookingLifecycleResult
	if err := e.tc.GetWorkflow(ctx, workflows.BookingLifecycleID(id), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res.State
}

// TestBookingLifecycleEndToEnd: request -> accept -> the charge starts -> payments' real
// signal charge-succeeded (sent twice, as a repeated webhook would) -> confirmed once, the
// client secret visible to the student only -> the student cancels more than a day ahead ->
// a full refund, once.
func TestBookingLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	e := newBookingE2E(t, time.Hour)
	ctx := context.Background()
	b := e.request(t)
	if _, err := e.svc.Accept(ctx, e.tutor, b.ID); err != nil {
		t.Fatal(err)
	}
	e.changed(t, b.ID)
	e.await(t, b.ID, "charge started", func(b bookings.Booking) bool { return b.ChargeStatus == payments.ChargePending })
	svc := bookings.New(e.db, bookings.Options{Charger: e.charger})
	if got, err := svc.Get(ctx, e.student, b.ID); err != nil || got.ClientSecret == "" {
		t.Fatalf("the student sees no client secret: %v", err)
	}
	if got, err := svc.Get(ctx, e.tutor, b.ID); err != nil || got.ClientSecret != "" {
		t.Fatalf("the tutor sees the client secret: %v", err)
	}
	ch := e.charger.succeed(b.ID)
	for range 2 {
		if err := e.tc.SignalWorkflow(ctx, workflows.BookingLifecycleID(b.ID), "", payments.SignalChargeSucceeded, payments.Outcome{
			BookingID: b.ID, ChargeID: ch.ID, Status: payments.ChargeSucceeded, AmountMinor: ch.AmountMinor, Currency: ch.Currency,
		}); err != nil {
			t.Fatal(err)
		}
	}
	e.await(t, b.ID, "confirmed", func(b bookings.Booking) bool { return b.State == bookings.StateConfirmed })
	if _, err := e.svc.Cancel(ctx, e.student, b.ID, "plans changed"); err != nil {
		t.Fatal(err)
	}
	e.changed(t, b.ID)
	if got := e.result(t, b.ID); got != bookings.StateCancelled {
		t.Fatalf("final state %s", got)
	}
	e.charger.mu.Lock()
	refunds := e.charger.refunds[b.ID]
	e.charger.mu.Unlock()
	if len(refunds) != 1 || refunds[0] != b.PriceMinor {
		t.Fatalf("refunds %v, want one of %d", refunds, b.PriceMinor)
	}
	var confirmed int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2`, b.ID, bookings.EventConfirmed).Scan(&confirmed); err != nil {
		t.Fatal(err)
	}
	if confirmed != 1 {
		t.Fatalf("booking.confirmed recorded %d times, want once", confirmed)
	}
}

// TestBookingHoldExpiresEndToEnd: an accepted booking nobody pays expires when its (short)
// hold ends; its charge is cancelled and the slot is free for another student.
func TestBookingHoldExpiresEndToEnd(t *testing.T) {
	t.Parallel()
	e := newBookingE2E(t, 2*time.Second)
	ctx := context.Background()
	b := e.request(t)
	if _, err := e.svc.Accept(ctx, e.tutor, b.ID); err != nil {
		t.Fatal(err)
	}
	e.changed(t, b.ID)
	if got := e.result(t, b.ID); got != bookings.StateExpired {
		t.Fatalf("final state %s, want expired", got)
	}
	if ch, ok := e.charger.charge(b.ID); !ok || ch.Status != payments.ChargeCanceled {
		t.Fatalf("charge %+v (exists %v), want canceled", ch, ok)
	}
	if _, err := e.svc.RequestBooking(ctx, e.student, bookings.Request{TutorID: e.tutorID, Start: b.StartsAt, Duration: time.Hour}); err != nil {
		t.Fatalf("the expired hold still blocks the slot: %v", err)
	}
	// A payment after the end cannot reach the closed run: payments must refund it itself
	// (docs/design-notes.md).
	if err := e.tc.SignalWorkflow(ctx, workflows.BookingLifecycleID(b.ID), "", payments.SignalChargeSucceeded, payments.Outcome{BookingID: b.ID}); err == nil {
		t.Fatal("a closed lifecycle took a signal")
	}
}
