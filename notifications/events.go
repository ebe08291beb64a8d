package notifications

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/tutors"
)

// EventUploadScanned is the uploads context's outbox event for a finished virus scan. Its
// payload (schema 1) names the upload, its owner, purpose and outcome:
// {"schema":1,"upload_id":"…","owner_id":"…","purpose":"…","status":"clean"|"infected"|…}.
// Routing it is harmless while nothing writes it.
const EventUploadScanned = "upload.scanned"

// Event is an outbox event as the fan-out reads it.
type Event struct {
	ID            uuid.UUID
	Type          string
	AggregateType string
	AggregateID   uuid.UUID
	Payload       []byte
	// CreatedAt is when the event was recorded; the time a notice shows when its payload
	// has none.
	CreatedAt time.Time
}

// Notice is what one event tells its recipients, decoded from the event once (by the relay,
// so a malformed event is parked before any workflow starts); it is NotifyFanout's input.
type Notice struct {
	EventID    uuid.UUID
	EventType  string
	Category   Category
	Kind       string
	Recipients []uuid.UUID
	OccurredAt time.Time
	// Data are the facts the templates show (a device, an upload's purpose and status);
	// plain strings, escaped by the HTML template.
	Data map[string]string
}

// decoder reads a notice from an event; an error means the event can never be delivered.
type decoder func(Event) (Notice, error)

// fanout is the table of events that notify someone: adding an event type to the fan-out is
// one entry here (and its messages in messages.go).
var fanout = map[string]decoder{
	accounts.EventPasswordChanged:   securityNotice("password_changed"),
	accounts.EventRecoveryCompleted: securityNotice("recovery_completed"),
	accounts.EventNewDeviceSignIn:   securityNotice("new_device_sign_in"),
	tutors.EventPublished:           tutorPublished,
	EventUploadScanned:              uploadScanned,
	bookings.EventRequested:         bookingNotice("booking_requested", toTutor),
	bookings.EventAccepted:          bookingNotice("booking_accepted", toStudent),
	bookings.EventDeclined:          bookingNotice("booking_declined", toStudent),
	bookings.EventConfirmed:         bookingNotice("booking_confirmed", toBoth),
	bookings.EventReminder:          bookingNotice("booking_reminder", toBoth),
	bookings.EventCancelled:         bookingNotice("booking_cancelled", toBoth),
	bookings.EventExpired:           bookingNotice("booking_expired", toBoth),
	bookings.EventCompleted:         bookingNotice("booking_completed", toBoth),
}

// EventTypes lists the event types that notify someone (for the outbox routes table).
func EventTypes() []string {
	out := make([]string, 0, len(fanout))
	for t := range fanout {
		out = append(out, t)
	}
	return out
}

// Notifies reports whether events of this type notify someone.
func Notifies(eventType string) bool {
	_, ok := fanout[eventType]
	return ok
}

// Decode reads the notice of an event whose type is in the fan-out table.
func Decode(ev Event) (Notice, error) {
	d, ok := fanout[ev.Type]
	if !ok {
		return Notice{}, fmt.Errorf("event type %q notifies nobody", ev.Type)
	}
	n, err := d(ev)
	if err != nil {
		return Notice{}, err
	}
	n.EventID, n.EventType = ev.ID, ev.Type
	if n.OccurredAt.IsZero() {
		n.OccurredAt = ev.CreatedAt
	}
	if _, ok := messages["en"][n.Kind]; !ok {
		return Notice{}, fmt.Errorf("kind %q has no messages", n.Kind)
	}
	return n, nil
}

func securityNotice(kind string) decoder {
	return func(ev Event) (Notice, error) {
		var p accounts.SecurityEventPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return Notice{}, fmt.Errorf("payload: %w", err)
		}
		switch {
		case p.Schema != accounts.SecurityEventSchema:
			return Notice{}, fmt.Errorf("payload schema %d is not %d", p.Schema, accounts.SecurityEventSchema)
		case p.UserID == uuid.Nil || p.UserID != ev.AggregateID:
			return Notice{}, fmt.Errorf("payload user_id %s is not the aggregate id %s", p.UserID, ev.AggregateID)
		}
		return Notice{
			Category: CategorySecurity, Kind: kind, Recipients: []uuid.UUID{p.UserID}, OccurredAt: p.OccurredAt,
			Data: map[string]string{"device": truncate(p.Device, 200)},
		}, nil
	}
}

func tutorPublished(ev Event) (Notice, error) {
	var p tutors.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return Notice{}, fmt.Errorf("payload: %w", err)
	}
	switch {
	case p.Schema != tutors.EventSchema:
		return Notice{}, fmt.Errorf("payload schema %d is not %d", p.Schema, tutors.EventSchema)
	case p.UserID == uuid.Nil:
		return Notice{}, errors.New("payload has no user_id")
	}
	return Notice{
		Category: CategoryTutors, Kind: "tutor_published", Recipients: []uuid.UUID{p.UserID},
		Data: map[string]string{"tutor_id": p.TutorID.String()},
	}, nil
}

// uploadScannedPayload is EventUploadScanned's payload.
type uploadScannedPayload struct {
	Schema   int       `json:"schema"`
	UploadID uuid.UUID `json:"upload_id"`
	OwnerID  uuid.UUID `json:"owner_id"`
	Purpose  string    `json:"purpose"`
	Status   string    `json:"status"`
}

func uploadScanned(ev Event) (Notice, error) {
	var p uploadScannedPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return Notice{}, fmt.Errorf("payload: %w", err)
	}
	switch {
	case p.Schema != 1:
		return Notice{}, fmt.Errorf("payload schema %d is not 1", p.Schema)
	case p.OwnerID == uuid.Nil:
		return Notice{}, errors.New("payload has no owner_id")
	}
	return Notice{
		Category: CategoryUploads, Kind: "upload_scanned", Recipients: []uuid.UUID{p.OwnerID},
		Data: map[string]string{"upload_id": p.UploadID.String(), "purpose": truncate(p.Purpose, 64), "status": truncate(p.Status, 32)},
	}, nil
}

func truncate(s string, n int) string { return accounts.Truncate(s, n) }

// Who a booking notice goes to.
const (
	toStudent = 1 << iota
	toTutor
	toBoth = toStudent | toTutor
)

// bookingNotice reads a booking event (bookings.EventPayload) into a notice for the sides
// named by to; the lesson's start is shown in the tutor's zone it was booked in.
func bookingNotice(kind string, to int) decoder {
	return func(ev Event) (Notice, error) {
		var p bookings.EventPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return Notice{}, fmt.Errorf("payload: %w", err)
		}
		switch {
		case p.Schema != bookings.EventSchema:
			return Notice{}, fmt.Errorf("payload schema %d is not %d", p.Schema, bookings.EventSchema)
		case p.BookingID == uuid.Nil || p.BookingID != ev.AggregateID:
			return Notice{}, fmt.Errorf("payload booking_id %s is not the aggregate id %s", p.BookingID, ev.AggregateID)
		case p.StudentID == uuid.Nil || p.TutorUserID == uuid.Nil:
			return Notice{}, errors.New("payload has no student_id or tutor_user_id")
		}
		var recipients []uuid.UUID
		if to&toStudent != 0 {
			recipients = append(recipients, p.StudentID)
		}
		if to&toTutor != 0 {
			recipients = append(recipients, p.TutorUserID)
		}
		return Notice{
			Category: CategoryBookings, Kind: kind, Recipients: recipients,
			Data: map[string]string{
				"booking_id": p.BookingID.String(),
				"start":      formatTime(p.StartsAt, p.TimeZone),
				"reminder":   truncate(p.Reminder, 16),
			},
		}, nil
	}
}
