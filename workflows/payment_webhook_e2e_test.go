package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/workflows"
)

// bookingStandInName is a stand-in for the booking's workflow, registered only here: it
// records the charge signals it receives until the first one.
const bookingStandInName = "TestBookingStandIn"

func bookingStandIn(ctx workflow.Context) ([]payments.Outcome, error) {
	var got []payments.Outcome
	sel := workflow.NewSelector(ctx)
	for _, name := range []string{payments.SignalChargeSucceeded, payments.SignalChargeFailed} {
		sel.AddReceive(workflow.GetSignalChannel(ctx, name), func(c workflow.ReceiveChannel, _ bool) {
			var o payments.Outcome
			c.Receive(ctx, &o)
			got = append(got, o)
		})
	}
	sel.Select(ctx)
	return got, nil
}

type paymentEnv struct {
	svc   *payments.Service
	tc    client.Client
	queue string
}

func newPaymentEnv(t *testing.T) *paymentEnv {
	t.Helper()
	stripeURL := testenv.Stripe(t)
	tc, queue := testenv.Temporal(t)
	svc := payments.New(testenv.Postgres(t), payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	w := worker.New(tc, queue, worker.Options{})
	workflows.RegisterPayments(w)
	activities.RegisterPayments(w, &activities.PaymentActivities{Payments: svc, Temporal: tc})
	w.RegisterWorkflowWithOptions(bookingStandIn, workflow.RegisterOptions{Name: bookingStandInName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &paymentEnv{svc: svc, tc: tc, queue: queue}
}

// deliver stores a signed-and-verified succeeded event of c and runs PaymentWebhook for it as
// the relay does (its id, REJECT_DUPLICATE).
func (e *paymentEnv) deliver(t *testing.T, c payments.Charge) workflows.PaymentWebhookResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := "evt_" + uuid.NewString()[:24]
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": "succeeded"}}})
	if r, err := e.svc.StoreEvent(ctx, body); err != nil || r != payments.Stored {
		t.Fatalf("StoreEvent = %v, %v", r, err)
	}
	wid := workflows.PaymentWebhookID(id)
	t.Logf("run %s", wid)
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wid, TaskQueue: e.queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.PaymentWebhookName, workflows.PaymentWebhookInput{ProviderEventID: id, Type: payments.EventPaymentSucceeded})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		run = e.tc.GetWorkflow(ctx, wid, "")
	} else if err != nil {
		t.Fatal(err)
	}
	var res workflows.PaymentWebhookResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("PaymentWebhook: %v", err)
	}
	return res
}

func TestPaymentWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	e := newPaymentEnv(t)
	ctx := context.Background()

	t.Run("the running booking hears the success once applied", func(t *testing.T) {
		req := payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 5_000, Currency: "usd"}
		booking, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: payments.BookingWorkflowID(req.BookingID), TaskQueue: e.queue}, bookingStandInName)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.svc.StartCharge(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		res := e.deliver(t, c)
		if res.Signal != payments.SignalChargeSucceeded || res.Refunded {
			t.Fatalf("result %+v", res)
		}
		var got []payments.Outcome
		if err := booking.Get(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ChargeID != c.ID || got[0].Status != payments.ChargeSucceeded || got[0].AmountMinor != 5_000 {
			t.Fatalf("the booking heard %+v", got)
		}
		if bal, _ := e.svc.TutorBalance(ctx, req.TutorID, "usd"); bal != 4_500 {
			t.Fatalf("tutor balance %d, want 4500", bal)
		}
	})
	t.Run("a payment for a booking that no longer runs is refunded in full", func(t *testing.T) {
		req := payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 2_500, Currency: "usd"}
		c, err := e.svc.StartCharge(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		res := e.deliver(t, c)
		if !res.Refunded {
			t.Fatalf("result %+v, want refunded", res)
		}
		got, err := e.svc.GetCharge(ctx, req.BookingID)
		if err != nil || got.Status != payments.ChargeRefunded {
			t.Fatalf("charge %+v, %v; want refunded", got, err)
		}
		if bal, _ := e.svc.TutorBalance(ctx, req.TutorID, "usd"); bal != 0 {
			t.Fatalf("tutor balance %d after the refund", bal)
		}
	})
}
