package workflows_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/workflows"
)

func newNotifyEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	workflows.RegisterNotify(env)
	activities.RegisterNotify(env, &activities.NotifyActivities{})
	return env
}

func TestNotifyFanout(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	notice := notifications.Notice{
		EventID: uuid.New(), EventType: accounts.EventPasswordChanged, Category: notifications.CategorySecurity,
		Kind: "password_changed", Recipients: []uuid.UUID{user}, OccurredAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	}
	smtpDown := errors.New("smtp dial 127.0.0.1:1025: connection refused")
	for _, tc := range []struct {
		name string
		plan []notifications.Channel
		// emailErrors are the email activity's answers to its attempts before it succeeds.
		emailErrors   []error
		wantOutcomes  map[notifications.Channel]string
		wantEmailRuns int
		wantInboxRuns int
	}{
		{"every planned channel is delivered once", []notifications.Channel{notifications.ChannelInbox, notifications.ChannelEmail}, nil,
			map[notifications.Channel]string{notifications.ChannelInbox: notifications.OutcomeDelivered, notifications.ChannelEmail: notifications.OutcomeDelivered}, 1, 1},
		{"a mail relay that is down is retried with backoff until it answers", []notifications.Channel{notifications.ChannelInbox, notifications.ChannelEmail},
			[]error{smtpDown, smtpDown, smtpDown},
			map[notifications.Channel]string{notifications.ChannelInbox: notifications.OutcomeDelivered, notifications.ChannelEmail: notifications.OutcomeDelivered}, 4, 1},
		{"a channel the preferences turned off is not run", []notifications.Channel{notifications.ChannelInbox}, nil,
			map[notifications.Channel]string{notifications.ChannelInbox: notifications.OutcomeDelivered}, 0, 1},
		{"no deliveries when nobody is left to tell", nil, nil, map[notifications.Channel]string{}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newNotifyEnv()
			var plan []notifications.Delivery
			for _, ch := range tc.plan {
				plan = append(plan, notifications.Delivery{UserID: user, Channel: ch})
			}
			env.OnActivity(activities.PlanNotificationName, mock.Anything, mock.Anything).Return(plan, nil)
			var mu sync.Mutex
			emailRuns, inboxRuns := 0, 0
			env.OnActivity(activities.DeliverInboxName, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.DeliverInput) (string, error) {
					mu.Lock()
					defer mu.Unlock()
					inboxRuns++
					if in.UserID != user || in.Notice.EventID != notice.EventID {
						return "", errors.New("wrong delivery")
					}
					return notifications.OutcomeDelivered, nil
				})
			env.OnActivity(activities.DeliverEmailName, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.DeliverInput) (string, error) {
					mu.Lock()
					defer mu.Unlock()
					emailRuns++
					if emailRuns <= len(tc.emailErrors) {
						return "", tc.emailErrors[emailRuns-1]
					}
					return notifications.OutcomeDelivered, nil
				})
			var upserted []string
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				typ, _ := sa.GetKeyword(workflows.EventTypeAttribute)
				uid, _ := sa.GetKeyword(workflows.UserIDAttribute)
				upserted = append(upserted, typ, uid)
			}).Return(nil).Maybe()
			env.ExecuteWorkflow(workflows.NotifyFanoutName, notice)
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var res workflows.NotifyFanoutResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			got := map[notifications.Channel]string{}
			for _, d := range res.Deliveries {
				if d.Error != "" {
					t.Errorf("delivery %v failed: %s", d.Delivery, d.Error)
				}
				got[d.Delivery.Channel] = d.Outcome
			}
			if len(got) != len(tc.wantOutcomes) {
				t.Errorf("outcomes = %v, want %v", got, tc.wantOutcomes)
			}
			for ch, want := range tc.wantOutcomes {
				if got[ch] != want {
					t.Errorf("%s outcome = %q, want %q", ch, got[ch], want)
				}
			}
			if emailRuns != tc.wantEmailRuns || inboxRuns != tc.wantInboxRuns {
				t.Errorf("activity runs: email %d inbox %d, want %d and %d", emailRuns, inboxRuns, tc.wantEmailRuns, tc.wantInboxRuns)
			}
			if !slices.Equal(upserted, []string{accounts.EventPasswordChanged, user.String()}) {
				t.Errorf("search attributes upserted = %v, want EventType and UserId", upserted)
			}
		})
	}
}

// TestNotifyFanoutOneFailedDeliveryDoesNotStopTheOthers: an email that fails for good (a
// non-retryable error) is reported in the result while the inbox item is still delivered.
func TestNotifyFanoutOneFailedDeliveryDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	env := newNotifyEnv()
	user := uuid.New()
	notice := notifications.Notice{EventID: uuid.New(), EventType: accounts.EventNewDeviceSignIn, Category: notifications.CategorySecurity,
		Kind: "new_device_sign_in", Recipients: []uuid.UUID{user}}
	env.OnActivity(activities.PlanNotificationName, mock.Anything, mock.Anything).Return(
		[]notifications.Delivery{{UserID: user, Channel: notifications.ChannelEmail}, {UserID: user, Channel: notifications.ChannelInbox}}, nil)
	env.OnActivity(activities.DeliverEmailName, mock.Anything, mock.Anything).Return("",
		temporal.NewNonRetryableApplicationError("recipient refused", "Refused", nil))
	env.OnActivity(activities.DeliverInboxName, mock.Anything, mock.Anything).Return(notifications.OutcomeDelivered, nil)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Maybe()
	env.ExecuteWorkflow(workflows.NotifyFanoutName, notice)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.NotifyFanoutResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != 2 || res.Deliveries[0].Error == "" || res.Deliveries[1].Outcome != notifications.OutcomeDelivered {
		t.Fatalf("deliveries = %+v, want the email failed and the inbox delivered", res.Deliveries)
	}
}
