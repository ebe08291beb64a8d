package tutors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/queries"
)

// Outbox events of the tutor aggregate: what search indexing and notifications consume. Each
// is recorded in the transaction of the change it describes.
const (
	// Aggregate is the outbox aggregate type of every tutor event; the aggregate id is the
	// tutor id.
	Aggregate = "tutor"

	EventCreated     = "tutor.created"
	EventUpdated     = "tutor.updated"
	EventPublished   = "tutor.published"
	EventUnpublished = "tutor.unpublished"
	EventDeleted     = "tutor.deleted"
	// EventProfileChanged says that what the profile shows changed outside the tutors table:
	// the owner's display name.
	EventProfileChanged = "tutor.profile_changed"
)

// EventSchema is the version of EventPayload; a change a consumer could misread gets a new
// version, and consumers refuse versions they do not know.
const EventSchema = 1

// EventPayload is the payload of every tutor event: enough for a consumer to decide whether
// to re-read the profile. Version is the tutor's version after the change, so a consumer
// that keeps the newest version it applied can ignore late or repeated events.
type EventPayload struct {
	Schema    int       `json:"schema"`
	TutorID   uuid.UUID `json:"tutor_id"`
	UserID    uuid.UUID `json:"user_id"`
	Version   int64     `json:"version"`
	Published bool      `json:"published"`
}

func insertEvent(ctx context.Context, q *queries.Queries, event string, p EventPayload) error {
	p.Schema = EventSchema
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// The writing request's trace goes with the event, so its dispatch, workflow and
	// activities join that trace.
	tp := telemetry.TraceParent(ctx)
	if err := q.InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: Aggregate, AggregateID: p.TutorID, EventType: event, Payload: string(payload),
		Traceparent: pgtype.Text{String: tp, Valid: tp != ""},
	}); err != nil {
		return fmt.Errorf("outbox %s %s: %w", event, p.TutorID, err)
	}
	return nil
}

// RecordOwnerChanged is called in the transaction that changes a user's own profile in a way
// their tutor profile shows (the display name; it is accounts.Options.DisplayNameChanged).
// When the user has a live tutor profile it moves the profile to its next version and records
// EventProfileChanged in tx, and returns the tutor's cache key for the caller to drop after
// the commit.
func RecordOwnerChanged(ctx context.Context, tx queries.DBTX, userID uuid.UUID) ([]string, error) {
	q := queries.New(tx)
	row, err := q.TouchTutorOfUser(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tutor of user %s: %w", userID, err)
	}
	err = insertEvent(ctx, q, EventProfileChanged, EventPayload{TutorID: row.ID, UserID: row.UserID, Version: row.Version, Published: row.Published})
	if err != nil {
		return nil, err
	}
	return []string{CacheKey(row.ID)}, nil
}
