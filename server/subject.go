package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/subjects"
)

const (
	defaultPageSize = 50
)

// SubjectServer implements tutorhub.v1.SubjectService: the public subject catalogue.
type SubjectServer struct {
	subjects *subjects.Service
	tokens   *pagetoken.Codec
}

// NewSubjectServer returns the catalogue's handler.
func NewSubjectServer(s *subjects.Service, tokens *pagetoken.Codec) *SubjectServer {
	return &SubjectServer{subjects: s, tokens: tokens}
}

// ListSubjects returns one page of the catalogue in (name, id) order.
func (s *SubjectServer) ListSubjects(ctx context.Context, req *tutorhubv1.ListSubjectsRequest) (*tutorhubv1.ListSubjectsResponse, error) {
	scope := "subjects|category=" + req.GetCategory()
	ks, err := newKeyset[subjects.Position](s.tokens, scope, req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	list, err := s.subjects.List(ctx, subjects.Filter{Category: req.GetCategory(), After: ks.After, Limit: ks.Limit()})
	if err != nil {
		return nil, err
	}
	list, next, err := page(ks, list, subjects.Subject.Position)
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListSubjectsResponse{NextPageToken: next}
	for _, r := range list {
		res.Subjects = append(res.Subjects, subjectProto(r))
	}
	return res, nil
}

// GetSubject returns one subject.
func (s *SubjectServer) GetSubject(ctx context.Context, req *tutorhubv1.GetSubjectRequest) (*tutorhubv1.GetSubjectResponse, error) {
	id, err := uuid.Parse(req.GetId())
	if err != nil {
		return nil, tutorhub.Invalid("id", "string.uuid", "value must be a valid UUID")
	}
	r, err := s.subjects.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetSubjectResponse{Subject: subjectProto(r)}, nil
}

func subjectProto(s subjects.Subject) *tutorhubv1.Subject {
	return &tutorhubv1.Subject{Id: s.ID.String(), Slug: s.Slug, Name: s.Name, Category: s.Category}
}

// invalidPageToken is the error for a page token that fails verification.
func invalidPageToken() error {
	return tutorhub.Invalid("page_token", "page_token.valid", "page token is invalid, expired or belongs to another query")
}
