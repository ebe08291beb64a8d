package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/queries"
)

// MaxPayloadBytes is the largest payload a ParkedEvent carries; larger ones are described by
// their size alone, so a list of parked events stays small whatever was written.
const MaxPayloadBytes = 4096

// AuditEventRetried is the audit action of an operator's retry of a parked event.
const AuditEventRetried = "outbox.event_retried"

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Parked is the operator's view of the events the relay parked: listed, and put back in the
// queue. It is safe for concurrent use.
type Parked struct {
	db DB
	q  *queries.Queries
}

// NewParked returns the parked events of db's outbox.
func NewParked(db DB) *Parked {
	return &Parked{db: db, q: queries.New(db)}
}

// ParkedEvent is an event the relay parked, or, once retried, the same event waiting for
// dispatch again (Reason empty, ParkedAt zero).
type ParkedEvent struct {
	ID            uuid.UUID
	Type          string
	AggregateType string
	AggregateID   uuid.UUID
	Reason        string
	// Attempts counts the failed workflow starts before the event was parked; LastError is
	// the last one's error.
	Attempts  int32
	LastError string
	CreatedAt time.Time
	ParkedAt  time.Time
	// PayloadSize is the JSON payload's size in bytes; Payload is the payload itself when it
	// is at most MaxPayloadBytes long, and empty otherwise.
	PayloadSize int64
	Payload     string
	// Seq is the event's place in the outbox, the list's keyset.
	Seq int64
}

// ParkedFilter selects parked events; zero fields do not filter.
type ParkedFilter struct {
	// Type keeps only events of this type.
	Type string
	// BeforeSeq continues the list after the event with this Seq; 0 starts from the newest.
	BeforeSeq int64
	// Limit is the most events returned.
	Limit int32
}

// ListParkedEvents returns up to f.Limit parked events matching f, newest first.
func (p *Parked) ListParkedEvents(ctx context.Context, f ParkedFilter) ([]ParkedEvent, error) {
	params := queries.ListParkedOutboxEventsParams{MaxPayloadBytes: MaxPayloadBytes, PageLimit: f.Limit}
	if f.Type != "" {
		params.EventType = pgtype.Text{String: f.Type, Valid: true}
	}
	if f.BeforeSeq > 0 {
		params.BeforeSeq = pgtype.Int8{Int64: f.BeforeSeq, Valid: true}
	}
	rows, err := p.q.ListParkedOutboxEvents(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	out := make([]ParkedEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, ParkedEvent{
			ID: r.EventID, Type: r.EventType, AggregateType: r.AggregateType, AggregateID: r.AggregateID,
			Reason: r.ParkReason, Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt,
			ParkedAt: r.ParkedAt, PayloadSize: r.PayloadSize, Payload: r.Payload, Seq: r.Seq,
		})
	}
	return out, nil
}

// RetryParkedEvent puts the parked event id back in the relay's queue, due now, wakes the
// relays, and records the retry in the audit log under actor (a user id), all in one
// transaction. It returns the event as it now is. An unknown id, or an event that is not
// parked (never was, or was retried already), is ENOTFOUND: a repeated retry changes
// nothing, and the event's workflow still runs at most once (its id derives from the event).
func (p *Parked) RetryParkedEvent(ctx context.Context, actor string, id uuid.UUID) (ParkedEvent, error) {
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return ParkedEvent{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := p.q.WithTx(tx)
	r, err := q.RetryParkedOutboxEvent(ctx, queries.RetryParkedOutboxEventParams{EventID: id, MaxPayloadBytes: MaxPayloadBytes})
	if errors.Is(err, pgx.ErrNoRows) {
		return ParkedEvent{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "no parked event %s", id)
	}
	if err != nil {
		return ParkedEvent{}, fmt.Errorf("retry parked event %s: %w", id, err)
	}
	if err := q.NotifyOutbox(ctx); err != nil {
		return ParkedEvent{}, fmt.Errorf("notify outbox: %w", err)
	}
	err = accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
		Action: AuditEventRetried, Actor: actor,
		Details: map[string]string{"event_id": id.String(), "event_type": r.EventType, "aggregate_id": r.AggregateID.String()},
	})
	if err != nil {
		return ParkedEvent{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return ParkedEvent{}, fmt.Errorf("commit retry of %s: %w", id, err)
	}
	return ParkedEvent{
		ID: r.EventID, Type: r.EventType, AggregateType: r.AggregateType, AggregateID: r.AggregateID,
		Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt,
		PayloadSize: r.PayloadSize, Payload: r.Payload, Seq: r.Seq,
	}, nil
}
