// Package bookings is the bookings bounded context, free of any transport: a student's
// lesson with a tutor from request to completion, its pure rules (availability in the
// tutor's zone, pricing, the state machine, the cancellation policy with an injected clock)
// and the Service whose write methods each own one transaction: the booking row, its outbox
// event and its audit event commit together. Double booking is refused by the database
// (the exclusion constraint bookings_tutor_no_overlap), not only here.
//
// The RPCs (server/booking.go) change a booking on behalf of a person; the BookingLifecycle
// workflow changes it on behalf of time and payments (hold expiry, confirmation, reminders,
// completion) through the activities in activities/bookings.go.
package bookings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
)

// State is where a booking is in its life.
type State string

// The states. Requested, awaiting payment and confirmed hold the tutor's time (live);
// declined, cancelled, expired and completed are final and release it.
const (
	StateRequested       State = "requested"
	StateAwaitingPayment State = "awaiting_payment"
	StateConfirmed       State = "confirmed"
	StateCompleted       State = "completed"
	StateDeclined        State = "declined"
	StateCancelled       State = "cancelled"
	StateExpired         State = "expired"
)

// Live reports whether a booking in this state holds the tutor's time.
func (s State) Live() bool {
	return s == StateRequested || s == StateAwaitingPayment || s == StateConfirmed
}

// Party is who acts on a booking.
type Party string

// The parties.
const (
	PartyStudent Party = "student"
	PartyTutor   Party = "tutor"
	PartyAdmin   Party = "admin"
)

// Decision and hold windows.
const (
	// DecideWithin is how long a tutor has to accept or decline (never past DecideMargin
	// before the lesson).
	DecideWithin = 48 * time.Hour
	// DecideMargin is how long before the lesson the tutor's decision is due at the latest.
	DecideMargin = 30 * time.Minute
	// HoldFor is how long an accepted booking holds the slot while the student pays (never
	// past the lesson's start).
	HoldFor = 30 * time.Minute
)

// Reminder kinds and how long before the lesson each is sent.
var Reminders = []Reminder{{Kind: "24h", Before: 24 * time.Hour}, {Kind: "1h", Before: time.Hour}}

// Reminder is one reminder before a lesson.
type Reminder struct {
	Kind   string
	Before time.Duration
}

// Outbox events of the booking aggregate (aggregate id: the booking id).
const (
	Aggregate = "booking"
	// EventRequested starts the booking's BookingLifecycle and tells the tutor.
	EventRequested = "booking.requested"
	EventAccepted  = "booking.accepted"
	EventDeclined  = "booking.declined"
	EventConfirmed = "booking.confirmed"
	EventReminder  = "booking.reminder"
	EventCancelled = "booking.cancelled"
	EventExpired   = "booking.expired"
	EventCompleted = "booking.completed"
	// EventSchema is the version of EventPayload.
	EventSchema = 1
)

// EventPayload is the payload of every booking event: the facts notifications show.
type EventPayload struct {
	Schema      int       `json:"schema"`
	BookingID   uuid.UUID `json:"booking_id"`
	TutorID     uuid.UUID `json:"tutor_id"`
	TutorUserID uuid.UUID `json:"tutor_user_id"`
	StudentID   uuid.UUID `json:"student_id"`
	State       State     `json:"state"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	TimeZone    string    `json:"time_zone"`
	PriceMinor  int64     `json:"price_minor"`
	Currency    string    `json:"currency"`
	RefundMinor int64     `json:"refund_minor"`
	CancelledBy Party     `json:"cancelled_by,omitempty"`
	Reminder    string    `json:"reminder,omitempty"`
	Version     int64     `json:"version"`
}

// Booking is one booking as stored.
type Booking struct {
	ID           uuid.UUID
	TutorID      uuid.UUID
	TutorUserID  uuid.UUID
	StudentID    uuid.UUID
	State        State
	StartsAt     time.Time
	EndsAt       time.Time
	TimeZone     string
	PriceMinor   int64
	Currency     string
	ChargeStatus payments.ChargeStatus
	// RefundMinor is what the cancellation policy owes the student back (cancelled bookings).
	RefundMinor int64
	// RefundedMinor is what the provider has refunded of the booking's charge so far, read
	// from payments' charge with the booking (0 without a charge): the refund has landed once
	// it reaches RefundMinor.
	RefundedMinor int64
	CancelledBy   Party
	Reason        string
	DecideBy      time.Time
	HoldUntil     time.Time // zero unless accepted
	Reminders     []string
	Version       int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// ClientSecret lets the student's browser pay; set by Get for the student of a booking
	// awaiting payment only, never stored or logged.
	ClientSecret string
}

// bookingOf is a booking row with what its charge has refunded so far.
func bookingOf(r queries.Booking, refundedMinor int64) Booking {
	b := Booking{
		ID: r.ID, TutorID: r.TutorID, TutorUserID: r.TutorUserID, StudentID: r.StudentID, State: State(r.State),
		StartsAt: r.StartsAt, EndsAt: r.EndsAt, TimeZone: r.TimeZone, PriceMinor: r.PriceMinor, Currency: r.Currency,
		ChargeStatus: payments.ChargeStatus(r.ChargeStatus), RefundMinor: r.RefundMinor, CancelledBy: Party(r.CancelledBy),
		Reason: r.Reason, DecideBy: r.DecideBy, Reminders: r.RemindersSent, Version: r.Version,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, RefundedMinor: refundedMinor,
	}
	if r.HoldUntil.Valid {
		b.HoldUntil = r.HoldUntil.Time
	}
	return b
}

// Actor is who calls.
type Actor struct {
	UserID uuid.UUID
	// Admin may see every booking and cancel any.
	Admin bool
}

// partyOf is the actor's role on a booking, and false when the actor may not see it.
func partyOf(a Actor, b Booking) (Party, bool) {
	switch {
	case a.UserID == b.StudentID:
		return PartyStudent, true
	case a.UserID == b.TutorUserID:
		return PartyTutor, true
	case a.Admin:
		return PartyAdmin, true
	}
	return "", false
}

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options are a Service's policies and dependencies.
type Options struct {
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Policy is the cancellation policy; the zero value is DefaultPolicy.
	Policy Policy
	// HoldFor is how long an accepted booking holds the slot for the payment; zero is
	// HoldFor (the constant). Tests shorten it to watch a hold expire in real time.
	HoldFor time.Duration
	// Charger supplies the student's payment client secret for a booking awaiting payment;
	// nil shows none.
	Charger payments.Charger
	// Reviewed is told of each review after it is stored (the tutor's cached profile, which
	// carries the rating, is dropped); nil does nothing.
	Reviewed func(ctx context.Context, tutorID uuid.UUID)
}

// Service is the bookings context over one database.
type Service struct {
	db DB
	q  *queries.Queries
	o  Options
}

// New returns the bookings service over db.
func New(db DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HoldFor <= 0 {
		o.HoldFor = HoldFor
	}
	if o.Policy == (Policy{}) {
		o.Policy = DefaultPolicy
	}
	return &Service{db: db, q: queries.New(db), o: o}
}

// NotFound is the error for a booking that does not exist or that the actor may not see.
func NotFound(id uuid.UUID) error {
	return tutorhub.Errorf(tutorhub.ENOTFOUND, "booking %s not found", id)
}

// ErrSlotTaken is the error for a request whose time overlaps a live booking of the tutor.
var ErrSlotTaken = &tutorhub.Error{Code: tutorhub.ECONFLICT, Message: "the tutor is already booked at this time"}

const exclusionViolation = "23P01"

// Request is what a student asks for.
type Request struct {
	TutorID  uuid.UUID
	Start    time.Time
	Duration time.Duration
}

// RequestBooking records a requested booking of the actor with a published tutor: the slot
// must lie in the tutor's availability (read in the tutor's zone) and be free, and the price
// is the tutor's rate at this moment. It records EventRequested, which starts the booking's
// workflow and tells the tutor.
func (s *Service) RequestBooking(ctx context.Context, a Actor, r Request) (Booking, error) {
	now := s.o.Now()
	var out Booking
	err := s.inTx(ctx, func(tx pgx.Tx, q *queries.Queries) error {
		t, err := q.GetBookableTutor(ctx, r.TutorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return tutors.NotFound(r.TutorID)
		}
		if err != nil {
			return fmt.Errorf("read tutor %s: %w", r.TutorID, err)
		}
		if t.UserID == a.UserID {
			return tutorhub.Invalid("tutor_id", "tutor_id.self", "you cannot book yourself")
		}
		var slots []tutors.Slot
		if err := json.Unmarshal([]byte(t.Availability), &slots); err != nil {
			return fmt.Errorf("tutor %s availability: %w", t.ID, err)
		}
		if err := CheckSlot(slots, t.TimeZone, r.Start, r.Duration, now); err != nil {
			return err
		}
		if t.Currency == "" || t.HourlyRateMinor <= 0 {
			return tutorhub.Errorf(tutorhub.EPRECONDITION, "the tutor has no rate")
		}
		start := r.Start.UTC()
		decideBy := now.Add(DecideWithin)
		if latest := start.Add(-DecideMargin); latest.Before(decideBy) {
			decideBy = latest
		}
		row, err := q.InsertBooking(ctx, queries.InsertBookingParams{
			ID: uuid.New(), TutorID: t.ID, TutorUserID: t.UserID, StudentID: a.UserID,
			StartsAt: start, EndsAt: start.Add(r.Duration), TimeZone: t.TimeZone,
			PriceMinor: Price(t.HourlyRateMinor, r.Duration), Currency: t.Currency, DecideBy: decideBy,
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == exclusionViolation {
			return ErrSlotTaken
		}
		if err != nil {
			return fmt.Errorf("insert booking: %w", err)
		}
		out = bookingOf(row, 0) // a new booking has no charge
		return record(ctx, tx, a.UserID.String(), EventRequested, out, "")
	})
	return out, err
}

// read returns a booking whoever asks; ENOTFOUND if there is none.
func (s *Service) read(ctx context.Context, id uuid.UUID) (Booking, error) {
	row, err := s.q.GetBooking(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Booking{}, NotFound(id)
	}
	if err != nil {
		return Booking{}, fmt.Errorf("read booking %s: %w", id, err)
	}
	return bookingOf(row.Booking, row.RefundedMinor), nil
}

// Get returns a booking the actor takes part in (any, for admins). For the student of a
// booking awaiting payment it carries the charge's client secret from the Charger.
func (s *Service) Get(ctx context.Context, a Actor, id uuid.UUID) (Booking, error) {
	b, err := s.read(ctx, id)
	if err != nil {
		return Booking{}, err
	}
	p, ok := partyOf(a, b)
	if !ok {
		return Booking{}, NotFound(id)
	}
	if p == PartyStudent && b.State == StateAwaitingPayment && s.o.Charger != nil {
		// StartCharge is idempotent by booking id: it returns the charge the workflow started.
		if c, err := s.o.Charger.StartCharge(ctx, chargeRequest(b)); err == nil {
			b.ClientSecret = c.ClientSecret
			b.ChargeStatus = c.Status
		}
	}
	return b, nil
}

// Payable returns a booking the actor may pay now: the actor's own as its student, awaiting
// payment, its hold not over. Its tutor and admins are EFORBIDDEN (paying is the student's),
// anyone else ENOTFOUND, a booking in another state EPRECONDITION.
func (s *Service) Payable(ctx context.Context, a Actor, id uuid.UUID) (Booking, error) {
	b, err := s.read(ctx, id)
	if err != nil {
		return Booking{}, err
	}
	p, ok := partyOf(a, b)
	switch {
	case !ok:
		return Booking{}, NotFound(id)
	case p != PartyStudent:
		return Booking{}, tutorhub.Errorf(tutorhub.EFORBIDDEN, "only the student of a booking pays it")
	case b.State != StateAwaitingPayment:
		return Booking{}, notInState(&b, "paid")
	case !s.o.Now().Before(b.HoldUntil):
		return Booking{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "the time to pay for this booking has passed")
	}
	return b, nil
}

func chargeRequest(b Booking) payments.ChargeRequest {
	return payments.ChargeRequest{BookingID: b.ID, StudentID: b.StudentID, TutorID: b.TutorID, AmountMinor: b.PriceMinor, Currency: b.Currency}
}

// ChargeRequest is the charge a booking asks payments for.
func (b Booking) ChargeRequest() payments.ChargeRequest { return chargeRequest(b) }

// Accept moves a requested booking of the actor's (as tutor, or an admin) to awaiting
// payment; the slot is held for HoldFor while the student pays.
func (s *Service) Accept(ctx context.Context, a Actor, id uuid.UUID) (Booking, error) {
	return s.decide(ctx, a, id, func(b *Booking, now time.Time) (string, error) {
		if b.State != StateRequested {
			return "", notInState(b, "accepted")
		}
		if !now.Before(b.DecideBy) {
			return "", tutorhub.Errorf(tutorhub.EPRECONDITION, "the time to decide on this booking has passed")
		}
		b.State = StateAwaitingPayment
		b.HoldUntil = now.Add(s.o.HoldFor)
		if b.HoldUntil.After(b.StartsAt) {
			b.HoldUntil = b.StartsAt
		}
		return EventAccepted, nil
	}, PartyTutor, PartyAdmin)
}

// Decline moves a requested booking of the actor's (as tutor, or an admin) to declined,
// releasing the slot.
func (s *Service) Decline(ctx context.Context, a Actor, id uuid.UUID, reason string) (Booking, error) {
	return s.decide(ctx, a, id, func(b *Booking, _ time.Time) (string, error) {
		if b.State != StateRequested {
			return "", notInState(b, "declined")
		}
		b.State, b.Reason = StateDeclined, reason
		return EventDeclined, nil
	}, PartyTutor, PartyAdmin)
}

// Cancel cancels a live booking on behalf of either side (or an admin), applying the
// cancellation policy to a paid booking: RefundMinor says what the workflow refunds.
func (s *Service) Cancel(ctx context.Context, a Actor, id uuid.UUID, reason string) (Booking, error) {
	return s.decide(ctx, a, id, func(b *Booking, now time.Time) (string, error) {
		p, _ := partyOf(a, *b)
		if !b.State.Live() {
			return "", notInState(b, "cancelled")
		}
		if !now.Before(b.StartsAt) {
			return "", tutorhub.Errorf(tutorhub.EPRECONDITION, "a lesson that has started cannot be cancelled")
		}
		paid := int64(0)
		if b.ChargeStatus == payments.ChargeSucceeded {
			paid = b.PriceMinor
		}
		b.RefundMinor = s.o.Policy.Refund(p, b.StartsAt, paid, now)
		b.State, b.CancelledBy, b.Reason = StateCancelled, p, reason
		return EventCancelled, nil
	}, PartyStudent, PartyTutor, PartyAdmin)
}

func notInState(b *Booking, verb string) error {
	return tutorhub.Errorf(tutorhub.EPRECONDITION, "a %s booking cannot be %s", b.State, verb)
}

// decide runs a person's change: the booking locked, visible to the actor, the actor one of
// the parties allowed, fn deciding the new state and event. The event reaches the booking's
// workflow through the outbox (SignalBooking).
func (s *Service) decide(ctx context.Context, a Actor, id uuid.UUID, fn func(b *Booking, now time.Time) (string, error), allowed ...Party) (Booking, error) {
	b, err := s.change(ctx, a.UserID.String(), id, s.o.Now(), func(b *Booking, now time.Time) (string, error) {
		p, ok := partyOf(a, *b)
		if !ok {
			return "", NotFound(id)
		}
		if !slices.Contains(allowed, p) {
			return "", tutorhub.Errorf(tutorhub.EFORBIDDEN, "the %s of a booking cannot do this", p)
		}
		return fn(b, now)
	})
	if err != nil {
		return Booking{}, err
	}
	return b, nil
}

// silent is the event of a change written without an outbox or audit event (a charge
// status the booking only mirrors).
const silent = "-"

// change locks a booking, lets fn change it and name an event (none: nothing is written;
// silent: the row only), and writes the row, the outbox event and the audit event in one transaction.
func (s *Service) change(ctx context.Context, actor string, id uuid.UUID, now time.Time, fn func(b *Booking, now time.Time) (string, error)) (Booking, error) {
	var out Booking
	err := s.inTx(ctx, func(tx pgx.Tx, q *queries.Queries) error {
		row, err := q.LockBooking(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return NotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock booking %s: %w", id, err)
		}
		b := bookingOf(row.Booking, row.RefundedMinor)
		event, err := fn(&b, now)
		if err != nil || event == "" {
			out = b
			return err
		}
		updated, err := q.UpdateBookingState(ctx, queries.UpdateBookingStateParams{
			ID: id, State: string(b.State), ChargeStatus: string(b.ChargeStatus), RefundMinor: b.RefundMinor,
			CancelledBy: string(b.CancelledBy), Reason: b.Reason,
			HoldUntil:     pgtype.Timestamptz{Time: b.HoldUntil, Valid: !b.HoldUntil.IsZero()},
			RemindersSent: nonNil(b.Reminders),
		})
		if err != nil {
			return fmt.Errorf("update booking %s: %w", id, err)
		}
		// The charge is payments': what it has refunded is as the lock read it.
		out = bookingOf(updated, b.RefundedMinor)
		reminder := ""
		if event == EventReminder {
			reminder = b.Reminders[len(b.Reminders)-1]
		}
		if event == silent {
			return nil
		}
		return record(ctx, tx, actor, event, out, reminder)
	})
	return out, err
}

func (s *Service) inTx(ctx context.Context, fn func(tx pgx.Tx, q *queries.Queries) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx, s.q.WithTx(tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// record writes a booking's outbox event and audit event.
func record(ctx context.Context, tx pgx.Tx, actor, event string, b Booking, reminder string) error {
	p := EventPayload{
		Schema: EventSchema, BookingID: b.ID, TutorID: b.TutorID, TutorUserID: b.TutorUserID, StudentID: b.StudentID,
		State: b.State, StartsAt: b.StartsAt, EndsAt: b.EndsAt, TimeZone: b.TimeZone, PriceMinor: b.PriceMinor,
		Currency: b.Currency, RefundMinor: b.RefundMinor, CancelledBy: b.CancelledBy, Reminder: reminder, Version: b.Version,
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tp := telemetry.TraceParent(ctx)
	if err := queries.New(tx).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: Aggregate, AggregateID: b.ID, EventType: event, Payload: string(payload),
		Traceparent: pgtype.Text{String: tp, Valid: tp != ""},
	}); err != nil {
		return fmt.Errorf("outbox %s %s: %w", event, b.ID, err)
	}
	return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
		Action: event, Actor: actor, Subject: b.StudentID.String(),
		Details: map[string]string{"booking_id": b.ID.String(), "state": string(b.State)},
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
