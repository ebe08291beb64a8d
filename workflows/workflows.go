// Package workflows holds tutorhub's Temporal workflows, the task queues they run on, and
// the routing of outbox events to them. Workflows only orchestrate: they are deterministic
// (time through workflow.Now, no I/O, no map iteration order) and leave every side effect to
// package activities. Change a running workflow's logic only behind workflow.GetVersion.
package workflows

import (
	"go.temporal.io/sdk/temporal"
)

// Task queues, split by concern so workers for each scale and fail apart. `tutorhub worker
// --queues` picks the queues a process serves.
const (
	// QueueSearch runs search indexing: IndexTutor and ReindexAll.
	QueueSearch = "search"
	// QueueUploads runs upload scanning (ScanUpload).
	QueueUploads = "uploads"
	// QueueNotifications runs notification fan-out: NotifyFanout.
	QueueNotifications = "notifications"
	// QueueBookings runs the bookings' lifecycles: BookingLifecycle.
	QueueBookings = "bookings"
	// QueuePayments runs payment webhooks and reconciliation: PaymentWebhook and Reconcile.
	QueuePayments = "payments"
)

// Queues lists every task queue, in the order `tutorhub worker` documents them.
var Queues = []string{QueueSearch, QueueUploads, QueueNotifications, QueueBookings, QueuePayments}

// Search attributes that operators find runs by in the Temporal UI (`TutorId = "..."`,
// `EventType = "tutor.updated"`, `UserId = "..."`). The namespace must define each as Keyword; the local stack
// and docker compose create them.
var (
	// TutorIDAttribute is the tutor a run concerns.
	TutorIDAttribute = temporal.NewSearchAttributeKeyKeyword("TutorId")
	// EventTypeAttribute is the outbox event type that started a run.
	EventTypeAttribute = temporal.NewSearchAttributeKeyKeyword("EventType")
	// UserIDAttribute is the user a run concerns (a notice's first recipient, a user event's
	// user).
	UserIDAttribute = temporal.NewSearchAttributeKeyKeyword("UserId")
)
