package workflows_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestBookingPaidThroughStripeEndToEnd wires bookings to the real payments service over
// stripe-mock: request -> accept -> the charge's PaymentIntent -> a payment_intent.succeeded
// event signed the way Stripe signs it, verified and stored as POST /webhooks/stripe does ->
// PaymentWebhook -> the booking confirmed -> a balanced ledger; then the student cancels
// inside the free window and the full refund is recorded once, and shown on the booking once it
// landed (refunded_minor); Reconcile reports no drift.
func TestBookingPaidThroughStripeEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pay := newStripeE2E(t)
	b := e.request(t)
	c := e.payThroughStripe(t, pay, b)
	if bal, err := pay.TutorBalance(ctx, e.tutorID, c.Currency); err != nil || bal != b.PriceMinor-b.PriceMinor/10 {
		t.Fatalf("tutor balance %d (%v), want the price less the 10%% fee", bal, err)
	}

	e.assertRefunded(t, b.ID, 0)
	cancelled, err := e.svc.Cancel(ctx, e.student, b.ID, "plans changed")
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.RefundMinor != b.PriceMinor || cancelled.RefundedMinor != 0 {
		t.Fatalf("Cancel: refund %d due, %d refunded; want %d due, none refunded yet", cancelled.RefundMinor, cancelled.RefundedMinor, b.PriceMinor)
	}
	e.changed(t, b.ID)
	if got := e.result(t, b.ID); got != bookings.StateCancelled {
		t.Fatalf("final state %s", got)
	}
	if got := e.assertRefunded(t, b.ID, b.PriceMinor); got.ChargeStatus != payments.ChargeRefunded {
		t.Fatalf("charge status %q after the full refund, want refunded", got.ChargeStatus)
	}
	var refunds int
	var refunded int64
	if err := e.db.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount_minor), 0) FROM payment_refunds WHERE charge_id = $1`, c.ID).Scan(&refunds, &refunded); err != nil {
		t.Fatal(err)
	}
	if refunds != 1 || refunded != b.PriceMinor {
		t.Fatalf("%d refunds of %d in all, want one of %d", refunds, refunded, b.PriceMinor)
	}
	assertLedgerBalances(t, e, c.ID)
	e.reconcile(t)
}

// TestBookingCancelledLateThroughStripeEndToEnd cancels paid bookings after the free window,
// through the real payments service over stripe-mock: the student who cancels 12 hours
// before the lesson gets half back, recorded once (one refund, one refund journal whose
// lines split the refund between the tutor and the platform's fee); the student who cancels
// an hour before gets nothing (no refund, no refund journal, the charge stays paid). The
// booking's refunded amount is 0 when Cancel returns and what was refunded once it landed. The
// policy reads the clock of the bookings service the cancellation goes through (Options.Now),
// as the API's would at that moment. Reconcile reports no drift.
func TestBookingCancelledLateThroughStripeEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pay := newStripeE2E(t)
	cases := []struct {
		name   string
		before time.Duration
		refund func(price int64) int64
	}{
		{"twelve hours before: half back", 12 * time.Hour, func(p int64) int64 { return p / 2 }},
		{"an hour before: nothing back", time.Hour, func(int64) int64 { return 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.request(t)
			c := e.payThroughStripe(t, pay, b)
			want := tc.refund(b.PriceMinor)
			late := bookings.New(e.db, bookings.Options{Now: func() time.Time { return b.StartsAt.Add(-tc.before) }})
			got, err := late.Cancel(ctx, e.student, b.ID, "plans changed")
			if err != nil || got.RefundMinor != want || got.RefundedMinor != 0 {
				t.Fatalf("Cancel: refund %d due, %d refunded (%v); want %d due, none refunded yet", got.RefundMinor, got.RefundedMinor, err, want)
			}
			e.changed(t, b.ID)
			if st := e.result(t, b.ID); st != bookings.StateCancelled {
				t.Fatalf("final state %s", st)
			}
			e.assertRefunded(t, b.ID, want)

			var refunds int
			var refunded int64
			if err := e.db.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount_minor), 0) FROM payment_refunds WHERE charge_id = $1`, c.ID).Scan(&refunds, &refunded); err != nil {
				t.Fatal(err)
			}
			if refunds != min(1, int(want)) || refunded != want {
				t.Fatalf("%d refunds of %d in all, want %d of %d", refunds, refunded, min(1, int(want)), want)
			}
			after, err := pay.GetCharge(ctx, b.ID)
			if err != nil || after.Status != payments.ChargeSucceeded {
				t.Fatalf("charge %s (%v) after a partial or no refund, want it still succeeded", after.Status, err)
			}
			var chargeRefunded int64
			if err := e.db.QueryRow(ctx, `SELECT refunded_minor FROM payment_charges WHERE id = $1`, c.ID).Scan(&chargeRefunded); err != nil || chargeRefunded != want {
				t.Fatalf("the charge's refunded total is %d (%v), want %d", chargeRefunded, err, want)
			}

			// The ledger: one charge journal, and for a refund r of price A with fee F one
			// refund journal of refunds +r -r, provider_clearing -r, platform_fees +F*r/A
			// and the tutor's payable +(r - F*r/A).
			fee := payments.PlatformFee(b.PriceMinor, 1000)
			feePart := fee * want / b.PriceMinor
			lines := map[string]int64{}
			rows, err := e.db.Query(ctx, `SELECT j.kind || ' ' || e.account, sum(e.amount_minor) FROM ledger_journals j
				JOIN ledger_entries e ON e.journal_id = j.id WHERE j.charge_id = $1 GROUP BY 1`, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var k string
				var v int64
				if err := rows.Scan(&k, &v); err != nil {
					t.Fatal(err)
				}
				lines[k] = v
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			payable := payments.TutorPayable(e.tutorID)
			wantLines := map[string]int64{
				"charge_succeeded " + payments.AccountProviderClearing: b.PriceMinor,
				"charge_succeeded " + payments.AccountStudentCharges:   0,
				"charge_succeeded " + payments.AccountPlatformFees:     -fee,
				"charge_succeeded " + payable:                          -(b.PriceMinor - fee),
			}
			if want > 0 {
				wantLines["refund "+payments.AccountRefunds] = 0
				wantLines["refund "+payments.AccountProviderClearing] = -want
				wantLines["refund "+payments.AccountPlatformFees] = feePart
				wantLines["refund "+payable] = want - feePart
			}
			if !maps.Equal(lines, wantLines) {
				t.Fatalf("ledger lines of the charge (kind account: sum):\n got %v\nwant %v", lines, wantLines)
			}
			journals := map[string]int{}
			for _, kind := range []string{"charge_succeeded", "refund"} {
				var n int
				if err := e.db.QueryRow(ctx, `SELECT count(*) FROM ledger_journals WHERE charge_id = $1 AND kind = $2`, c.ID, kind).Scan(&n); err != nil {
					t.Fatal(err)
				}
				journals[kind] = n
			}
			if journals["charge_succeeded"] != 1 || journals["refund"] != min(1, int(want)) {
				t.Fatalf("journals %v, want one charge journal and %d refund journal", journals, min(1, int(want)))
			}
			assertLedgerBalances(t, e, c.ID)
		})
	}
	// Two lessons of 60.00 with a 10 % fee, one half refunded: 2 x 54.00 - (30.00 - 3.00).
	if bal, err := pay.TutorBalance(ctx, e.tutorID, "eur"); err != nil || bal != 2*5_400-2_700 {
		t.Fatalf("the tutor is owed %d (%v), want %d", bal, err, 2*5_400-2_700)
	}
	e.reconcile(t)
}

// newStripeE2E is a booking end to end over the real payments service and stripe-mock: a
// second worker on its own queue runs bookings over the real payments service and
// PaymentWebhook, as `tutorhub worker --queues bookings,payments` does (a 10 % fee).
func newStripeE2E(t *testing.T) (*bookingE2E, *payments.Service) {
	t.Helper()
	e := newBookingE2E(t, time.Hour)
	pay := payments.New(e.db, payments.Options{StripeAPIURL: testenv.Stripe(t), StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	tc, queue := testenv.Temporal(t)
	w := worker.New(tc, queue, worker.Options{})
	workflows.RegisterBookings(w)
	activities.RegisterBookings(w, &activities.BookingActivities{Bookings: e.svc, Charger: pay})
	workflows.RegisterPayments(w)
	activities.RegisterPayments(w, &activities.PaymentActivities{Payments: pay, Temporal: tc})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e.tc, e.queue = tc, queue
	return e, pay
}

// assertRefunded checks that every read of the booking (Get as its student, the student's and
// the tutor's lists) says its charge has refunded minor units refunded, and returns the
// student's view.
func (e *bookingE2E) assertRefunded(t *testing.T, id uuid.UUID, refunded int64) bookings.Booking {
	t.Helper()
	ctx := context.Background()
	got, err := e.svc.Get(ctx, e.student, id)
	if err != nil || got.RefundedMinor != refunded {
		t.Fatalf("Get: refunded %d (%v), want %d", got.RefundedMinor, err, refunded)
	}
	for _, as := range []struct {
		party bookings.Party
		actor bookings.Actor
	}{{bookings.PartyStudent, e.student}, {bookings.PartyTutor, e.tutor}} {
		list, err := e.svc.List(ctx, bookings.ListFilter{UserID: as.actor.UserID, As: as.party, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(b bookings.Booking) bool { return b.ID == id })
		if i < 0 || list[i].RefundedMinor != refunded {
			t.Fatalf("the %s's list: booking at %d of %d, want it with %d refunded", as.party, i, len(list), refunded)
		}
	}
	return got
}

// payThroughStripe takes a requested booking to confirmed the way production does: the tutor
// accepts, the workflow creates the charge's PaymentIntent, and a payment_intent.succeeded
// event signed the way Stripe signs it is verified and stored (delivered twice) as POST
// /webhooks/stripe does; PaymentWebhook applies it and signals the booking. It returns the
// charge, checked against the booking and its ledger balanced.
func (e *bookingE2E) payThroughStripe(t *testing.T, pay *payments.Service, b bookings.Booking) payments.Charge {
	t.Helper()
	const secret = "whsec_e2e_0123456789abcdef"
	ctx := context.Background()
	if _, err := e.svc.Accept(ctx, e.tutor, b.ID); err != nil {
		t.Fatal(err)
	}
	e.changed(t, b.ID)
	e.await(t, b.ID, "charge started", func(b bookings.Booking) bool { return b.ChargeStatus == payments.ChargePending })
	c, err := pay.GetCharge(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.AmountMinor != b.PriceMinor || c.ProviderID == "" {
		t.Fatalf("charge %+v for a booking of %d", c, b.PriceMinor)
	}

	evt := "evt_" + uuid.NewString()[:24]
	body, _ := json.Marshal(map[string]any{"id": evt, "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": "succeeded"}}})
	header := payments.Sign(body, secret, time.Now())
	if err := payments.VerifySignature(body, header, []string{"whsec_old_0123456789abcdef", secret}, 5*time.Minute, time.Now()); err != nil {
		t.Fatalf("a signature made the way Stripe makes it is refused: %v", err)
	}
	for range 2 { // a repeated delivery is a duplicate
		if _, err := pay.StoreEvent(ctx, body); err != nil {
			t.Fatal(err)
		}
	}
	// The relay starts PaymentWebhook from the event's outbox row.
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.PaymentWebhookID(evt), TaskQueue: e.queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.PaymentWebhookName, workflows.PaymentWebhookInput{ProviderEventID: evt, Type: payments.EventPaymentSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.PaymentWebhookResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Signal != payments.SignalChargeSucceeded || res.Refunded {
		t.Fatalf("PaymentWebhook %+v", res)
	}
	e.await(t, b.ID, "confirmed", func(b bookings.Booking) bool { return b.State == bookings.StateConfirmed })
	assertLedgerBalances(t, e, c.ID)
	return c
}

// reconcile runs Reconcile, as its schedule starts it, and fails unless it finds the
// provider's records, the charges and their journals in agreement.
func (e *bookingE2E) reconcile(t *testing.T) {
	t.Helper()
	rid := "reconcile-e2e/" + uuid.NewString()
	t.Logf("run %s", rid)
	rrun, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: rid, TaskQueue: e.queue}, workflows.ReconcileName, workflows.ReconcileInput{Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var report payments.Report
	if err := rrun.Get(context.Background(), &report); err != nil {
		t.Fatal(err)
	}
	if report.Checked == 0 || report.DriftCount != 0 {
		t.Fatalf("Reconcile checked %d, drift %d: %+v", report.Checked, report.DriftCount, report.Drift)
	}
}

// assertLedgerBalances checks every journal of the charge sums to zero per currency.
func assertLedgerBalances(t *testing.T, e *bookingE2E, charge uuid.UUID) {
	t.Helper()
	var journals, unbalanced int
	if err := e.db.QueryRow(context.Background(), `SELECT count(DISTINCT j.id), count(*) FILTER (WHERE s <> 0) FROM ledger_journals j
		JOIN LATERAL (SELECT sum(amount_minor) AS s FROM ledger_entries WHERE journal_id = j.id GROUP BY currency) x ON true
		WHERE j.charge_id = $1`, charge).Scan(&journals, &unbalanced); err != nil {
		t.Fatal(err)
	}
	if journals == 0 || unbalanced != 0 {
		t.Fatalf("charge %s: %d journals, %d unbalanced", charge, journals, unbalanced)
	}
}
