package activities

import (
	"context"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/notifications"
)

// Registered activity names of the notifications queue.
const (
	// PlanNotificationName is NotifyActivities.PlanNotification.
	PlanNotificationName = "PlanNotification"
	// DeliverInboxName is NotifyActivities.DeliverInbox.
	DeliverInboxName = "DeliverInbox"
	// DeliverEmailName is NotifyActivities.DeliverEmail.
	DeliverEmailName = "DeliverEmail"
)

// NotifyActivities deliver notifications through package notifications.
type NotifyActivities struct {
	// Notifications is the notifications context (a *notifications.Service).
	Notifications *notifications.Service
}

// RegisterNotify registers a's activities on a worker of the notifications queue.
func RegisterNotify(r worker.ActivityRegistry, a *NotifyActivities) {
	r.RegisterActivityWithOptions(a.PlanNotification, activity.RegisterOptions{Name: PlanNotificationName})
	r.RegisterActivityWithOptions(a.DeliverInbox, activity.RegisterOptions{Name: DeliverInboxName})
	r.RegisterActivityWithOptions(a.DeliverEmail, activity.RegisterOptions{Name: DeliverEmailName})
}

// DeliverInput names one delivery of a notice.
type DeliverInput struct {
	Notice notifications.Notice
	UserID uuid.UUID
}

// PlanNotification returns the deliveries of a notice (recipients x channels their
// preferences allow). It only reads.
func (a *NotifyActivities) PlanNotification(ctx context.Context, n notifications.Notice) ([]notifications.Delivery, error) {
	return a.Notifications.Plan(ctx, n)
}

// DeliverInbox puts the notice in the user's inbox; idempotent by (event, user).
func (a *NotifyActivities) DeliverInbox(ctx context.Context, in DeliverInput) (string, error) {
	return a.Notifications.DeliverInbox(ctx, in.Notice, in.UserID)
}

// DeliverEmail mails the notice to the user; a delivery recorded as sent is never sent again.
func (a *NotifyActivities) DeliverEmail(ctx context.Context, in DeliverInput) (string, error) {
	return a.Notifications.DeliverEmail(ctx, in.Notice, in.UserID)
}
