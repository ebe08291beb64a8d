package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v85"

	"github.com/tutorhub/tutorhub"
)

// TestCardPaymentMethod is Stripe's test Visa card: in test mode it pays without a browser.
const TestCardPaymentMethod = "pm_card_visa"

// TestCard pays charges with Stripe's test card, for development and tests only: the
// configuration refuses it with a live key and in production (docs/payments.md, "Test
// payments"). Stripe's own webhook reaches tutorhub only from Stripe, and stripe-mock sends
// none, so TestCard hands the payment_intent.succeeded event to the webhook's own path
// (ReceiveWebhook): signed with the endpoint's current secret, verified, stored once with its
// outbox row, and applied by PaymentWebhook exactly like a delivery from Stripe.
type TestCard struct {
	// Payments holds the charges and talks to the provider.
	Payments *Service
	// Webhook are the webhook endpoint's keys; the event is signed with the first secret.
	Webhook WebhookKeys
	// ReturnURL is where a payment method that redirects would return to (Stripe requires one
	// when confirming a PaymentIntent with automatic payment methods).
	ReturnURL string
	// CheckStatus refuses a confirmation whose PaymentIntent is not succeeded: set it against
	// Stripe itself. stripe-mock, which keeps no state, answers every confirmation with a
	// canned status (requires_payment_method), so against it only the call's success counts.
	CheckStatus bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func testCardKey(booking uuid.UUID) string { return "tutorhub-testcard-" + booking.String() }

// Pay confirms the charge of req's booking with the test card and receives the provider's
// payment_intent.succeeded event as a signed webhook. It is idempotent by booking: the event's
// id derives from the charge, so paying twice stores one event, and a charge that already
// succeeded is returned as it is. A canceled or refunded charge is EPRECONDITION.
func (t *TestCard) Pay(ctx context.Context, req ChargeRequest) (Charge, error) {
	if t == nil || t.Payments == nil || len(t.Webhook.Secrets) == 0 {
		return Charge{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "test payments are off on this server")
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	c, err := t.Payments.StartCharge(ctx, req)
	if err != nil {
		return Charge{}, err
	}
	switch {
	case c.Status == ChargeSucceeded:
		return c, nil
	case rank(c.Status) >= rank(ChargeCanceled):
		return Charge{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "the charge of booking %s is %s", req.BookingID, c.Status)
	}
	params := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(TestCardPaymentMethod)}
	if t.ReturnURL != "" {
		params.ReturnURL = stripe.String(t.ReturnURL)
	}
	params.SetIdempotencyKey(testCardKey(req.BookingID))
	pi, err := t.Payments.stripe.V1PaymentIntents.Confirm(ctx, c.ProviderID, params)
	if err != nil {
		return Charge{}, providerError("confirm the PaymentIntent of booking "+req.BookingID.String()+" with the test card", err)
	}
	if t.CheckStatus && pi.Status != stripe.PaymentIntentStatusSucceeded {
		return Charge{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "the test payment of booking %s is %s, not succeeded", req.BookingID, pi.Status)
	}
	at := now()
	body, err := testCardEvent(c, at)
	if err != nil {
		return Charge{}, err
	}
	if _, err := t.Payments.ReceiveWebhook(ctx, body, Sign(body, t.Webhook.Secrets[0], at), t.Webhook, at); err != nil {
		if SignatureRefused(err) {
			return Charge{}, fmt.Errorf("the test payment's event of booking %s: %w", req.BookingID, err)
		}
		return Charge{}, err
	}
	return c, nil
}

// testCardEvent is the payment_intent.succeeded event Stripe would send for c, with an id
// derived from the charge so that a repeated payment is a duplicate delivery.
func testCardEvent(c Charge, at time.Time) ([]byte, error) {
	if c.ProviderID == "" {
		return nil, errors.New("the charge has no PaymentIntent")
	}
	return json.Marshal(map[string]any{
		"id": "evt_tutorhub_testcard_" + strings.ReplaceAll(c.ID.String(), "-", ""), "object": "event",
		"type": EventPaymentSucceeded, "created": at.Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "amount_received": c.AmountMinor,
			"currency": c.Currency, "status": "succeeded", "payment_method": TestCardPaymentMethod,
			"metadata": map[string]string{MetadataBookingID: c.BookingID.String(), MetadataChargeID: c.ID.String()},
		}},
	})
}
