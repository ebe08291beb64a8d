package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/server"
)

// withTestCard turns test payments on, over stripe-mock, as TUTORHUB_PAYMENTS_TEST_MODE does.
func withTestCard(t *testing.T) apiOption {
	stripeURL := testenv.Stripe(t)
	return func(o *server.Options) {
		svc := payments.New(o.DB, payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1500})
		o.Bookings.TestCard = &payments.TestCard{Payments: svc, Webhook: payments.WebhookKeys{Secrets: []string{stripeSecretNew}, Tolerance: time.Minute}}
	}
}

// PayBookingWithTestCard hands one payment_intent.succeeded event per booking to the webhook's
// path (stored with its outbox row, however often the student pays), only for a booking
// awaiting payment, over Connect and REST; the student's view says test payments are on, and
// nobody else's does. A server without test mode refuses it and says so.
func TestPayBookingWithTestCard(t *testing.T) {
	t.Parallel()
	w := newBookingWorld(t, withTestCard(t))
	ctx := context.Background()
	c := w.client(w.student)
	events := func(t *testing.T, booking string) (stored, outbox int) {
		t.Helper()
		if err := w.api.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM payment_events WHERE payload::jsonb #>> '{data,object,metadata,tutorhub_booking_id}' = $1),
			(SELECT count(*) FROM outbox o JOIN payment_events e ON e.id = o.aggregate_id WHERE o.event_type = $2
				AND e.payload::jsonb #>> '{data,object,metadata,tutorhub_booking_id}' = $1)`, booking, payments.EventReceived).Scan(&stored, &outbox); err != nil {
			t.Fatal(err)
		}
		return stored, outbox
	}

	b := w.awaitingPayment(t)
	got, err := c.GetBooking(ctx, &tutorhubv1.GetBookingRequest{BookingId: b.GetId()})
	if err != nil || !got.GetBooking().GetTestPayments() {
		t.Fatalf("the student's view of a booking awaiting payment: %v %v, want test payments on", err, got.GetBooking())
	}
	if got, err := w.client(w.tutor).GetBooking(ctx, &tutorhubv1.GetBookingRequest{BookingId: b.GetId()}); err != nil || got.GetBooking().GetTestPayments() {
		t.Fatalf("the tutor's view: %v %v, want test payments off", err, got.GetBooking())
	}
	for range 3 {
		res, err := c.PayBookingWithTestCard(ctx, &tutorhubv1.PayBookingWithTestCardRequest{BookingId: b.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		// The event is applied later, by PaymentWebhook on the worker.
		if res.GetBooking().GetState() != tutorhubv1.BookingState_BOOKING_STATE_AWAITING_PAYMENT {
			t.Fatalf("paid booking %v", res.GetBooking())
		}
	}
	if stored, outbox := events(t, b.GetId()); stored != 1 || outbox != 1 {
		t.Fatalf("%d events and %d outbox rows for the booking, want one of each", stored, outbox)
	}

	// REST, as the other booking RPCs.
	rb := w.awaitingPayment(t)
	status, _, body := do(t, http.MethodPost, w.api.URL+"/api/v1/bookings/"+rb.GetId()+":pay-with-test-card", "{}",
		map[string]string{"Authorization": "Bearer " + w.student.AccessToken, "Content-Type": "application/json"})
	if status != http.StatusOK || !strings.Contains(string(body), `"state":"BOOKING_STATE_AWAITING_PAYMENT"`) {
		t.Fatalf("REST: %d %s", status, body)
	}
	if stored, _ := events(t, rb.GetId()); stored != 1 {
		t.Fatalf("REST stored %d events, want 1", stored)
	}

	// Only a booking awaiting payment is paid.
	requested := w.request(t)
	if _, err := c.PayBookingWithTestCard(ctx, &tutorhubv1.PayBookingWithTestCardRequest{BookingId: requested.GetId()}); codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("paying a requested booking: %v, want FailedPrecondition", err)
	}
	if _, err := c.PayBookingWithTestCard(ctx, &tutorhubv1.PayBookingWithTestCardRequest{BookingId: uuid.NewString()}); codeOf(err) != connect.CodeNotFound {
		t.Fatalf("paying no booking: %v, want NotFound", err)
	}
	if stored, _ := events(t, requested.GetId()); stored != 0 {
		t.Fatalf("%d events stored for a refused payment", stored)
	}

	// Off: refused with the reason, and not offered.
	off := newBookingWorld(t)
	ob := off.awaitingPayment(t)
	_, err = off.client(off.student).PayBookingWithTestCard(ctx, &tutorhubv1.PayBookingWithTestCardRequest{BookingId: ob.GetId()})
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "TUTORHUB_PAYMENTS_TEST_MODE") {
		t.Fatalf("test mode off: %v, want FailedPrecondition naming the setting", err)
	}
	if got, err := off.client(off.student).GetBooking(ctx, &tutorhubv1.GetBookingRequest{BookingId: ob.GetId()}); err != nil || got.GetBooking().GetTestPayments() {
		t.Fatalf("test mode off, the student's view: %v %v", err, got.GetBooking())
	}
}
