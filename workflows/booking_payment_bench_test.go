package workflows_test

import (
	"context"
	"encoding/json"
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

// BenchmarkWebhookToConfirmed measures, per accepted booking awaiting its payment, the time
// from a Stripe-signed payment_intent.succeeded arriving to the booking read back as
// confirmed: the signature verified and the event stored with its outbox row (as POST
// /webhooks/stripe does), PaymentWebhook started from it (as the relay does, without the
// relay's own wake-up), the charge applied with its journal, the charge-succeeded signal, and
// BookingLifecycle's confirming activity, on the Temporal dev server against stripe-mock. The
// booking is read every millisecond. Metrics: p50-ms, p99-ms (each iteration is one webhook;
// the booking, its acceptance and its PaymentIntent are made outside the timer).
func BenchmarkWebhookToConfirmed(b *testing.B) {
	const secret = "whsec_bench_0123456789abcdef"
	ctx := context.Background()
	e := newBookingE2E(b, time.Hour)
	pay := payments.New(e.db, payments.Options{StripeAPIURL: testenv.Stripe(b), StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	tc, queue := testenv.Temporal(b)
	w := worker.New(tc, queue, worker.Options{})
	workflows.RegisterBookings(w)
	activities.RegisterBookings(w, &activities.BookingActivities{Bookings: e.svc, Charger: pay})
	workflows.RegisterPayments(w)
	activities.RegisterPayments(w, &activities.PaymentActivities{Payments: pay, Temporal: tc})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	e.tc, e.queue = tc, queue
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		bk := e.request(b)
		if _, err := e.svc.Accept(ctx, e.tutor, bk.ID); err != nil {
			b.Fatal(err)
		}
		e.changed(b, bk.ID)
		e.await(b, bk.ID, "charge started", func(x bookings.Booking) bool { return x.ChargeStatus == payments.ChargePending })
		c, err := pay.GetCharge(ctx, bk.ID)
		if err != nil {
			b.Fatal(err)
		}
		evt := "evt_" + uuid.NewString()[:24]
		body, _ := json.Marshal(map[string]any{"id": evt, "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(),
			"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": "succeeded"}}})
		header := payments.Sign(body, secret, time.Now())
		b.StartTimer()

		start := time.Now()
		if err := payments.VerifySignature(body, header, []string{secret}, 5*time.Minute, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := pay.StoreEvent(ctx, body); err != nil {
			b.Fatal(err)
		}
		if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.PaymentWebhookID(evt), TaskQueue: queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		}, workflows.PaymentWebhookName, workflows.PaymentWebhookInput{ProviderEventID: evt, Type: payments.EventPaymentSucceeded}); err != nil {
			b.Fatal(err)
		}
		deadline := start.Add(30 * time.Second)
		for {
			x, err := e.svc.Load(ctx, bk.ID)
			if err != nil {
				b.Fatal(err)
			}
			if x.State == bookings.StateConfirmed {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("booking %s not confirmed within 30s of its webhook: %s (charge %q)", bk.ID, x.State, x.ChargeStatus)
			}
			time.Sleep(time.Millisecond) // polling interval, not a synchronisation
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[(len(lat)-1)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
	}
}
