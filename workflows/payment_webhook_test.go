package workflows_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestPaymentWebhookDecides: what PaymentWebhook does after applying an event, for each
// outcome and whether the booking's workflow still runs.
func TestPaymentWebhookDecides(t *testing.T) {
	booking := uuid.New()
	succeeded := payments.Applied{Signal: payments.SignalChargeSucceeded, Outcome: payments.Outcome{BookingID: booking, Status: payments.ChargeSucceeded}}
	failed := payments.Applied{Signal: payments.SignalChargeFailed, Outcome: payments.Outcome{BookingID: booking, Status: payments.ChargeFailed}}
	cases := []struct {
		name                   string
		applied                payments.Applied
		notRunning             bool
		wantSignal, wantRefund bool
	}{
		{"a success is signalled to the running booking", succeeded, false, true, false},
		{"a success for an ended booking is refunded", succeeded, true, true, true},
		{"a failure for an ended booking needs nothing more", failed, true, true, false},
		{"nothing to tell sends nothing", payments.Applied{Note: "refund already recorded"}, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			workflows.RegisterPayments(env)
			activities.RegisterPayments(env, &activities.PaymentActivities{})
			env.OnActivity(activities.ApplyPaymentEventName, mock.Anything, "evt_1").Return(tc.applied, nil).Once()
			signalled, refunded := false, false
			if tc.wantSignal {
				env.OnActivity(activities.SignalBookingName, mock.Anything, tc.applied.Signal, tc.applied.Outcome).Return(
					func(_ context.Context, _ string, _ payments.Outcome) (activities.SignalBookingResult, error) {
						signalled = true
						return activities.SignalBookingResult{NotRunning: tc.notRunning}, nil
					}).Once()
			}
			if tc.wantRefund {
				env.OnActivity(activities.RefundOrphanChargeName, mock.Anything, booking).Return(
					func(_ context.Context, _ uuid.UUID) (payments.Charge, error) {
						refunded = true
						return payments.Charge{Status: payments.ChargeRefunded}, nil
					}).Once()
			}
			env.ExecuteWorkflow(workflows.PaymentWebhook, workflows.PaymentWebhookInput{ProviderEventID: "evt_1", Type: payments.EventPaymentSucceeded})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res workflows.PaymentWebhookResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if signalled != tc.wantSignal || refunded != tc.wantRefund || res.Refunded != tc.wantRefund {
				t.Fatalf("signalled %v refunded %v (result %+v), want %v %v", signalled, refunded, res, tc.wantSignal, tc.wantRefund)
			}
		})
	}
}
