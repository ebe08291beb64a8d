package payments_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
)

// The payment provider failing for a while (a private stripe-mock stopped, then started):
// each call fails as retryable with nothing half done, and once it is back every charge ends
// right once, the ledger balances and Reconcile finds no drift.
func TestProviderFailingForAWhile(t *testing.T) {
	t.Parallel()
	provider := testenv.NewPrivateStripe(t)
	pool := testenv.Postgres(t)
	svc := payments.New(pool, payments.Options{StripeAPIURL: provider.URL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: feeBPS,
		HTTPClient: &http.Client{Timeout: 2 * time.Second}})
	ctx := context.Background()
	req := payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 6_000, Currency: "gbp"}

	provider.Stop()
	if _, err := svc.StartCharge(ctx, req); tutorhub.ErrorCode(err) != tutorhub.EUNAVAILABLE {
		t.Fatalf("StartCharge with the provider down = %v, want unavailable", err)
	}
	provider.Start()
	c, err := svc.StartCharge(ctx, req) // the activity's next attempt
	if err != nil || c.ProviderID == "" {
		t.Fatalf("StartCharge = %+v, %v", c, err)
	}
	id, body := event(t, payments.EventPaymentSucceeded, time.Now(), piObject(c, "succeeded"))
	storeAndApply(t, svc, body, id)

	provider.Stop()
	if _, err := svc.Refund(ctx, req.BookingID, 2_000, "cancelled"); tutorhub.ErrorCode(err) != tutorhub.EUNAVAILABLE {
		t.Fatalf("Refund with the provider down = %v, want unavailable", err)
	}
	if got, _ := svc.GetCharge(ctx, req.BookingID); got.Status != payments.ChargeSucceeded {
		t.Fatalf("status %s after a failed refund", got.Status)
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_journals WHERE kind = 'refund'`); n != 0 {
		t.Fatalf("%d refund journals before the provider refunded", n)
	}
	provider.Start()
	for range 2 { // the retry, and a repeat
		if _, err := svc.Refund(ctx, req.BookingID, 2_000, "cancelled"); err != nil {
			t.Fatalf("Refund: %v", err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_journals WHERE kind = 'refund'`); n != 1 {
		t.Fatalf("%d refund journals, want 1", n)
	}
	if bal, _ := svc.TutorBalance(ctx, req.TutorID, "gbp"); bal != (6_000-900)-(2_000-300) {
		t.Fatalf("tutor balance %d", bal)
	}
	assertLedgerBalanced(t, pool)
	rep, err := svc.Reconcile(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil || rep.DriftCount != 0 {
		t.Fatalf("Reconcile = %+v, %v; want no drift", rep, err)
	}
}
