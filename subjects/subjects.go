// Package subjects is the subject catalogue, free of any transport: the subjects tutors teach,
// read-only to the API.
package subjects

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// Subject is one catalogue entry.
type Subject struct {
	ID       uuid.UUID
	Slug     string
	Name     string
	Category string
}

// Position is a subject's place in the catalogue's (name, id) order.
type Position struct {
	Name string    `json:"n"`
	ID   uuid.UUID `json:"i"`
}

// Position is s's place in the catalogue order.
func (s Subject) Position() Position { return Position{Name: s.Name, ID: s.ID} }

// Filter selects subjects; zero fields do not filter.
type Filter struct {
	Category string
	// After continues the list after this position; nil starts at the beginning.
	After *Position
	Limit int32
}

// FirstPageTTL is how long a process keeps a first page of the catalogue (per category and
// page size) before reading it again. Only migrations change the catalogue, so a new subject
// reaches first pages within this time of its deploy; later pages (with a position) are
// always read from the database, so keyset paging stays exact.
const FirstPageTTL = 10 * time.Second

// maxCachedPages bounds the first pages kept (category is the caller's input).
const maxCachedPages = 256

// Service reads the catalogue.
type Service struct {
	q   *queries.Queries
	now func() time.Time

	mu    sync.RWMutex
	pages map[pageKey]cachedPage
}

type pageKey struct {
	category string
	limit    int32
}

type cachedPage struct {
	list    []Subject
	expires time.Time
}

// New returns the catalogue over db.
func New(db queries.DBTX) *Service {
	return &Service{q: queries.New(db), now: time.Now, pages: map[pageKey]cachedPage{}}
}

// List returns up to f.Limit subjects matching f, in (name, id) order. A first page (no
// f.After) may be up to FirstPageTTL old. The slice returned is shared: callers must not
// change it.
func (s *Service) List(ctx context.Context, f Filter) ([]Subject, error) {
	if f.After != nil {
		return s.list(ctx, f)
	}
	key := pageKey{f.Category, f.Limit}
	now := s.now()
	s.mu.RLock()
	p, ok := s.pages[key]
	s.mu.RUnlock()
	if ok && now.Before(p.expires) {
		return p.list, nil
	}
	list, err := s.list(ctx, f)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.pages) >= maxCachedPages {
		clear(s.pages)
	}
	s.pages[key] = cachedPage{list: list, expires: now.Add(FirstPageTTL)}
	s.mu.Unlock()
	return list, nil
}

func (s *Service) list(ctx context.Context, f Filter) ([]Subject, error) {
	params := queries.ListSubjectsParams{PageLimit: f.Limit}
	if f.Category != "" {
		params.Category = pgtype.Text{String: f.Category, Valid: true}
	}
	if f.After != nil {
		params.AfterName = pgtype.Text{String: f.After.Name, Valid: true}
		params.AfterID = uuid.NullUUID{UUID: f.After.ID, Valid: true}
	}
	rows, err := s.q.ListSubjects(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list subjects: %w", err)
	}
	out := make([]Subject, 0, len(rows))
	for _, r := range rows {
		out = append(out, Subject{ID: r.ID, Slug: r.Slug, Name: r.Name, Category: r.Category})
	}
	return out, nil
}

// Get returns one subject, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Subject, error) {
	r, err := s.q.GetSubject(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Subject{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "subject %s not found", id)
	}
	if err != nil {
		return Subject{}, fmt.Errorf("get subject %s: %w", id, err)
	}
	return Subject{ID: r.ID, Slug: r.Slug, Name: r.Name, Category: r.Category}, nil
}
