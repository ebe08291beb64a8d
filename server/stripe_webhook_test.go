package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/server"
)

const (
	stripeSecretOld = "whsec_server_old_0123456789"
	stripeSecretNew = "whsec_server_new_0123456789"
)

// POST /webhooks/stripe stores each signed event once with its outbox row, whatever the
// number of concurrent deliveries; a bad signature, an old timestamp or a malformed body is
// refused with nothing stored; an unknown type is parked.
func TestStripeWebhook(t *testing.T) {
	t.Parallel()
	stripeURL := testenv.Stripe(t)
	var svc *payments.Service
	api := newTestAPI(t, func(o *server.Options) {
		svc = payments.New(o.DB, payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1500})
		o.StripeWebhook = server.StripeWebhook{Payments: svc, Secrets: []string{stripeSecretNew, stripeSecretOld}, Tolerance: 5 * time.Minute}
	})
	ctx := context.Background()
	c, err := svc.StartCharge(ctx, payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 1200, Currency: "usd"})
	if err != nil {
		t.Fatal(err)
	}
	body := func(typ string) (string, string) {
		id := "evt_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": time.Now().Unix(),
			"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": 1200, "currency": "usd", "status": "succeeded"}}})
		return id, string(b)
	}
	post := func(b, sig string) (int, string) {
		status, _, res := do(t, http.MethodPost, api.URL+server.StripeWebhookPath, b, map[string]string{"Stripe-Signature": sig, "Content-Type": "application/json"})
		return status, string(res)
	}
	stored := func() (events, outbox int) {
		t.Helper()
		if err := api.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM payment_events), (SELECT count(*) FROM outbox WHERE event_type = $1)`,
			payments.EventReceived).Scan(&events, &outbox); err != nil {
			t.Fatal(err)
		}
		return events, outbox
	}

	t.Run("refused with nothing stored", func(t *testing.T) {
		_, b := body(payments.EventPaymentSucceeded)
		for name, sig := range map[string]string{
			"another secret":   payments.Sign([]byte(b), "whsec_attacker_0123456789", time.Now()),
			"an old timestamp": payments.Sign([]byte(b), stripeSecretNew, time.Now().Add(-10*time.Minute)),
			"no signature":     "",
			"another body":     payments.Sign([]byte(b+" "), stripeSecretNew, time.Now()),
		} {
			if status, res := post(b, sig); status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, status, res)
			}
		}
		if status, _ := post("not json", payments.Sign([]byte("not json"), stripeSecretNew, time.Now())); status != http.StatusBadRequest {
			t.Errorf("a signed non-event: %d, want 400", status)
		}
		if status, _, _ := do(t, http.MethodPost, api.URL+server.StripeWebhookPath, strings.Repeat("x", payments.MaxEventBytes+1), nil); status != http.StatusRequestEntityTooLarge && status != http.StatusBadRequest {
			t.Errorf("an oversized body: %d", status)
		}
		if e, o := stored(); e != 0 || o != 0 {
			t.Fatalf("%d events, %d outbox rows stored by refused deliveries", e, o)
		}
	})

	t.Run("the same event ten times at once is stored once", func(t *testing.T) {
		_, b := body(payments.EventPaymentSucceeded)
		var wg sync.WaitGroup
		results := make(chan string, 10)
		for i := range 10 {
			secret := stripeSecretNew
			if i%2 == 1 {
				secret = stripeSecretOld // the secret being rolled out still signs
			}
			wg.Go(func() {
				status, res := post(b, payments.Sign([]byte(b), secret, time.Now()))
				if status != http.StatusOK {
					t.Errorf("delivery: %d %s", status, res)
				}
				results <- res
			})
		}
		wg.Wait()
		close(results)
		first := 0
		for r := range results {
			if strings.Contains(r, `"stored"`) {
				first++
			}
		}
		if e, o := stored(); first != 1 || e != 1 || o != 1 {
			t.Fatalf("stored answers %d, events %d, outbox rows %d; want 1 each", first, e, o)
		}
	})

	t.Run("an unknown type is parked", func(t *testing.T) {
		_, b := body("invoice.paid")
		if status, res := post(b, payments.Sign([]byte(b), stripeSecretNew, time.Now())); status != http.StatusOK || !strings.Contains(res, `"parked"`) {
			t.Fatalf("%d %s, want 200 parked", status, res)
		}
		if e, o := stored(); e != 2 || o != 1 {
			t.Fatalf("events %d, outbox rows %d; want 2 and 1", e, o)
		}
	})
}
