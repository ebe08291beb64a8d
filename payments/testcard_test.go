package payments_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/payments"
)

// The test card confirms the PaymentIntent at stripe-mock and hands a payment_intent.succeeded
// event to the webhook's path: stored once (however often and concurrently the student pays)
// with the one outbox row PaymentWebhook starts from, and applied like Stripe's own delivery.
func TestTestCardPaysThroughTheWebhookPath(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	card := &payments.TestCard{Payments: svc, Webhook: payments.WebhookKeys{Secrets: []string{"whsec_testcard_new_0123456789", "whsec_testcard_old_0123456789"}, Tolerance: time.Minute}, ReturnURL: "http://127.0.0.1/bookings"}
	c, req := startCharge(t, svc, 4500)

	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			if _, err := card.Pay(ctx, req); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Pay: %v", err)
	}
	var id, typ, status string
	if err := pool.QueryRow(ctx, `SELECT provider_event_id, event_type, status FROM payment_events`).Scan(&id, &typ, &status); err != nil {
		t.Fatalf("one stored event: %v", err)
	}
	if typ != payments.EventPaymentSucceeded || status != "received" || !strings.HasPrefix(id, "evt_") {
		t.Fatalf("stored %s %s %s", id, typ, status)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE event_type = $1`, payments.EventReceived); n != 1 {
		t.Fatalf("%d outbox rows, want the one PaymentWebhook starts from", n)
	}

	// What PaymentWebhook's activity does with it.
	a, err := svc.ApplyEvent(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Signal != payments.SignalChargeSucceeded || a.Outcome.BookingID != c.BookingID || a.Outcome.AmountMinor != 4500 {
		t.Fatalf("applied %+v", a)
	}
	if got, err := svc.GetCharge(ctx, c.BookingID); err != nil || got.Status != payments.ChargeSucceeded {
		t.Fatalf("charge %+v %v", got, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_journals WHERE charge_id = $1`, c.ID); n != 1 {
		t.Fatalf("%d journals, want 1", n)
	}

	// Paying a paid booking again changes nothing.
	if got, err := card.Pay(ctx, req); err != nil || got.Status != payments.ChargeSucceeded {
		t.Fatalf("paying again: %+v %v", got, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_events`); n != 1 {
		t.Fatalf("%d events after paying again, want 1", n)
	}
}

// A canceled charge is not paid, and a TestCard without a signing secret pays nothing.
func TestTestCardRefuses(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	keys := payments.WebhookKeys{Secrets: []string{"whsec_testcard_0123456789"}, Tolerance: time.Minute}

	_, req := startCharge(t, svc, 3000)
	if _, err := svc.CancelCharge(ctx, req.BookingID); err != nil {
		t.Fatal(err)
	}
	if _, err := (&payments.TestCard{Payments: svc, Webhook: keys}).Pay(ctx, req); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
		t.Fatalf("paying a canceled charge: %v, want %s", err, tutorhub.EPRECONDITION)
	}
	_, req = startCharge(t, svc, 3000)
	// stripe-mock answers every confirmation requires_payment_method: a TestCard that checks
	// the status (as against Stripe itself) refuses it.
	for name, card := range map[string]*payments.TestCard{"nil": nil, "no secret": {Payments: svc}, "not succeeded": {Payments: svc, Webhook: keys, CheckStatus: true}} {
		if _, err := card.Pay(ctx, req); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
			t.Fatalf("%s: %v, want %s", name, err, tutorhub.EPRECONDITION)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_events`); n != 0 {
		t.Fatalf("%d events stored, want none", n)
	}
}
