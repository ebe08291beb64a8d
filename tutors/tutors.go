// Package tutors is the tutor-profiles bounded context, free of any transport: the Tutor and
// Profile types, their validation, the outbox events workers consume (events.go), and the
// Service whose write methods each own one transaction: the row, its outbox event, its audit
// event (action = event type, actor = who asked, subject = the owner) and the tutor role of
// the owner commit together, and the cached copy is dropped after the commit.
//
// Names line up across layers: the RPC PublishTutorProfile calls Service.Publish, which
// writes with queries.PublishTutor.
package tutors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/queries"
)

// Tutor is a stored tutor profile with its owner's display name.
type Tutor struct {
	ID          uuid.UUID `json:"id"`
	UserID      uuid.UUID `json:"user_id"`
	DisplayName string    `json:"display_name"`
	// AvatarUploadID is the owner's avatar (a clean upload), if any.
	AvatarUploadID uuid.NullUUID `json:"avatar_upload_id"`
	Profile        Profile       `json:"profile"`
	Published      bool          `json:"published"`
	// Version increases with every change; updates name the version they were made on.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Rating summarises the tutor's reviews; set by Get (cached with the profile, and
	// invalidated by Invalidate when a review arrives), zero in lists.
	Rating Rating `json:"rating"`
}

// Rating is a tutor's review count and average rating (0 without reviews).
type Rating struct {
	Count   int64   `json:"count"`
	Average float64 `json:"average"`
}

// Actor is who asks for a change or a read.
type Actor struct {
	UserID uuid.UUID
	// Admin holds the admin role: may see and change every profile.
	Admin bool
	// EmailVerified says the actor's sign-in address is verified.
	EmailVerified bool
}

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options are a Service's policies and optional dependencies.
type Options struct {
	// Cache holds profiles for Get; nil reads the database every time.
	Cache *cache.Cache
	// AllowUnverifiedEmail lets actors whose email is not verified Create a profile; the zero
	// value refuses them.
	AllowUnverifiedEmail bool
	// Reads serves the public reads that may be slightly stale (a replica router,
	// database.Router): List, and Get when there is no Cache (a cache is filled from the
	// primary, so a fill after an invalidation never stores a copy older than the write);
	// nil reads the database.
	Reads queries.DBTX
}

// Service is the tutors context over one database.
type Service struct {
	db    DB
	q     *queries.Queries
	reads *queries.Queries
	cache *cache.Cache
	o     Options
}

// New returns the tutors service over db.
func New(db DB, o Options) *Service {
	s := &Service{db: db, q: queries.New(db), cache: o.Cache, o: o}
	s.reads = s.q
	if o.Reads != nil {
		s.reads = queries.New(o.Reads)
	}
	return s
}

// CacheKey is the cache key of a tutor's stored profile.
func CacheKey(id uuid.UUID) string { return "tutor:v4:" + id.String() }

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	userLiveIndexName   = "tutors_user_id_live_key"
)

// NotFound is the error for a tutor that does not exist or that the actor may not know of.
func NotFound(id uuid.UUID) error {
	return tutorhub.Errorf(tutorhub.ENOTFOUND, "tutor %s not found", id)
}

// Create creates the actor's profile, unpublished, and gives the actor the tutor role. An
// actor whose email is not verified is refused (EPRECONDITION) unless AllowUnverifiedEmail.
func (s *Service) Create(ctx context.Context, a Actor, p Profile) (Tutor, error) {
	if !s.o.AllowUnverifiedEmail && !a.EmailVerified {
		return Tutor{}, &tutorhub.Error{Code: tutorhub.EPRECONDITION, Message: "verify your email address before creating a tutor profile",
			Violations: []tutorhub.Violation{{Field: "email", Rule: "email.verified", Message: "the account's email address is not verified"}}}
	}
	v := p.Validate("profile.")
	if err := s.checkSubjects(ctx, s.q, &p, v); err != nil {
		return Tutor{}, err
	}
	if err := v.Err("invalid tutor profile"); err != nil {
		return Tutor{}, err
	}
	return s.inTx(ctx, a, func(q *queries.Queries) (uuid.UUID, string, error) {
		c, err := columns(&p)
		if err != nil {
			return uuid.Nil, "", err
		}
		id, err := q.CreateTutor(ctx, queries.CreateTutorParams{
			UserID: a.UserID, Headline: c.Headline, Bio: c.Bio, Subjects: c.Subjects,
			HourlyRateMinor: c.HourlyRateMinor, Currency: c.Currency, Languages: c.Languages,
			LessonModes: c.LessonModes, TimeZone: c.TimeZone, Availability: c.Availability,
		})
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == userLiveIndexName:
			return uuid.Nil, "", tutorhub.Errorf(tutorhub.EEXISTS, "you already have a tutor profile")
		case errors.As(err, &pe) && pe.Code == foreignKeyViolation:
			return uuid.Nil, "", tutorhub.Errorf(tutorhub.EPRECONDITION, "your account is not set up yet; sign in again")
		case err != nil:
			return uuid.Nil, "", fmt.Errorf("create tutor for %s: %w", a.UserID, err)
		}
		if err := q.GrantTutorRole(ctx, a.UserID); err != nil {
			return uuid.Nil, "", fmt.Errorf("grant tutor role to %s: %w", a.UserID, err)
		}
		return id, EventCreated, nil
	})
}

// Update replaces the fields of profile id that paths name with their values in in, if the
// profile is still at version: otherwise ECONFLICT and nothing is written. A published
// profile must stay complete.
func (s *Service) Update(ctx context.Context, a Actor, id uuid.UUID, version int64, in Profile, paths []string) (Tutor, error) {
	if err := (&Profile{}).ApplyMask(&in, paths); err != nil {
		return Tutor{}, err // a bad mask is refused before a transaction opens
	}
	return s.change(ctx, a, id, func(q *queries.Queries, t *Tutor) (string, error) {
		if t.Version != version {
			return "", tutorhub.Errorf(tutorhub.ECONFLICT, "the profile changed since version %d (now %d): re-read it and apply your change again", version, t.Version)
		}
		p := t.Profile
		if err := p.ApplyMask(&in, paths); err != nil {
			return "", err
		}
		v := p.Validate("profile.")
		if err := s.checkSubjects(ctx, q, &p, v); err != nil {
			return "", err
		}
		if err := v.Err("invalid tutor profile"); err != nil {
			return "", err
		}
		if missing := p.MissingForPublish(); t.Published && len(missing) > 0 {
			return "", incompleteProfile("a published profile must stay complete; unpublish it first", missing)
		}
		c, err := columns(&p)
		if err != nil {
			return "", err
		}
		c.ID, c.Version = id, t.Version
		if _, err := q.UpdateTutor(ctx, c); err != nil {
			return "", fmt.Errorf("update tutor %s: %w", id, err)
		}
		return EventUpdated, nil
	})
}

// Publish makes a complete profile visible to everyone; publishing a published profile
// changes nothing.
func (s *Service) Publish(ctx context.Context, a Actor, id uuid.UUID) (Tutor, error) {
	return s.change(ctx, a, id, func(q *queries.Queries, t *Tutor) (string, error) {
		if t.Published {
			return "", nil
		}
		if missing := t.Profile.MissingForPublish(); len(missing) > 0 {
			return "", incompleteProfile("the profile is incomplete", missing)
		}
		if _, err := q.PublishTutor(ctx, queries.PublishTutorParams{ID: id, Version: t.Version}); err != nil {
			return "", fmt.Errorf("publish tutor %s: %w", id, err)
		}
		return EventPublished, nil
	})
}

// Unpublish hides a profile from everyone but its owner and admins; unpublishing an
// unpublished profile changes nothing.
func (s *Service) Unpublish(ctx context.Context, a Actor, id uuid.UUID) (Tutor, error) {
	return s.change(ctx, a, id, func(q *queries.Queries, t *Tutor) (string, error) {
		if !t.Published {
			return "", nil
		}
		if _, err := q.UnpublishTutor(ctx, queries.UnpublishTutorParams{ID: id, Version: t.Version}); err != nil {
			return "", fmt.Errorf("unpublish tutor %s: %w", id, err)
		}
		return EventUnpublished, nil
	})
}

// Delete soft-deletes a profile and takes the tutor role from its owner: from the commit on,
// no reader sees it.
func (s *Service) Delete(ctx context.Context, a Actor, id uuid.UUID) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete tutor %s: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	t, err := lockForChange(ctx, q, a, id)
	if err != nil {
		return err
	}
	if _, err := q.DeleteTutor(ctx, id); err != nil {
		return fmt.Errorf("delete tutor %s: %w", id, err)
	}
	if err := q.RevokeTutorRole(ctx, t.UserID); err != nil {
		return fmt.Errorf("revoke tutor role of %s: %w", t.UserID, err)
	}
	if err := record(ctx, tx, a, EventDeleted, EventPayload{TutorID: id, UserID: t.UserID, Version: t.Version + 1}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("delete tutor %s: commit: %w", id, err)
	}
	s.invalidate(ctx, id)
	return nil
}

// Get returns a live tutor the actor (nil: anonymous) may see: a published one, or any of
// the actor's own, or any for an admin. Reads go through the cache.
func (s *Service) Get(ctx context.Context, a *Actor, id uuid.UUID) (Tutor, error) {
	load := func(ctx context.Context) (Tutor, error) {
		q := s.reads
		if s.cache != nil {
			q = s.q
		}
		row, err := q.GetTutor(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return Tutor{}, cache.ErrNotFound
		}
		if err != nil {
			return Tutor{}, fmt.Errorf("get tutor %s: %w", id, err)
		}
		t, err := tutorOf(row.Tutor, row.DisplayName, row.AvatarUploadID)
		t.Rating = Rating{Count: row.ReviewCount, Average: row.AverageRating}
		return t, err
	}
	var (
		t   Tutor
		err error
	)
	if s.cache == nil {
		t, err = load(ctx)
	} else {
		t, err = cache.GetJSON(ctx, s.cache, CacheKey(id), load)
	}
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return Tutor{}, NotFound(id)
	case err != nil:
		return Tutor{}, err
	case !t.Published && !ownerOrAdmin(a, t.UserID):
		return Tutor{}, NotFound(id)
	}
	return t, nil
}

// IDOfUser returns the id of the user's live tutor profile, if any.
func (s *Service) IDOfUser(ctx context.Context, userID uuid.UUID) (uuid.NullUUID, error) {
	id, err := s.q.LiveTutorIDOfUser(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.NullUUID{}, nil
	}
	if err != nil {
		return uuid.NullUUID{}, fmt.Errorf("tutor of user %s: %w", userID, err)
	}
	return uuid.NullUUID{UUID: id, Valid: true}, nil
}

// change is the read-check-write of an existing profile: in one transaction it locks the
// live profile, authorizes the actor, and lets fn check it and write it (through q, with the
// query named after the change); fn returns the event to record, or "" when nothing changed.
func (s *Service) change(ctx context.Context, a Actor, id uuid.UUID, fn func(q *queries.Queries, t *Tutor) (string, error)) (Tutor, error) {
	return s.inTx(ctx, a, func(q *queries.Queries) (uuid.UUID, string, error) {
		t, err := lockForChange(ctx, q, a, id)
		if err != nil {
			return uuid.Nil, "", err
		}
		event, err := fn(q, &t)
		return id, event, err
	})
}

// inTx runs fn in a transaction; when fn names an event, it records the event in the outbox
// and the audit log in the same transaction and, after the commit, drops the tutor's cached
// copy. It returns the tutor as committed.
func (s *Service) inTx(ctx context.Context, a Actor, fn func(q *queries.Queries) (uuid.UUID, string, error)) (Tutor, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tutor{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	id, event, err := fn(q)
	if err != nil {
		return Tutor{}, err
	}
	row, err := q.GetTutor(ctx, id)
	if err != nil {
		return Tutor{}, fmt.Errorf("read tutor %s: %w", id, err)
	}
	if event != "" {
		p := EventPayload{TutorID: id, UserID: row.Tutor.UserID, Version: row.Tutor.Version, Published: row.Tutor.Published}
		if err := record(ctx, tx, a, event, p); err != nil {
			return Tutor{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return Tutor{}, fmt.Errorf("commit tutor %s: %w", id, err)
	}
	if event != "" {
		s.invalidate(ctx, id)
	}
	return tutorOf(row.Tutor, row.DisplayName, row.AvatarUploadID)
}

// record writes a change's outbox event and its audit event through tx.
func record(ctx context.Context, tx pgx.Tx, a Actor, event string, p EventPayload) error {
	if err := insertEvent(ctx, queries.New(tx), event, p); err != nil {
		return err
	}
	return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
		Action: event, Actor: a.UserID.String(), Subject: p.UserID.String(),
		Details: map[string]string{"tutor_id": p.TutorID.String(), "version": strconv.FormatInt(p.Version, 10)},
	})
}

// Invalidate drops the tutor's cached profile, for a change made outside this service that
// Get shows (a new review changes the rating).
func (s *Service) Invalidate(ctx context.Context, id uuid.UUID) { s.invalidate(ctx, id) }

func (s *Service) invalidate(ctx context.Context, id uuid.UUID) {
	if s.cache != nil {
		s.cache.Invalidate(ctx, CacheKey(id))
	}
}

// lockForChange locks a live profile for the rest of the transaction and authorizes the
// actor to change it.
func lockForChange(ctx context.Context, q *queries.Queries, a Actor, id uuid.UUID) (Tutor, error) {
	row, err := q.LockTutor(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tutor{}, NotFound(id)
	}
	if err != nil {
		return Tutor{}, fmt.Errorf("lock tutor %s: %w", id, err)
	}
	t, err := tutorOf(row, "", uuid.NullUUID{})
	if err != nil {
		return Tutor{}, err
	}
	return t, authorizeChange(a, &t)
}

func ownerOrAdmin(a *Actor, userID uuid.UUID) bool {
	return a != nil && (a.UserID == userID || a.Admin)
}

// authorizeChange lets the owner and admins change a profile. Others learn nothing about an
// unpublished profile (not found) and are refused a published one.
func authorizeChange(a Actor, t *Tutor) error {
	if ownerOrAdmin(&a, t.UserID) {
		return nil
	}
	if !t.Published {
		return NotFound(t.ID)
	}
	return tutorhub.Errorf(tutorhub.EFORBIDDEN, "only the tutor or an admin may change this profile")
}

// checkSubjects adds a violation for every subject the catalogue does not hold.
func (s *Service) checkSubjects(ctx context.Context, q *queries.Queries, p *Profile, v *tutorhub.Violations) error {
	if len(p.Subjects) == 0 {
		return nil
	}
	ids := make([]string, 0, len(p.Subjects))
	for _, sub := range p.Subjects {
		ids = append(ids, sub.SubjectID.String())
	}
	known, err := q.KnownSubjectIDs(ctx, ids)
	if err != nil {
		return fmt.Errorf("check subjects: %w", err)
	}
	found := make(map[uuid.UUID]bool, len(known))
	for _, id := range known {
		found[id] = true
	}
	for i, sub := range p.Subjects {
		if sub.SubjectID != uuid.Nil && !found[sub.SubjectID] {
			v.Add(fmt.Sprintf("subjects[%d].subject_id", i), "subjects.known", "no subject %s in the catalogue", sub.SubjectID)
		}
	}
	return nil
}

// tutorOf converts a stored row.
func tutorOf(t queries.Tutor, displayName string, avatar uuid.NullUUID) (Tutor, error) {
	p := Profile{
		Headline: t.Headline, Bio: t.Bio, HourlyRateMinor: t.HourlyRateMinor, Currency: t.Currency,
		Languages: t.Languages, LessonModes: t.LessonModes, TimeZone: t.TimeZone,
	}
	if err := json.Unmarshal(t.Subjects, &p.Subjects); err != nil {
		return Tutor{}, fmt.Errorf("tutor %s subjects: %w", t.ID, err)
	}
	if err := json.Unmarshal(t.Availability, &p.Availability); err != nil {
		return Tutor{}, fmt.Errorf("tutor %s availability: %w", t.ID, err)
	}
	return Tutor{
		ID: t.ID, UserID: t.UserID, DisplayName: displayName, AvatarUploadID: avatar, Profile: p, Published: t.Published,
		Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}, nil
}

// columns renders a profile as the columns UpdateTutor writes.
func columns(p *Profile) (queries.UpdateTutorParams, error) {
	subjects, err := json.Marshal(nonNil(p.Subjects))
	if err != nil {
		return queries.UpdateTutorParams{}, err
	}
	availability, err := json.Marshal(nonNil(p.Availability))
	if err != nil {
		return queries.UpdateTutorParams{}, err
	}
	return queries.UpdateTutorParams{
		Headline: p.Headline, Bio: p.Bio, Subjects: string(subjects), HourlyRateMinor: p.HourlyRateMinor,
		Currency: p.Currency, Languages: nonNil(p.Languages), LessonModes: nonNil(p.LessonModes),
		TimeZone: p.TimeZone, Availability: string(availability),
	}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
