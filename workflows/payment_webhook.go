package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/payments"
)

// Registered workflow type names of QueuePayments.
const (
	PaymentWebhookName = "PaymentWebhook"
	ReconcileName      = "Reconcile"
	// ReconcileScheduleID is the Temporal schedule that runs Reconcile.
	ReconcileScheduleID = "reconcile-payments"
)

// StripeEventTypeAttribute is the provider event type a PaymentWebhook run applies; its
// BookingIDAttribute (declared with BookingLifecycle's) is the booking the event concerns.
var StripeEventTypeAttribute = temporal.NewSearchAttributeKeyKeyword("StripeEventType")

// PaymentWebhookID is the id of the run that applies a provider event: one per event.
func PaymentWebhookID(providerEventID string) string { return "stripe-event/" + providerEventID }

// PaymentWebhookInput names the stored provider event to apply.
type PaymentWebhookInput struct {
	ProviderEventID string
	Type            string
}

// PaymentWebhookResult is what the run did.
type PaymentWebhookResult struct {
	Note string
	// Signal is the signal sent to the booking, if any.
	Signal string
	// Refunded is set when the booking had ended and the succeeded charge was refunded.
	Refunded bool
}

// paymentActivityOptions retry database and provider outages with backoff for a day; a
// refusal (ErrPaymentRefused) is final.
var paymentActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrPaymentRefused},
	},
}

// PaymentWebhook applies one stored provider event (ApplyPaymentEvent: the charge, its ledger
// journal and the event's settlement in one transaction, once), then tells the booking's
// workflow the charge's outcome. When that workflow no longer runs, a succeeded charge is
// refunded in full (RefundOrphanCharge), recorded as such on the charge.
func PaymentWebhook(ctx workflow.Context, in PaymentWebhookInput) (PaymentWebhookResult, error) {
	if in.ProviderEventID == "" {
		return PaymentWebhookResult{}, temporal.NewNonRetryableApplicationError("PaymentWebhook needs an event id", "InvalidInput", nil)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, StripeEventTypeAttribute.ValueSet(in.Type)); err != nil {
		return PaymentWebhookResult{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, paymentActivityOptions)
	var applied payments.Applied
	if err := workflow.ExecuteActivity(ctx, activities.ApplyPaymentEventName, in.ProviderEventID).Get(ctx, &applied); err != nil {
		return PaymentWebhookResult{}, err
	}
	res := PaymentWebhookResult{Note: applied.Note, Signal: applied.Signal}
	if applied.Signal == "" {
		return res, nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, BookingIDAttribute.ValueSet(applied.Outcome.BookingID.String())); err != nil {
		return res, err
	}
	var sent activities.SignalBookingResult
	if err := workflow.ExecuteActivity(ctx, activities.SignalBookingName, applied.Signal, applied.Outcome).Get(ctx, &sent); err != nil {
		return res, err
	}
	if !sent.NotRunning || applied.Signal != payments.SignalChargeSucceeded || applied.Outcome.Status != payments.ChargeSucceeded {
		return res, nil
	}
	var refunded payments.Charge
	if err := workflow.ExecuteActivity(ctx, activities.RefundOrphanChargeName, applied.Outcome.BookingID).Get(ctx, &refunded); err != nil {
		return res, err
	}
	res.Refunded = true
	workflow.GetLogger(ctx).Info("payment for an ended booking refunded", "booking_id", applied.Outcome.BookingID.String())
	return res, nil
}

// ReconcileInput is Reconcile's argument; zero values take the defaults.
type ReconcileInput struct {
	// Window is how far back the run looks (default 48h).
	Window time.Duration
}

// Reconcile compares, for the charges of the window ending now, the provider's PaymentIntents
// and the ledger's journals with tutorhub's charges, and records a report whose drift an
// admin lists (ReconcilePayments does the work; the run only schedules it).
func Reconcile(ctx workflow.Context, in ReconcileInput) (payments.Report, error) {
	if in.Window <= 0 {
		in.Window = 48 * time.Hour
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var r payments.Report
	err := workflow.ExecuteActivity(ctx, activities.ReconcilePaymentsName, workflow.Now(ctx), in.Window).Get(ctx, &r)
	return r, err
}

// RegisterPayments registers the workflows of QueuePayments on a worker of that queue. Their
// activities are registered with activities.RegisterPayments.
func RegisterPayments(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(PaymentWebhook, workflow.RegisterOptions{Name: PaymentWebhookName})
	r.RegisterWorkflowWithOptions(Reconcile, workflow.RegisterOptions{Name: ReconcileName})
}

// paymentWebhookRoute starts PaymentWebhook for every stored provider event, as
// "stripe-event/<provider event id>".
var paymentWebhookRoute = Route{
	Workflow: PaymentWebhookName, Queue: QueuePayments, Input: paymentWebhookInput,
	ID: func(ev Event) string {
		var p payments.EventPayload
		if json.Unmarshal(ev.Payload, &p) != nil || p.ProviderEventID == "" {
			// Input parks such an event before the id is used.
			return PaymentWebhookName + "/" + ev.ID.String()
		}
		return PaymentWebhookID(p.ProviderEventID)
	},
}

// paymentWebhookInput decodes payment.event_received; it refuses unknown schemas and payloads
// that do not name the stored event of the aggregate.
func paymentWebhookInput(ev Event) (any, error) {
	if ev.AggregateType != payments.Aggregate {
		return nil, fmt.Errorf("aggregate type %q is not %q", ev.AggregateType, payments.Aggregate)
	}
	var p payments.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	switch {
	case p.Schema != payments.EventSchema:
		return nil, fmt.Errorf("payload schema %d is not %d", p.Schema, payments.EventSchema)
	case p.EventID != ev.AggregateID:
		return nil, fmt.Errorf("payload event_id %s is not the aggregate id %s", p.EventID, ev.AggregateID)
	case !strings.HasPrefix(p.ProviderEventID, "evt_"):
		return nil, fmt.Errorf("payload provider_event_id %q is not a Stripe event id", p.ProviderEventID)
	}
	return PaymentWebhookInput{ProviderEventID: p.ProviderEventID, Type: p.Type}, nil
}
