package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/uploads"
)

// Event is an outbox event as the relay reads it.
type Event struct {
	// ID is the event's unique id; the workflow id is derived from it.
	ID uuid.UUID
	// AggregateType and AggregateID name what changed ("tutor" and the tutor id).
	AggregateType string
	AggregateID   uuid.UUID
	// Type is the event type, such as tutors.EventUpdated.
	Type string
	// Payload is the event's JSON payload.
	Payload []byte
	// CreatedAt is when the event was recorded.
	CreatedAt time.Time
}

// Route says which workflow an event type starts, and on which task queue.
type Route struct {
	// Workflow is the registered workflow type name.
	Workflow string
	// Queue is the task queue the workflow runs on.
	Queue string
	// Input decodes the event into the workflow's argument. An error means the event can
	// never be dispatched (a malformed or unknown-schema payload): the relay parks it.
	Input func(Event) (any, error)
	// ID, when set, names the run instead of WORKFLOW/AGGREGATE/EVENT: for a workflow that
	// runs once per aggregate whichever event (or other trigger) starts it.
	ID func(Event) string
}

// WorkflowID is the id of the run an event starts: readable in the Temporal UI (workflow,
// aggregate, event) and the same for every attempt to dispatch the event, so a repeated start
// is refused by the server rather than run twice.
func (r Route) WorkflowID(ev Event) string {
	if r.ID != nil {
		return r.ID(ev)
	}
	return fmt.Sprintf("%s/%s/%s", r.Workflow, ev.AggregateID, ev.ID)
}

// routes maps each outbox event type that triggers background work to its route.
var routes = map[string]Route{
	tutors.EventCreated:        indexTutorRoute,
	tutors.EventUpdated:        indexTutorRoute,
	tutors.EventPublished:      indexTutorRoute,
	tutors.EventUnpublished:    indexTutorRoute,
	tutors.EventDeleted:        indexTutorRoute,
	tutors.EventProfileChanged: indexTutorRoute,
	uploads.EventCompleted:     scanUploadRoute,
	bookings.EventRequested:    bookingLifecycleRoute,
	bookings.EventAccepted:     signalBookingRoute,
	bookings.EventDeclined:     signalBookingRoute,
	bookings.EventCancelled:    signalBookingRoute,
	payments.EventReceived:     paymentWebhookRoute,
}

var scanUploadRoute = Route{Workflow: ScanUploadName, Queue: QueueUploads, Input: scanUploadInput,
	ID: func(ev Event) string { return ScanUploadID(ev.AggregateID) }}

var indexTutorRoute = Route{Workflow: IndexTutorName, Queue: QueueSearch, Input: indexTutorInput}

// notifyRoute starts NotifyFanout for every event type of the notifications fan-out table
// (notifications.Notifies), as "notify/<event id>".
var notifyRoute = Route{
	Workflow: NotifyFanoutName, Queue: QueueNotifications, Input: notifyInput,
	ID: func(ev Event) string { return "notify/" + ev.ID.String() },
}

// RoutesFor returns every route of an event type, in dispatch order: its processing route
// (routes) first, then NotifyFanout when the event notifies someone. None means no workflow
// handles it.
func RoutesFor(eventType string) []Route {
	var out []Route
	if r, ok := routes[eventType]; ok {
		out = append(out, r)
	}
	if notifications.Notifies(eventType) {
		out = append(out, notifyRoute)
	}
	return out
}

// RouteFor returns the first route of an event type (RoutesFor), and false when no workflow
// handles it.
func RouteFor(eventType string) (Route, bool) {
	rs := RoutesFor(eventType)
	if len(rs) == 0 {
		return Route{}, false
	}
	return rs[0], true
}

// notifyInput decodes an event of the fan-out table into NotifyFanout's notice.
func notifyInput(ev Event) (any, error) {
	return notifications.Decode(notifications.Event{
		ID: ev.ID, Type: ev.Type, AggregateType: ev.AggregateType, AggregateID: ev.AggregateID,
		Payload: ev.Payload, CreatedAt: ev.CreatedAt,
	})
}

// SearchAttributes are the attributes a run started by ev carries from its start: the event
// type always, the tutor id for tutor events and the user id for user events.
func SearchAttributes(ev Event) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{EventTypeAttribute.ValueSet(ev.Type)}
	switch ev.AggregateType {
	case tutors.Aggregate:
		updates = append(updates, TutorIDAttribute.ValueSet(ev.AggregateID.String()))
	case accounts.UserAggregate:
		updates = append(updates, UserIDAttribute.ValueSet(ev.AggregateID.String()))
	case uploads.Aggregate:
		updates = append(updates, UploadIDAttribute.ValueSet(ev.AggregateID.String()))
	case bookings.Aggregate:
		updates = append(updates, BookingIDAttribute.ValueSet(ev.AggregateID.String()))
	}
	return temporal.NewSearchAttributes(updates...)
}

// indexTutorInput decodes a tutor event; it refuses unknown schemas and payloads that do not
// name the tutor of the aggregate.
func indexTutorInput(ev Event) (any, error) {
	if ev.AggregateType != tutors.Aggregate {
		return nil, fmt.Errorf("aggregate type %q is not %q", ev.AggregateType, tutors.Aggregate)
	}
	var p tutors.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	switch {
	case p.Schema != tutors.EventSchema:
		return nil, fmt.Errorf("payload schema %d is not %d", p.Schema, tutors.EventSchema)
	case p.TutorID != ev.AggregateID:
		return nil, fmt.Errorf("payload tutor_id %s is not the aggregate id %s", p.TutorID, ev.AggregateID)
	case p.Version < 1:
		return nil, errors.New("payload version must be positive")
	}
	return IndexTutorInput{EventID: ev.ID, EventType: ev.Type, TutorID: p.TutorID, Version: p.Version, Published: p.Published}, nil
}

// scanUploadInput decodes upload.completed; it refuses unknown schemas and payloads that do
// not name the upload of the aggregate.
func scanUploadInput(ev Event) (any, error) {
	if ev.AggregateType != uploads.Aggregate {
		return nil, fmt.Errorf("aggregate type %q is not %q", ev.AggregateType, uploads.Aggregate)
	}
	var p uploads.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	switch {
	case p.Schema != uploads.EventSchema:
		return nil, fmt.Errorf("payload schema %d is not %d", p.Schema, uploads.EventSchema)
	case p.UploadID != ev.AggregateID:
		return nil, fmt.Errorf("payload upload_id %s is not the aggregate id %s", p.UploadID, ev.AggregateID)
	}
	return ScanUploadInput{UploadID: p.UploadID}, nil
}
