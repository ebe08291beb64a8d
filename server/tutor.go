package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/queries"
)

const (
	defaultTutorPageSize = 20
)

// Outbox events a tutor write records, for search indexing and notifications.
const (
	tutorAggregate         = "tutor"
	eventTutorCreated      = "tutor.created"
	eventTutorUpdated      = "tutor.updated"
	eventTutorPublished    = "tutor.published"
	eventTutorUnpublished  = "tutor.unpublished"
	eventTutorDeleted      = "tutor.deleted"
	tutorCacheKeyPrefix    = "tutor:"
	uniqueViolation        = "23505"
	foreignKeyViolation    = "23503"
	tutorUserLiveIndexName = "tutors_user_id_live_key"
)

// TxDB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type TxDB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// TutorServer implements tutorhub.v1.TutorService: tutor profiles.
type TutorServer struct {
	db     TxDB
	q      *queries.Queries
	tokens *pagetoken.Codec
	cache  *cache.Cache
}

// NewTutorServer returns the tutor profiles' handler over db. GetTutor reads through cache;
// a nil cache reads the database every time.
func NewTutorServer(db TxDB, cache *cache.Cache, tokens *pagetoken.Codec) *TutorServer {
	return &TutorServer{db: db, q: queries.New(db), tokens: tokens, cache: cache}
}

// TutorCacheKey is the cache key of a tutor's stored profile.
func TutorCacheKey(id uuid.UUID) string { return tutorCacheKeyPrefix + id.String() }

// CreateTutorProfile creates the caller's profile, unpublished, and gives the caller the
// tutor role.
func (s *TutorServer) CreateTutorProfile(ctx context.Context, req *tutorhubv1.CreateTutorProfileRequest) (*tutorhubv1.CreateTutorProfileResponse, error) {
	caller, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	userID, err := uuid.Parse(caller.UserID)
	if err != nil {
		return nil, fmt.Errorf("create tutor: caller id %q: %w", caller.UserID, err)
	}
	p := profileFromProto(req.GetProfile())
	v := validateTutorProfile(p, "profile.")
	if err := s.checkSubjects(ctx, s.q, p, v); err != nil {
		return nil, err
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var id uuid.UUID
	tutor, err := s.inTx(ctx, func(q *queries.Queries) (uuid.UUID, string, error) {
		params, err := profileColumns(p)
		if err != nil {
			return uuid.Nil, "", err
		}
		id, err = q.CreateTutor(ctx, queries.CreateTutorParams{
			UserID: userID, Headline: params.Headline, Bio: params.Bio, Subjects: params.Subjects,
			HourlyRateMinor: params.HourlyRateMinor, Currency: params.Currency, Languages: params.Languages,
			LessonModes: params.LessonModes, TimeZone: params.TimeZone, Availability: params.Availability,
		})
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == tutorUserLiveIndexName:
			return uuid.Nil, "", tutorhub.Errorf(tutorhub.EEXISTS, "you already have a tutor profile")
		case errors.As(err, &pe) && pe.Code == foreignKeyViolation:
			return uuid.Nil, "", tutorhub.Errorf(tutorhub.EPRECONDITION, "your account is not set up yet; sign in again")
		case err != nil:
			return uuid.Nil, "", fmt.Errorf("create tutor for %s: %w", userID, err)
		}
		if err := q.GrantTutorRole(ctx, userID); err != nil {
			return uuid.Nil, "", fmt.Errorf("grant tutor role to %s: %w", userID, err)
		}
		return id, eventTutorCreated, nil
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateTutorProfileResponse{Tutor: tutor}, nil
}

// UpdateTutorProfile replaces the masked fields of a profile still at the client's version.
func (s *TutorServer) UpdateTutorProfile(ctx context.Context, req *tutorhubv1.UpdateTutorProfileRequest) (*tutorhubv1.UpdateTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	incoming := profileFromProto(req.GetProfile())
	if err := applyMask(&tutorProfile{}, incoming, req.GetUpdateMask().GetPaths()); err != nil {
		return nil, err
	}
	tutor, err := s.change(ctx, id, func(q *queries.Queries, t *queries.Tutor, p *tutorProfile) (string, error) {
		if t.Version != req.GetVersion() {
			return "", tutorhub.Errorf(tutorhub.ECONFLICT, "the profile changed since version %d (now %d): re-read it and apply your change again", req.GetVersion(), t.Version)
		}
		if err := applyMask(p, incoming, req.GetUpdateMask().GetPaths()); err != nil {
			return "", err
		}
		v := validateTutorProfile(p, "profile.")
		if err := s.checkSubjects(ctx, q, p, v); err != nil {
			return "", err
		}
		if err := v.err(); err != nil {
			return "", err
		}
		if missing := missingForPublish(p); t.Published && len(missing) > 0 {
			return "", incompleteProfile("a published profile must stay complete; unpublish it first", missing)
		}
		return eventTutorUpdated, nil
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.UpdateTutorProfileResponse{Tutor: tutor}, nil
}

// GetTutor returns a live tutor the caller may see.
func (s *TutorServer) GetTutor(ctx context.Context, req *tutorhubv1.GetTutorRequest) (*tutorhubv1.GetTutorResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	t, err := s.readTutor(ctx, id)
	if err != nil {
		return nil, err
	}
	if !t.GetPublished() && !ownerOrAdmin(CallerFrom(ctx), t.GetUserId()) {
		return nil, tutorNotFound(id)
	}
	return &tutorhubv1.GetTutorResponse{Tutor: t}, nil
}

// readTutor returns a live tutor, published or not, through the cache.
func (s *TutorServer) readTutor(ctx context.Context, id uuid.UUID) (*tutorhubv1.Tutor, error) {
	load := func(ctx context.Context) (*tutorhubv1.Tutor, error) {
		row, err := s.q.GetTutor(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, cache.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("get tutor %s: %w", id, err)
		}
		return tutorProto(row.Tutor, row.DisplayName)
	}
	var (
		t   *tutorhubv1.Tutor
		err error
	)
	if s.cache == nil {
		t, err = load(ctx)
	} else {
		t, err = cache.GetProto(ctx, s.cache, TutorCacheKey(id), func() *tutorhubv1.Tutor { return new(tutorhubv1.Tutor) }, load)
	}
	if errors.Is(err, cache.ErrNotFound) {
		return nil, tutorNotFound(id)
	}
	return t, err
}

// tutorPosition is the keyset of the last tutor on a page.
type tutorPosition struct {
	Rate int64     `json:"r"`
	ID   uuid.UUID `json:"i"`
}

// ListTutors returns one page of tutors matching every filter, in (rate, id) order.
func (s *TutorServer) ListTutors(ctx context.Context, req *tutorhubv1.ListTutorsRequest) (*tutorhubv1.ListTutorsResponse, error) {
	if req.GetIncludeUnpublished() {
		c, err := signedIn(ctx)
		if err != nil {
			return nil, err
		}
		if !c.HasRole(RoleAdmin) {
			return nil, tutorhub.Errorf(tutorhub.EFORBIDDEN, "only admins may list unpublished profiles")
		}
	}
	filter, err := tutorFilter(req)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize(), defaultTutorPageSize)
	ks, err := newKeyset[tutorPosition](s.tokens, tutorListScope(req), req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	filter.PageLimit = ks.Limit()
	filter.AfterRate = -1
	if ks.After != nil {
		filter.AfterRate, filter.AfterID = ks.After.Rate, ks.After.ID
	}
	rows, err := s.q.ListTutors(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list tutors: %w", err)
	}
	rows, next, err := page(ks, rows, func(r queries.ListTutorsRow) tutorPosition {
		return tutorPosition{Rate: r.Tutor.HourlyRateMinor, ID: r.Tutor.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListTutorsResponse{NextPageToken: next}
	for _, r := range rows {
		t, err := tutorProto(r.Tutor, r.DisplayName)
		if err != nil {
			return nil, err
		}
		res.Tutors = append(res.Tutors, t)
	}
	return res, nil
}

// tutorFilter translates the request's filters into the query's: facets for subject, level,
// language and lesson mode, and a rate range.
func tutorFilter(req *tutorhubv1.ListTutorsRequest) (queries.ListTutorsParams, error) {
	f := queries.ListTutorsParams{
		IncludeUnpublished: req.GetIncludeUnpublished(),
		Facets:             []string{},
		Currency:           req.GetCurrency(),
		MinRate:            req.GetMinHourlyRateMinor(),
		MaxRate:            req.GetMaxHourlyRateMinor(),
	}
	if f.MaxRate == 0 {
		f.MaxRate = maxHourlyRateMinor
	}
	if sid := req.GetSubjectId(); sid != "" {
		if level, ok := enumName(levelNames, int32(req.GetLevel())); ok {
			f.Facets = append(f.Facets, "sl:"+sid+":"+level)
		} else {
			f.Facets = append(f.Facets, "s:"+sid)
		}
	}
	if l := req.GetLanguage(); l != "" {
		tag, err := language.Parse(l)
		if err != nil || tag == language.Und {
			return f, tutorhub.Invalid("language", "language.bcp47", fmt.Sprintf("%q is not a BCP 47 language tag", l))
		}
		f.Facets = append(f.Facets, "l:"+strings.ToLower(tag.String()))
	}
	if m, ok := enumName(lessonModeNames, int32(req.GetLessonMode())); ok {
		f.Facets = append(f.Facets, "m:"+m)
	}
	return f, nil
}

// tutorListScope binds a page token to the list's filters.
func tutorListScope(req *tutorhubv1.ListTutorsRequest) string {
	return strings.Join([]string{
		"tutors", req.GetSubjectId(), req.GetLevel().String(), strconv.FormatInt(req.GetMinHourlyRateMinor(), 10),
		strconv.FormatInt(req.GetMaxHourlyRateMinor(), 10), req.GetCurrency(), req.GetLanguage(),
		req.GetLessonMode().String(), strconv.FormatBool(req.GetIncludeUnpublished()),
	}, "|")
}

// PublishTutorProfile makes a complete profile visible to everyone.
func (s *TutorServer) PublishTutorProfile(ctx context.Context, req *tutorhubv1.PublishTutorProfileRequest) (*tutorhubv1.PublishTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	tutor, err := s.change(ctx, id, func(_ *queries.Queries, t *queries.Tutor, p *tutorProfile) (string, error) {
		if t.Published {
			return "", nil
		}
		if missing := missingForPublish(p); len(missing) > 0 {
			return "", incompleteProfile("the profile is incomplete", missing)
		}
		t.Published = true
		return eventTutorPublished, nil
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.PublishTutorProfileResponse{Tutor: tutor}, nil
}

// UnpublishTutorProfile hides a profile from everyone but its owner and admins.
func (s *TutorServer) UnpublishTutorProfile(ctx context.Context, req *tutorhubv1.UnpublishTutorProfileRequest) (*tutorhubv1.UnpublishTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	tutor, err := s.change(ctx, id, func(_ *queries.Queries, t *queries.Tutor, _ *tutorProfile) (string, error) {
		if !t.Published {
			return "", nil
		}
		t.Published = false
		return eventTutorUnpublished, nil
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.UnpublishTutorProfileResponse{Tutor: tutor}, nil
}

// DeleteTutorProfile soft-deletes a profile and takes the tutor role from its owner.
func (s *TutorServer) DeleteTutorProfile(ctx context.Context, req *tutorhubv1.DeleteTutorProfileRequest) (*tutorhubv1.DeleteTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	caller, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("delete tutor %s: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	t, err := q.LockTutor(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tutorNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("delete tutor %s: %w", id, err)
	}
	if err := authorizeTutorChange(caller, &t); err != nil {
		return nil, err
	}
	if _, err := q.DeleteTutor(ctx, id); err != nil {
		return nil, fmt.Errorf("delete tutor %s: %w", id, err)
	}
	if err := q.RevokeTutorRole(ctx, t.UserID); err != nil {
		return nil, fmt.Errorf("revoke tutor role of %s: %w", t.UserID, err)
	}
	if err := insertTutorEvent(ctx, q, eventTutorDeleted, t.ID, t.UserID, t.Version+1, false); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("delete tutor %s: commit: %w", id, err)
	}
	s.invalidate(ctx, id)
	return &tutorhubv1.DeleteTutorProfileResponse{}, nil
}

// change is the read-check-write of an existing profile: in one transaction it locks the
// live profile, authorizes the caller, lets fn check and change it (the profile and
// t.Published), writes it at the next version with an outbox event, commits, and then drops
// the cached copy. fn returns the event to record, or "" when nothing changed.
func (s *TutorServer) change(ctx context.Context, id uuid.UUID, fn func(q *queries.Queries, t *queries.Tutor, p *tutorProfile) (string, error)) (*tutorhubv1.Tutor, error) {
	caller, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return s.inTx(ctx, func(q *queries.Queries) (uuid.UUID, string, error) {
		t, err := q.LockTutor(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, "", tutorNotFound(id)
		}
		if err != nil {
			return uuid.Nil, "", fmt.Errorf("lock tutor %s: %w", id, err)
		}
		if err := authorizeTutorChange(caller, &t); err != nil {
			return uuid.Nil, "", err
		}
		p, err := profileFromRow(&t)
		if err != nil {
			return uuid.Nil, "", err
		}
		event, err := fn(q, &t, p)
		if err != nil || event == "" {
			return id, "", err
		}
		cols, err := profileColumns(p)
		if err != nil {
			return uuid.Nil, "", err
		}
		cols.ID, cols.Version, cols.Published = id, t.Version, t.Published
		if _, err := q.UpdateTutor(ctx, cols); err != nil {
			return uuid.Nil, "", fmt.Errorf("update tutor %s: %w", id, err)
		}
		return id, event, nil
	})
}

// inTx runs fn in a transaction; when fn names an event, it records the event in the outbox
// in the same transaction and, after the commit, drops the tutor's cached copy. It returns
// the tutor as committed.
func (s *TutorServer) inTx(ctx context.Context, fn func(q *queries.Queries) (uuid.UUID, string, error)) (*tutorhubv1.Tutor, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	id, event, err := fn(q)
	if err != nil {
		return nil, err
	}
	row, err := q.GetTutor(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read tutor %s: %w", id, err)
	}
	if event != "" {
		if err := insertTutorEvent(ctx, q, event, id, row.Tutor.UserID, row.Tutor.Version, row.Tutor.Published); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit tutor %s: %w", id, err)
	}
	if event != "" {
		s.invalidate(ctx, id)
	}
	return tutorProto(row.Tutor, row.DisplayName)
}

func (s *TutorServer) invalidate(ctx context.Context, id uuid.UUID) {
	if s.cache != nil {
		s.cache.Invalidate(ctx, TutorCacheKey(id))
	}
}

// tutorEvent is the payload of every tutor outbox event: enough for a consumer to decide
// whether to re-read the profile.
type tutorEvent struct {
	TutorID   uuid.UUID `json:"tutor_id"`
	UserID    uuid.UUID `json:"user_id"`
	Version   int64     `json:"version"`
	Published bool      `json:"published"`
}

func insertTutorEvent(ctx context.Context, q *queries.Queries, event string, id, userID uuid.UUID, version int64, published bool) error {
	payload, err := json.Marshal(tutorEvent{TutorID: id, UserID: userID, Version: version, Published: published})
	if err != nil {
		return err
	}
	if err := q.InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: tutorAggregate, AggregateID: id, EventType: event, Payload: string(payload),
	}); err != nil {
		return fmt.Errorf("outbox %s %s: %w", event, id, err)
	}
	return nil
}

// checkSubjects adds a violation for every subject the catalogue does not hold.
func (s *TutorServer) checkSubjects(ctx context.Context, q *queries.Queries, p *tutorProfile, v *violations) error {
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
			v.add(fmt.Sprintf("subjects[%d].subject_id", i), "subjects.known", "no subject %s in the catalogue", sub.SubjectID)
		}
	}
	return nil
}

// signedIn returns the caller, or an EUNAUTHENTICATED error for anonymous requests.
func signedIn(ctx context.Context) (*Caller, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to change tutor profiles")
	}
	return c, nil
}

func ownerOrAdmin(c *Caller, userID string) bool {
	return c != nil && (c.UserID == userID || c.HasRole(RoleAdmin))
}

// authorizeTutorChange lets the owner and admins change a profile. Others learn nothing
// about an unpublished profile (not found) and are refused a published one.
func authorizeTutorChange(c *Caller, t *queries.Tutor) error {
	if ownerOrAdmin(c, t.UserID.String()) {
		return nil
	}
	if !t.Published {
		return tutorNotFound(t.ID)
	}
	return tutorhub.Errorf(tutorhub.EFORBIDDEN, "only the tutor or an admin may change this profile")
}

func tutorNotFound(id uuid.UUID) error {
	return tutorhub.Errorf(tutorhub.ENOTFOUND, "tutor %s not found", id)
}

func parseTutorID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, tutorhub.Invalid("tutor_id", "string.uuid", "value must be a valid UUID")
	}
	return id, nil
}

// incompleteProfile is the FAILED_PRECONDITION error naming every missing field, in the
// message and as violations on profile.<field>.
func incompleteProfile(reason string, missing []string) error {
	e := tutorhub.Errorf(tutorhub.EPRECONDITION, "%s: missing %s", reason, strings.Join(missing, ", "))
	for _, f := range missing {
		e.Violations = append(e.Violations, tutorhub.Violation{Field: "profile." + f, Rule: "publish.required", Message: f + " is required to publish"})
	}
	return e
}

// profileFromProto converts a request's profile; values out of range become values that
// validateTutorProfile rejects.
func profileFromProto(pb *tutorhubv1.TutorProfile) *tutorProfile {
	p := &tutorProfile{
		Headline:        pb.GetHeadline(),
		Bio:             pb.GetBio(),
		HourlyRateMinor: pb.GetHourlyRateMinor(),
		Currency:        pb.GetCurrency(),
		Languages:       append([]string{}, pb.GetLanguages()...),
		LessonModes:     []string{},
		TimeZone:        pb.GetTimeZone(),
		Subjects:        []tutorSubject{},
		Availability:    []weeklySlot{},
	}
	for _, s := range pb.GetSubjects() {
		id, _ := uuid.Parse(s.GetSubjectId())
		ts := tutorSubject{SubjectID: id, Levels: []string{}}
		for _, l := range s.GetLevels() {
			name, _ := enumName(levelNames, int32(l))
			ts.Levels = append(ts.Levels, name)
		}
		p.Subjects = append(p.Subjects, ts)
	}
	for _, m := range pb.GetLessonModes() {
		name, _ := enumName(lessonModeNames, int32(m))
		p.LessonModes = append(p.LessonModes, name)
	}
	for _, a := range pb.GetAvailability() {
		p.Availability = append(p.Availability, weeklySlot{Day: int32(a.GetDayOfWeek()), Start: a.GetStartMinute(), End: a.GetEndMinute()})
	}
	return p
}

func profileFromRow(t *queries.Tutor) (*tutorProfile, error) {
	p := &tutorProfile{
		Headline: t.Headline, Bio: t.Bio, HourlyRateMinor: t.HourlyRateMinor, Currency: t.Currency,
		Languages: t.Languages, LessonModes: t.LessonModes, TimeZone: t.TimeZone,
	}
	if err := json.Unmarshal(t.Subjects, &p.Subjects); err != nil {
		return nil, fmt.Errorf("tutor %s subjects: %w", t.ID, err)
	}
	if err := json.Unmarshal(t.Availability, &p.Availability); err != nil {
		return nil, fmt.Errorf("tutor %s availability: %w", t.ID, err)
	}
	return p, nil
}

// profileColumns renders a profile as the columns UpdateTutor writes.
func profileColumns(p *tutorProfile) (queries.UpdateTutorParams, error) {
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

// tutorProto renders a stored tutor.
func tutorProto(t queries.Tutor, displayName string) (*tutorhubv1.Tutor, error) {
	p, err := profileFromRow(&t)
	if err != nil {
		return nil, err
	}
	pb := &tutorhubv1.TutorProfile{
		Headline: p.Headline, Bio: p.Bio, HourlyRateMinor: p.HourlyRateMinor, Currency: p.Currency,
		Languages: p.Languages, TimeZone: p.TimeZone,
	}
	for _, s := range p.Subjects {
		ts := &tutorhubv1.TutorSubject{SubjectId: s.SubjectID.String()}
		for _, l := range s.Levels {
			ts.Levels = append(ts.Levels, tutorhubv1.Level(enumNumber(levelNames, l)))
		}
		pb.Subjects = append(pb.Subjects, ts)
	}
	for _, m := range p.LessonModes {
		pb.LessonModes = append(pb.LessonModes, tutorhubv1.LessonMode(enumNumber(lessonModeNames, m)))
	}
	for _, a := range p.Availability {
		pb.Availability = append(pb.Availability, &tutorhubv1.AvailabilitySlot{DayOfWeek: tutorhubv1.DayOfWeek(a.Day), StartMinute: a.Start, EndMinute: a.End})
	}
	return &tutorhubv1.Tutor{
		Id: t.ID.String(), UserId: t.UserID.String(), DisplayName: displayName, Profile: pb,
		Published: t.Published, Version: t.Version,
		CreateTime: timestamppb.New(t.CreatedAt), UpdateTime: timestamppb.New(t.UpdatedAt),
	}, nil
}
