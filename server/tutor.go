package server

import (
	"context"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/tutors"
)

// TutorServer implements tutorhub.v1.TutorService over the tutors package: it decodes,
// names the actor, calls the domain and renders the result.
type TutorServer struct {
	tutors *tutors.Service
	tokens *pagetoken.Codec
}

// NewTutorServer returns the tutor profiles' handler over the tutors service.
func NewTutorServer(t *tutors.Service, tokens *pagetoken.Codec) *TutorServer {
	return &TutorServer{tutors: t, tokens: tokens}
}

// CreateTutorProfile creates the caller's profile, unpublished, and gives the caller the
// tutor role.
func (s *TutorServer) CreateTutorProfile(ctx context.Context, req *tutorhubv1.CreateTutorProfileRequest) (*tutorhubv1.CreateTutorProfileResponse, error) {
	a, err := tutorActor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.tutors.Create(auditContext(ctx), a, profileFromProto(req.GetProfile()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateTutorProfileResponse{Tutor: tutorProto(t)}, nil
}

// UpdateTutorProfile replaces the masked fields of a profile still at the client's version.
func (s *TutorServer) UpdateTutorProfile(ctx context.Context, req *tutorhubv1.UpdateTutorProfileRequest) (*tutorhubv1.UpdateTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	a, err := tutorActor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.tutors.Update(auditContext(ctx), a, id, req.GetVersion(), profileFromProto(req.GetProfile()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.UpdateTutorProfileResponse{Tutor: tutorProto(t)}, nil
}

// GetTutor returns a live tutor the caller may see.
func (s *TutorServer) GetTutor(ctx context.Context, req *tutorhubv1.GetTutorRequest) (*tutorhubv1.GetTutorResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	t, err := s.tutors.Get(ctx, optionalTutorActor(ctx), id)
	if err != nil {
		return nil, err
	}
	pb := tutorProto(t)
	// The rating comes with the (cached) profile: a new review drops the cached copy.
	pb.ReviewCount, pb.AverageRating = t.Rating.Count, t.Rating.Average
	return &tutorhubv1.GetTutorResponse{Tutor: pb}, nil
}

// ListTutors returns one page of tutors matching every filter, in (currency, rate, id) order.
func (s *TutorServer) ListTutors(ctx context.Context, req *tutorhubv1.ListTutorsRequest) (*tutorhubv1.ListTutorsResponse, error) {
	size := pageSize(req.GetPageSize(), defaultTutorPageSize)
	ks, err := newKeyset[tutors.Position](s.tokens, tutorListScope(req), req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	subjectID, _ := uuid.Parse(req.GetSubjectId()) // protovalidate checked the form
	list, err := s.tutors.List(ctx, optionalTutorActor(ctx), tutors.ListFilter{
		SubjectID: subjectID, Level: enumName(req.GetLevel()), Language: req.GetLanguage(),
		LessonMode: enumName(req.GetLessonMode()), Currency: req.GetCurrency(),
		MinRate: req.GetMinHourlyRateMinor(), MaxRate: req.GetMaxHourlyRateMinor(),
		IncludeUnpublished: req.GetIncludeUnpublished(), After: ks.After, Limit: ks.Limit(),
	})
	if err != nil {
		return nil, err
	}
	list, next, err := page(ks, list, tutors.Tutor.Position)
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListTutorsResponse{NextPageToken: next}
	for _, t := range list {
		res.Tutors = append(res.Tutors, tutorProto(t))
	}
	return res, nil
}

// tutorListScope binds a page token to the list's filters and order.
func tutorListScope(req *tutorhubv1.ListTutorsRequest) string {
	return strings.Join([]string{
		"tutors/v2", req.GetSubjectId(), req.GetLevel().String(), strconv.FormatInt(req.GetMinHourlyRateMinor(), 10),
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
	a, err := tutorActor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.tutors.Publish(auditContext(ctx), a, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.PublishTutorProfileResponse{Tutor: tutorProto(t)}, nil
}

// UnpublishTutorProfile hides a profile from everyone but its owner and admins.
func (s *TutorServer) UnpublishTutorProfile(ctx context.Context, req *tutorhubv1.UnpublishTutorProfileRequest) (*tutorhubv1.UnpublishTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	a, err := tutorActor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.tutors.Unpublish(auditContext(ctx), a, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.UnpublishTutorProfileResponse{Tutor: tutorProto(t)}, nil
}

// DeleteTutorProfile soft-deletes a profile and takes the tutor role from its owner.
func (s *TutorServer) DeleteTutorProfile(ctx context.Context, req *tutorhubv1.DeleteTutorProfileRequest) (*tutorhubv1.DeleteTutorProfileResponse, error) {
	id, err := parseTutorID(req.GetTutorId())
	if err != nil {
		return nil, err
	}
	a, err := tutorActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.tutors.Delete(auditContext(ctx), a, id); err != nil {
		return nil, err
	}
	return &tutorhubv1.DeleteTutorProfileResponse{}, nil
}

// tutorActor is the signed-in caller as the tutors package sees it, or EUNAUTHENTICATED.
func tutorActor(ctx context.Context) (tutors.Actor, error) {
	a := optionalTutorActor(ctx)
	if a == nil {
		return tutors.Actor{}, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to change tutor profiles")
	}
	return *a, nil
}

// optionalTutorActor is the caller as the tutors package sees it; nil when anonymous.
func optionalTutorActor(ctx context.Context) *tutors.Actor {
	c := CallerFrom(ctx)
	if c == nil {
		return nil
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return nil
	}
	return &tutors.Actor{UserID: id, Admin: c.HasRole(RoleAdmin), EmailVerified: c.EmailVerified}
}

func parseTutorID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, tutorhub.Invalid("tutor_id", "string.uuid", "value must be a valid UUID")
	}
	return id, nil
}
