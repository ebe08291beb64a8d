package faulttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/workflows"
)

// The market's prices: a tutor at 60.00 EUR an hour, hour-long lessons, a 10 % platform fee.
const (
	lessonPriceMinor = 6_000
	feeBPS           = 1_000
)

// market is a fault test's booking world on its stack: one published tutor bookable all
// day, students who book an hour each, the bookings service people act through (the API's
// writes, each with its outbox event) and a payments service on the same database that
// stores the provider's webhooks as POST /webhooks/stripe does. The booking workflows and
// the payment webhooks run in the `tutorhub worker` processes each test starts.
type market struct {
	s         *stack
	stripeURL string
	bookings  *bookings.Service
	pay       *payments.Service
	tutorID   uuid.UUID
	tutor     bookings.Actor
	booked    []booking
}

// booking is one booked lesson and its student.
type booking struct {
	bookings.Booking
	student bookings.Actor
}

func (s *stack) newMarket(stripeURL string) *market {
	s.t.Helper()
	m := &market{s: s, stripeURL: stripeURL, bookings: bookings.New(s.pool, bookings.Options{}),
		pay: payments.New(s.pool, payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: feeBPS})}
	m.tutor = bookings.Actor{UserID: m.user()}
	if err := s.pool.QueryRow(context.Background(), `INSERT INTO tutors (user_id, headline, bio, hourly_rate_minor, currency, time_zone, availability, published)
		SELECT $1, 'Maths', 'Bio', $2, 'EUR', 'UTC', jsonb_agg(jsonb_build_object('day', d, 'start', 0, 'end', 1440)), true
		FROM generate_series(1, 7) AS d RETURNING id`, m.tutor.UserID, lessonPriceMinor).Scan(&m.tutorID); err != nil {
		s.t.Fatal(err)
	}
	return m
}

func (m *market) user() uuid.UUID {
	m.s.t.Helper()
	id := uuid.New()
	if err := queries.New(m.s.pool).EnsureUser(context.Background(), queries.EnsureUserParams{ID: id, Email: id.String() + "@example.com", DisplayName: "User " + id.String()[:8]}); err != nil {
		m.s.t.Fatal(err)
	}
	return id
}

// workerEnv is the environment of a worker that serves the market's queues over the provider
// at stripeURL.
func (m *market) workerEnv() []string {
	return m.s.workerEnv("TUTORHUB_STRIPE_API_URL="+m.stripeURL, "TUTORHUB_STRIPE_SECRET_KEY="+testenv.StripeKey,
		"TUTORHUB_PAYMENTS_PLATFORM_FEE_BPS="+strconv.Itoa(feeBPS))
}

// request books n lessons, each by a student of its own, at consecutive hours two days
// ahead (well before the reminders and the free-cancellation cutoff).
func (m *market) request(n int) {
	m.s.t.Helper()
	first := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	for range n {
		student := bookings.Actor{UserID: m.user()}
		b, err := m.bookings.RequestBooking(context.Background(), student, bookings.Request{
			TutorID: m.tutorID, Start: first.Add(time.Duration(len(m.booked)) * time.Hour), Duration: time.Hour})
		if err != nil {
			m.s.t.Fatal(err)
		}
		m.booked = append(m.booked, booking{Booking: b, student: student})
	}
}

// acceptAll has the tutor accept every booking.
func (m *market) acceptAll() {
	m.s.t.Helper()
	for _, b := range m.booked {
		if _, err := m.bookings.Accept(context.Background(), m.tutor, b.ID); err != nil {
			m.s.t.Fatal(err)
		}
	}
}

// count is the number of bookings in state.
func (m *market) count(state bookings.State) int {
	return m.s.count(`SELECT count(*) FROM bookings WHERE state = $1`, string(state))
}

// charges returns every booking's charge once each has its PaymentIntent.
func (m *market) charges(within time.Duration) []payments.Charge {
	m.s.t.Helper()
	eventually(m.s.t, within, "every booking's charge has its PaymentIntent", func() bool {
		return m.s.count(`SELECT count(*) FROM payment_charges WHERE provider_id IS NOT NULL`) == len(m.booked)
	})
	out := make([]payments.Charge, 0, len(m.booked))
	for _, b := range m.booked {
		c, err := m.pay.GetCharge(context.Background(), b.ID)
		if err != nil {
			m.s.t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// paid stores, as POST /webhooks/stripe does after verifying the signature, Stripe's
// payment_intent.succeeded for each charge, and returns the event ids.
func (m *market) paid(charges []payments.Charge) []string {
	m.s.t.Helper()
	ids := make([]string, 0, len(charges))
	for _, c := range charges {
		id := "evt_" + uuid.NewString()[:24]
		if r := m.deliver(id, c); r != payments.Stored {
			m.s.t.Fatalf("the first delivery of %s was %v, want stored", id, r)
		}
		ids = append(ids, id)
	}
	return ids
}

// deliver stores the event id saying charge c succeeded: stored the first time, a duplicate
// after.
func (m *market) deliver(id string, c payments.Charge) payments.StoreResult {
	m.s.t.Helper()
	body, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": "succeeded"}}})
	if err != nil {
		m.s.t.Fatal(err)
	}
	r, err := m.pay.StoreEvent(context.Background(), body)
	if err != nil {
		m.s.t.Fatalf("StoreEvent %s: %v", id, err)
	}
	return r
}

// outcome is what a booking must end as: its state, and what the policy refunds of it.
type outcome struct {
	state  bookings.State
	refund int64
}

// checkPaidOnce is the count every booking fault test ends with: each booking is in its
// state; its charge has one PaymentIntent, succeeded (or refunded in full) with the refund
// it is owed; each event was applied once by one completed PaymentWebhook run, each
// booking confirmed once; one charge journal per charge and one refund journal per refund;
// every journal balances and the tutor is owed exactly the sum of what is left; nothing is
// pending or parked in the outbox; and Reconcile, run by the worker, reports no drift.
func (m *market) checkPaidOnce(events []string, want map[uuid.UUID]outcome, within time.Duration) {
	t := m.s.t
	t.Helper()
	ctx := context.Background()
	eventually(t, within, "every booking reaches its state", func() bool {
		for _, b := range m.booked {
			got, err := m.bookings.Load(ctx, b.ID)
			if err != nil || got.State != want[b.ID].state {
				return false
			}
		}
		return true
	})
	eventually(t, within, "every refund is recorded", func() bool {
		return m.s.count(`SELECT count(*) FROM ledger_journals WHERE kind = 'refund'`) == refunds(want)
	})
	eventually(t, within, "the outbox is drained", func() bool { return m.s.pending() == 0 })

	var owed int64
	for _, b := range m.booked {
		w := want[b.ID]
		c, err := m.pay.GetCharge(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := payments.ChargeSucceeded
		if w.refund == c.AmountMinor {
			wantStatus = payments.ChargeRefunded
		}
		var refunded int64
		var refundRows int
		if err := m.s.pool.QueryRow(ctx, `SELECT c.refunded_minor, (SELECT count(*) FROM payment_refunds r WHERE r.charge_id = c.id)
			FROM payment_charges c WHERE c.id = $1`, c.ID).Scan(&refunded, &refundRows); err != nil {
			t.Fatal(err)
		}
		if c.ProviderID == "" || c.Status != wantStatus || refunded != w.refund || refundRows != min(1, int(w.refund)) {
			t.Errorf("booking %s (%s): charge %s %s with %d refunded in %d refunds; want %s with %d refunded in %d",
				b.ID, w.state, c.ProviderID, c.Status, refunded, refundRows, wantStatus, w.refund, min(1, int(w.refund)))
		}
		fee := payments.PlatformFee(c.AmountMinor, feeBPS)
		owed += (c.AmountMinor - fee) - (w.refund - fee*w.refund/c.AmountMinor)
		if n := m.s.count(`SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2`, b.ID, bookings.EventConfirmed); n != 1 {
			t.Errorf("booking %s was confirmed %d times, want once", b.ID, n)
		}
	}
	if n := m.s.count(`SELECT count(*) FROM payment_charges`); n != len(m.booked) {
		t.Errorf("%d charges for %d bookings", n, len(m.booked))
	}
	if n := m.s.count(`SELECT count(*) FROM ledger_journals WHERE kind = 'charge_succeeded'`); n != len(m.booked) {
		t.Errorf("%d charge journals for %d paid bookings", n, len(m.booked))
	}
	if n := m.s.count(`SELECT count(*) FROM (SELECT 1 FROM ledger_journals GROUP BY charge_id, kind HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d charges have a journal of one kind more than once", n)
	}
	if n := m.s.count(`SELECT count(*) FROM (SELECT 1 FROM ledger_entries GROUP BY journal_id, currency HAVING sum(amount_minor) <> 0) d`); n != 0 {
		t.Errorf("%d journals do not balance", n)
	}
	if got, err := m.pay.TutorBalance(ctx, m.tutorID, "eur"); err != nil || got != owed {
		t.Errorf("the tutor is owed %d (%v), want %d", got, err, owed)
	}
	if n := m.s.count(`SELECT count(*) FROM payment_events WHERE status = 'applied'`); n != len(events) {
		t.Errorf("%d events applied, want %d", n, len(events))
	}
	if n := m.s.count(`SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL`); n != 0 {
		t.Errorf("%d outbox events parked", n)
	}
	m.checkWebhookRuns(events, within)

	run, err := m.s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "reconcile-faulttest/" + uuid.NewString(), TaskQueue: workflows.QueuePayments},
		workflows.ReconcileName, workflows.ReconcileInput{Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var report payments.Report
	if err := run.Get(rctx, &report); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if report.Checked < len(m.booked) || report.DriftCount != 0 {
		t.Errorf("Reconcile checked %d for %d charges and found %d drift: %+v", report.Checked, len(m.booked), report.DriftCount, report.Drift)
	}
}

// refunds is the number of bookings owed a refund.
func refunds(want map[uuid.UUID]outcome) int {
	n := 0
	for _, w := range want {
		if w.refund > 0 {
			n++
		}
	}
	return n
}

// checkWebhookRuns checks Temporal holds exactly one PaymentWebhook run per event, under the
// id derived from it, completed.
func (m *market) checkWebhookRuns(events []string, within time.Duration) {
	t := m.s.t
	t.Helper()
	runs := map[string][]enumspb.WorkflowExecutionStatus{}
	list := func() {
		clear(runs)
		var token []byte
		for {
			resp, err := m.s.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				PageSize: 1000, NextPageToken: token, Query: "WorkflowType = '" + workflows.PaymentWebhookName + "'"})
			if err != nil {
				t.Fatalf("list workflows: %v", err)
			}
			for _, e := range resp.GetExecutions() {
				runs[e.GetExecution().GetWorkflowId()] = append(runs[e.GetExecution().GetWorkflowId()], e.GetStatus())
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				return
			}
		}
	}
	completed := func() bool {
		list()
		for _, id := range events {
			if got := runs[workflows.PaymentWebhookID(id)]; len(got) != 1 || got[0] != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				return false
			}
		}
		return len(runs) == len(events)
	}
	deadline := time.Now().Add(within)
	for !completed() {
		if time.Now().After(deadline) {
			var bad []string
			for _, id := range events {
				if got := runs[workflows.PaymentWebhookID(id)]; len(got) != 1 || got[0] != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
					bad = append(bad, fmt.Sprintf("%s: %v", id, got))
				}
			}
			t.Fatalf("want one completed PaymentWebhook run per event (%d), Temporal lists %d runs; off: %v", len(events), len(runs), bad)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// TestTemporalRestartWhileBookingsArePaid kills the Temporal server (SIGKILL) while booked
// lessons are being paid, stores more of the provider's webhooks while it is down (and
// delivers the earlier ones again), and starts it again on the same database file: the relay
// retries the starts that failed, the worker reconnects, and every booking is confirmed
// once, with one charge journal each, a balanced ledger and no drift.
func TestTemporalRestartWhileBookingsArePaid(t *testing.T) {
	s := newStack(t)
	m := s.newMarket(testenv.Stripe(t))
	worker := startWorker(t, "worker", m.workerEnv(), "--queues", workflows.QueueBookings+","+workflows.QueuePayments)
	const n = 12
	m.request(n)
	m.acceptAll()
	charges := m.charges(time.Minute)

	events := m.paid(charges[:n/2])
	eventually(t, time.Minute, "a first booking is confirmed", func() bool { return m.count(bookings.StateConfirmed) > 0 })
	s.temporal.kill()
	t.Logf("%d of %d bookings confirmed at the kill", m.count(bookings.StateConfirmed), n)
	events = append(events, m.paid(charges[n/2:])...)
	for i, id := range events[:n/2] { // Stripe delivering again while tutorhub's side is down
		if r := m.deliver(id, charges[i]); r != payments.Duplicate {
			t.Fatalf("a repeated delivery of %s was %v, want a duplicate", id, r)
		}
	}
	eventually(t, time.Minute, "the relay finds Temporal down and defers an event", func() bool {
		return s.count("SELECT count(*) FROM outbox WHERE attempts > 0") > 0
	})
	if c := m.count(bookings.StateConfirmed); c >= n {
		t.Fatalf("all %d bookings were confirmed with Temporal down", c)
	}
	s.temporal.start()

	want := map[uuid.UUID]outcome{}
	for _, b := range m.booked {
		want[b.ID] = outcome{state: bookings.StateConfirmed}
	}
	m.checkPaidOnce(events, want, 2*time.Minute)
	select {
	case <-worker.done:
		t.Errorf("the worker exited during the Temporal outage: %v\n%s", worker.err, worker.output())
	default:
	}
}
