package workflows_test

import (
	"context"
	"encoding/json"
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
// inside the free window and the full refund is recorded once; Reconcile reports no drift.
func TestBookingPaidThroughStripeEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "whsec_e2e_0123456789abcdef"
	ctx := context.Background()
	e := newBookingE2E(t, time.Hour)
	pay := payments.New(e.db, payments.Options{StripeAPIURL: testenv.Stripe(t), StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	// A second worker on its own queue runs bookings over the real payments service and
	// PaymentWebhook, as `tutorhub worker --queues bookings,payments` does.
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

	b := e.request(t)
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
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.PaymentWebhookID(evt), TaskQueue: queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
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
	if bal, err := pay.TutorBalance(ctx, e.tutorID, c.Currency); err != nil || bal != b.PriceMinor-b.PriceMinor/10 {
		t.Fatalf("tutor balance %d (%v), want the price less the 10%% fee", bal, err)
	}

	if _, err := e.svc.Cancel(ctx, e.student, b.ID, "plans changed"); err != nil {
		t.Fatal(err)
	}
	e.changed(t, b.ID)
	if got := e.result(t, b.ID); got != bookings.StateCancelled {
		t.Fatalf("final state %s", got)
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

	// Reconcile, as its schedule starts it, finds the provider's records, the charge and its
	// journals in agreement.
	rid := "reconcile-e2e/" + uuid.NewString()
	t.Logf("run %s", rid)
	rrun, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, workflows.ReconcileName, workflows.ReconcileInput{Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var report payments.Report
	if err := rrun.Get(ctx, &report); err != nil {
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
