package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/queries"
)

// The provider event types tutorhub applies. Any other type is stored parked.
const (
	EventPaymentSucceeded = "payment_intent.succeeded"
	EventPaymentFailed    = "payment_intent.payment_failed"
	EventPaymentCanceled  = "payment_intent.canceled"
	EventChargeRefunded   = "charge.refunded"
)

// Handled says whether tutorhub applies provider events of type t.
func Handled(t string) bool {
	switch t {
	case EventPaymentSucceeded, EventPaymentFailed, EventPaymentCanceled, EventChargeRefunded:
		return true
	}
	return false
}

// Outbox event of a stored provider event: PaymentWebhook applies it.
const (
	// Aggregate is the outbox aggregate type of payment events; the aggregate id is the
	// stored event's id.
	Aggregate = "payment_event"
	// EventReceived starts PaymentWebhook.
	EventReceived = "payment.event_received"
	// EventSchema is the version of EventPayload.
	EventSchema = 1
)

// EventPayload is the outbox payload of EventReceived.
type EventPayload struct {
	Schema          int       `json:"schema"`
	EventID         uuid.UUID `json:"event_id"`
	ProviderEventID string    `json:"provider_event_id"`
	Type            string    `json:"type"`
}

// MaxEventBytes bounds one webhook body.
const MaxEventBytes = 256 << 10

// providerEvent is the part of a Stripe event envelope tutorhub reads.
type providerEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Created  int64  `json:"created"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// paymentObject is the part of a PaymentIntent or Charge object tutorhub reads.
type paymentObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Amount           int64             `json:"amount"`
	AmountRefunded   int64             `json:"amount_refunded"`
	Currency         string            `json:"currency"`
	Status           string            `json:"status"`
	PaymentIntent    string            `json:"payment_intent"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *struct {
		Message string `json:"message"`
	} `json:"last_payment_error"`
}

// StoreResult says what StoreEvent did.
type StoreResult string

// The results of StoreEvent.
const (
	Stored    StoreResult = "stored"    // new, to be applied by PaymentWebhook
	Duplicate StoreResult = "duplicate" // stored before: nothing done
	Parked    StoreResult = "parked"    // new, of a type tutorhub does not apply
)

// ParseEvent reads a webhook body's envelope, refusing one without a sane id, type and time.
func parseEvent(body []byte) (providerEvent, error) {
	var ev providerEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, tutorhub.Invalid("body", "json", "the body is not a JSON event")
	}
	switch {
	case !strings.HasPrefix(ev.ID, "evt_") || len(ev.ID) > 255:
		return ev, tutorhub.Invalid("id", "pattern", "the event id must start with evt_ and be at most 255 bytes")
	case ev.Type == "" || len(ev.Type) > 100:
		return ev, tutorhub.Invalid("type", "length", "the event type must be 1 to 100 bytes")
	case ev.Created <= 0:
		return ev, tutorhub.Invalid("created", "range", "the event needs its creation time")
	}
	return ev, nil
}

// StoreEvent stores a verified webhook body once, with the outbox row that applies it, in one
// transaction. An event id seen before is Duplicate (nothing changes); an event of a type
// tutorhub does not apply is stored Parked, with no outbox row.
func (s *Service) StoreEvent(ctx context.Context, body []byte) (StoreResult, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return "", err
	}
	status, note, result := "received", "", Stored
	if !Handled(ev.Type) {
		status, note, result = "parked", "tutorhub does not apply events of type "+ev.Type, Parked
	}
	err = s.inTx(ctx, func(q *queries.Queries) error {
		id, err := q.InsertPaymentEvent(ctx, queries.InsertPaymentEventParams{
			ProviderEventID: ev.ID, EventType: ev.Type, Livemode: ev.Livemode,
			ProviderCreatedAt: time.Unix(ev.Created, 0).UTC(), Payload: string(body), Status: status, Note: note,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			result = Duplicate
			return nil
		}
		if err != nil || result == Parked {
			return err
		}
		payload, err := json.Marshal(EventPayload{Schema: EventSchema, EventID: id, ProviderEventID: ev.ID, Type: ev.Type})
		if err != nil {
			return err
		}
		tp := telemetry.TraceParent(ctx)
		return q.InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
			AggregateType: Aggregate, AggregateID: id, EventType: EventReceived, Payload: string(payload),
			Traceparent: pgtype.Text{String: tp, Valid: tp != ""},
		})
	})
	if err != nil {
		return "", fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	return result, nil
}

// Applied is what applying one provider event did, and what the booking must hear.
type Applied struct {
	// Note says what was done (or why nothing was).
	Note string
	// Signal is SignalChargeSucceeded, SignalChargeFailed or empty (nothing to tell).
	Signal string
	// Outcome is the signal's payload.
	Outcome Outcome
}

// rank orders statuses: a webhook moves a charge only to a higher rank, so events applied in
// any order, any number of times, leave the same state.
func rank(s ChargeStatus) int {
	switch s {
	case ChargePending:
		return 0
	case ChargeFailed:
		return 1
	case ChargeSucceeded, ChargeCanceled:
		return 2
	case ChargeRefunded:
		return 3
	}
	return -1
}

// ApplyEvent applies a stored provider event once: the charge's state, its ledger journal and
// the event's settlement commit together. Applying it again changes nothing and reports the
// same signal (the booking treats a repeated signal as a no-op).
func (s *Service) ApplyEvent(ctx context.Context, providerEventID string) (Applied, error) {
	var out Applied
	err := s.inTx(ctx, func(q *queries.Queries) error {
		stored, err := q.LockPaymentEvent(ctx, providerEventID)
		if errors.Is(err, pgx.ErrNoRows) {
			return tutorhub.Errorf(tutorhub.ENOTFOUND, "no stored event %s", providerEventID)
		}
		if err != nil {
			return err
		}
		var ev providerEvent
		var obj paymentObject
		if err := json.Unmarshal([]byte(stored.Payload), &ev); err != nil {
			return err
		}
		if err := json.Unmarshal(ev.Data.Object, &obj); err != nil {
			out.Note = "the event's object is unreadable"
			return settle(ctx, q, stored, "ignored", out.Note)
		}
		piID := obj.ID
		if ev.Type == EventChargeRefunded {
			piID = obj.PaymentIntent
		}
		c, err := lockCharge(ctx, q, piID, obj.Metadata[MetadataBookingID])
		if errors.Is(err, pgx.ErrNoRows) {
			out.Note = "no charge has PaymentIntent " + piID
			return settle(ctx, q, stored, "ignored", out.Note)
		}
		if err != nil {
			return err
		}
		if ev.Type != EventChargeRefunded && (obj.Amount != c.AmountMinor || obj.Currency != c.Currency) {
			out.Note = fmt.Sprintf("the PaymentIntent's amount %d %s differs from the charge's %d %s", obj.Amount, obj.Currency, c.AmountMinor, c.Currency)
			return settle(ctx, q, stored, "ignored", out.Note)
		}
		cur := ChargeStatus(c.Status)
		switch ev.Type {
		case EventPaymentSucceeded:
			if rank(cur) < rank(ChargeSucceeded) {
				c, err = applySucceeded(ctx, q, c)
				out.Note = "charge succeeded"
			} else {
				out.Note = "charge already " + string(cur)
			}
			if st := ChargeStatus(c.Status); st == ChargeSucceeded || st == ChargeRefunded || c.RefundedMinor > 0 {
				out.Signal = SignalChargeSucceeded
			}
		case EventPaymentFailed, EventPaymentCanceled:
			target, reason := ChargeFailed, "the payment failed"
			if obj.LastPaymentError != nil && obj.LastPaymentError.Message != "" {
				reason = obj.LastPaymentError.Message
			}
			if ev.Type == EventPaymentCanceled {
				target, reason = ChargeCanceled, "the payment was canceled"
			}
			reason = truncate(reason, 500)
			if rank(cur) < rank(target) {
				c.Status, c.FailureReason = string(target), reason
				c, err = q.UpdateChargeState(ctx, stateParams(c))
				out.Note = "charge " + string(target)
			} else {
				out.Note = "charge already " + string(cur)
			}
			if ChargeStatus(c.Status) == target {
				out.Signal = SignalChargeFailed
				out.Outcome.Reason = c.FailureReason
			}
		case EventChargeRefunded:
			before := c.RefundedMinor
			c, err = applyRefunded(ctx, q, c, obj.AmountRefunded)
			out.Note = fmt.Sprintf("refunded %d of %d", c.RefundedMinor, c.AmountMinor)
			if err == nil && c.RefundedMinor == before {
				out.Note = "refund already recorded"
			}
		}
		if err != nil {
			return err
		}
		out.Outcome = Outcome{
			BookingID: c.BookingID, ChargeID: c.ID, Status: ChargeStatus(c.Status),
			AmountMinor: c.AmountMinor, Currency: c.Currency, Reason: out.Outcome.Reason,
		}
		return settle(ctx, q, stored, "applied", out.Note)
	})
	if err != nil {
		return Applied{}, fmt.Errorf("apply event %s: %w", providerEventID, err)
	}
	return out, nil
}

// lockCharge finds a charge by its PaymentIntent or, when the PaymentIntent was not recorded
// (the call that created it failed before recording), by the booking in its metadata.
func lockCharge(ctx context.Context, q *queries.Queries, piID, booking string) (queries.PaymentCharge, error) {
	c, err := q.LockChargeByProviderID(ctx, pgtype.Text{String: piID, Valid: true})
	if !errors.Is(err, pgx.ErrNoRows) {
		return c, err
	}
	id, perr := uuid.Parse(booking)
	if perr != nil {
		return c, err
	}
	c, err = q.LockChargeByBooking(ctx, id)
	if err != nil {
		return c, err
	}
	if c.ProviderID.Valid && c.ProviderID.String != piID {
		return c, pgx.ErrNoRows
	}
	return c, nil
}

func settle(ctx context.Context, q *queries.Queries, ev queries.LockPaymentEventRow, status, note string) error {
	if ev.Status != "received" {
		return nil
	}
	return q.SettlePaymentEvent(ctx, queries.SettlePaymentEventParams{ID: ev.ID, Status: status, Note: truncate(note, 500)})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ParkedEvent is a stored provider event tutorhub does not apply, for the admin listing.
type ParkedEvent struct {
	ID              uuid.UUID
	ProviderEventID string
	Type            string
	Livemode        bool
	CreatedAt       time.Time // at the provider
	ReceivedAt      time.Time
	Note            string
	PayloadSize     int64
}

// ListParkedEvents returns one page of parked events, newest first, after (beforeAt,
// beforeID) when beforeID is set.
func (s *Service) ListParkedEvents(ctx context.Context, limit int32, beforeAt time.Time, beforeID uuid.UUID) ([]ParkedEvent, error) {
	p := queries.ListParkedPaymentEventsParams{PageLimit: limit}
	if beforeID != uuid.Nil {
		p.BeforeAt = pgtypeTime(beforeAt)
		p.BeforeID = uuid.NullUUID{UUID: beforeID, Valid: true}
	}
	rows, err := s.q.ListParkedPaymentEvents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list parked payment events: %w", err)
	}
	out := make([]ParkedEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, ParkedEvent{
			ID: r.ID, ProviderEventID: r.ProviderEventID, Type: r.EventType, Livemode: r.Livemode,
			CreatedAt: r.ProviderCreatedAt, ReceivedAt: r.ReceivedAt, Note: r.Note, PayloadSize: r.PayloadSize,
		})
	}
	return out, nil
}
