package faulttest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
)

// TestWorkerKilledBetweenWebhookAndEffect stores signed-and-verified payment_intent.succeeded
// events (as POST /webhooks/stripe does, each with its outbox row) for charges whose bookings
// no longer run, and kills the worker applying them part way. Another worker finishes: every
// charge ends refunded in full exactly once (one refund, one charge journal and one refund
// journal each), and the ledger balances.
func TestWorkerKilledBetweenWebhookAndEffect(t *testing.T) {
	s := newStack(t)
	stripeURL := testenv.Stripe(t)
	ctx := context.Background()
	svc := payments.New(s.pool, payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	const n = 40
	charges := make([]payments.Charge, 0, n)
	for range n {
		c, err := svc.StartCharge(ctx, payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 4_000, Currency: "eur"})
		if err != nil {
			t.Fatal(err)
		}
		charges = append(charges, c)
	}
	for _, c := range charges {
		body, _ := json.Marshal(map[string]any{"id": "evt_" + uuid.NewString()[:24], "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(),
			"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": "succeeded"}}})
		if r, err := svc.StoreEvent(ctx, body); err != nil || r != payments.Stored {
			t.Fatalf("StoreEvent = %v, %v", r, err)
		}
	}
	env := s.workerEnv("TUTORHUB_STRIPE_API_URL="+stripeURL, "TUTORHUB_STRIPE_SECRET_KEY="+testenv.StripeKey)
	first := startWorker(t, "first", env, "--queues", "payments")
	eventually(t, time.Minute, "some charges are applied", func() bool {
		return s.count(`SELECT count(*) FROM payment_charges WHERE status <> 'pending'`) >= 3
	})
	first.kill()
	if done := s.count(`SELECT count(*) FROM payment_charges WHERE status = 'refunded'`); done >= n {
		t.Fatalf("all %d charges were refunded before the kill; the test proves nothing", done)
	}
	startWorker(t, "second", env, "--queues", "payments")
	eventually(t, 3*time.Minute, "every charge ends refunded after the kill", func() bool {
		return s.count(`SELECT count(*) FROM payment_charges WHERE status = 'refunded'`) == n
	})
	if got := s.count(`SELECT count(*) FROM payment_refunds WHERE amount_minor = 4000`); got != n {
		t.Errorf("%d full refunds for %d charges", got, n)
	}
	if got := s.count(`SELECT count(*) FROM (SELECT charge_id FROM ledger_journals GROUP BY charge_id, kind HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d charges have a journal of one kind more than once", got)
	}
	if got := s.count(`SELECT count(*) FROM ledger_journals`); got != 2*n {
		t.Errorf("%d journals, want a charge and a refund journal for each of %d charges", got, n)
	}
	if got := s.count(`SELECT count(*) FROM (SELECT currency FROM ledger_entries GROUP BY currency HAVING sum(amount_minor) <> 0) d`); got != 0 {
		t.Errorf("%d currencies do not balance", got)
	}
}
