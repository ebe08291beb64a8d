package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/notifications"
)

// NotifyFanoutName is NotifyFanout's registered workflow type name.
const NotifyFanoutName = "NotifyFanout"

// NotifyFanoutResult says what each delivery of a run did, in plan order.
type NotifyFanoutResult struct {
	Deliveries []DeliveryResult
}

// DeliveryResult is the outcome of one (recipient, channel).
type DeliveryResult struct {
	Delivery notifications.Delivery
	// Outcome is notifications.OutcomeDelivered, OutcomeAlreadyDone or OutcomeSkipped; empty
	// when the delivery failed for good (Error).
	Outcome string
	Error   string
}

// planOptions bound the plan, a few reads.
var planOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	},
}

// deliverOptions bound one delivery attempt (one SMTP conversation under a 20 s deadline)
// and retry with backoff for up to a day of attempts: a mail relay that is down for hours
// delays mail, it does not lose it; one down for longer ends the run with the delivery
// failed (visible in the run's result and in notification_deliveries.last_error).
var deliverOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 20 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
		MaximumAttempts:    300,
	},
}

// channelActivities names the activity of each channel.
var channelActivities = map[notifications.Channel]string{
	notifications.ChannelInbox: activities.DeliverInboxName,
	notifications.ChannelEmail: activities.DeliverEmailName,
}

// NotifyFanout tells the recipients of one domain event: it plans the deliveries (recipients
// and the channels their preferences allow) and runs one activity per delivery, all at once.
// Each activity is idempotent by (event, recipient, channel), so a retry, a replay or a
// second worker never delivers twice. One delivery that fails for good does not stop the
// others.
func NotifyFanout(ctx workflow.Context, n notifications.Notice) (NotifyFanoutResult, error) {
	attrs := []temporal.SearchAttributeUpdate{EventTypeAttribute.ValueSet(n.EventType)}
	if len(n.Recipients) > 0 {
		attrs = append(attrs, UserIDAttribute.ValueSet(n.Recipients[0].String()))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return NotifyFanoutResult{}, err
	}
	var plan []notifications.Delivery
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, planOptions), activities.PlanNotificationName, n).Get(ctx, &plan)
	if err != nil {
		return NotifyFanoutResult{}, err
	}
	dctx := workflow.WithActivityOptions(ctx, deliverOptions)
	futures := make([]workflow.Future, len(plan))
	for i, d := range plan {
		name, ok := channelActivities[d.Channel]
		if !ok {
			continue
		}
		futures[i] = workflow.ExecuteActivity(dctx, name, activities.DeliverInput{Notice: n, UserID: d.UserID})
	}
	res := NotifyFanoutResult{Deliveries: make([]DeliveryResult, len(plan))}
	for i, f := range futures {
		res.Deliveries[i].Delivery = plan[i]
		if f == nil {
			res.Deliveries[i].Error = "no activity for channel " + string(plan[i].Channel)
			continue
		}
		if err := f.Get(ctx, &res.Deliveries[i].Outcome); err != nil {
			res.Deliveries[i].Error = err.Error()
		}
	}
	workflow.GetLogger(ctx).Info("notice delivered", "event_id", n.EventID.String(), "event_type", n.EventType, "deliveries", len(plan))
	return res, nil
}

// RegisterNotify registers the workflows of QueueNotifications. Their activities are
// registered with activities.RegisterNotify.
func RegisterNotify(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(NotifyFanout, workflow.RegisterOptions{Name: NotifyFanoutName})
}
