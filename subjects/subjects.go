// Package subjects is the subject catalogue, free of any transport: the subjects tutors teach,
// read-only to the API.
package subjects

import (
	"context"
	"errors"
	"fmt"

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

// Service reads the catalogue.
type Service struct{ q *queries.Queries }

// New returns the catalogue over db.
func New(db queries.DBTX) *Service { return &Service{q: queries.New(db)} }

// List returns up to f.Limit subjects matching f, in (name, id) order.
func (s *Service) List(ctx context.Context, f Filter) ([]Subject, error) {
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
