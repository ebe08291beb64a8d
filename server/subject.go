package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/queries"
)

const (
	defaultPageSize = 50
)

// SubjectServer implements tutorhub.v1.SubjectService: the public subject catalogue.
type SubjectServer struct {
	q      *queries.Queries
	tokens *pagetoken.Codec
}

// NewSubjectServer returns the catalogue's handler over db.
func NewSubjectServer(db queries.DBTX, tokens *pagetoken.Codec) *SubjectServer {
	return &SubjectServer{q: queries.New(db), tokens: tokens}
}

// subjectPosition is the keyset of the last subject on a page.
type subjectPosition struct {
	Name string    `json:"n"`
	ID   uuid.UUID `json:"i"`
}

// ListSubjects returns one page of the catalogue in (name, id) order.
func (s *SubjectServer) ListSubjects(ctx context.Context, req *tutorhubv1.ListSubjectsRequest) (*tutorhubv1.ListSubjectsResponse, error) {
	scope := "subjects|category=" + req.GetCategory()
	ks, err := newKeyset[subjectPosition](s.tokens, scope, req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	params := queries.ListSubjectsParams{PageLimit: ks.Limit()}
	if req.GetCategory() != "" {
		params.Category = pgtype.Text{String: req.GetCategory(), Valid: true}
	}
	if ks.After != nil {
		params.AfterName = pgtype.Text{String: ks.After.Name, Valid: true}
		params.AfterID = uuid.NullUUID{UUID: ks.After.ID, Valid: true}
	}
	rows, err := s.q.ListSubjects(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list subjects: %w", err)
	}
	rows, next, err := page(ks, rows, func(r queries.ListSubjectsRow) subjectPosition { return subjectPosition{Name: r.Name, ID: r.ID} })
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListSubjectsResponse{NextPageToken: next}
	for _, r := range rows {
		res.Subjects = append(res.Subjects, subjectProto(r.ID, r.Slug, r.Name, r.Category))
	}
	return res, nil
}

// GetSubject returns one subject.
func (s *SubjectServer) GetSubject(ctx context.Context, req *tutorhubv1.GetSubjectRequest) (*tutorhubv1.GetSubjectResponse, error) {
	id, err := uuid.Parse(req.GetId())
	if err != nil {
		return nil, tutorhub.Invalid("id", "string.uuid", "value must be a valid UUID")
	}
	r, err := s.q.GetSubject(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tutorhub.Errorf(tutorhub.ENOTFOUND, "subject %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get subject %s: %w", id, err)
	}
	return &tutorhubv1.GetSubjectResponse{Subject: subjectProto(r.ID, r.Slug, r.Name, r.Category)}, nil
}

func subjectProto(id uuid.UUID, slug, name, category string) *tutorhubv1.Subject {
	return &tutorhubv1.Subject{Id: id.String(), Slug: slug, Name: name, Category: category}
}

// invalidPageToken is the error for a page token that fails verification.
func invalidPageToken() error {
	return tutorhub.Invalid("page_token", "page_token.valid", "page token is invalid, expired or belongs to another query")
}
