package server

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/tutors"
)

// UserServer implements tutorhub.v1.UserService over the accounts package: users' roles and
// profiles.
type UserServer struct {
	accounts *accounts.Service
	tutors   *tutors.Service
}

// NewUserServer returns the UserService handler.
func NewUserServer(a *accounts.Service, t *tutors.Service) *UserServer {
	return &UserServer{accounts: a, tutors: t}
}

// GetMe returns the caller's record.
func (s *UserServer) GetMe(ctx context.Context, _ *tutorhubv1.GetMeRequest) (*tutorhubv1.GetMeResponse, error) {
	id := uuid.MustParse(CallerFrom(ctx).UserID)
	u, err := s.accounts.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := s.userProto(ctx, u)
	if err != nil {
		return nil, err
	}
	out.EmailVerified = CallerFrom(ctx).EmailVerified
	return &tutorhubv1.GetMeResponse{User: out}, nil
}

// UpdateMe changes the caller's profile fields named in the mask.
func (s *UserServer) UpdateMe(ctx context.Context, req *tutorhubv1.UpdateMeRequest) (*tutorhubv1.UpdateMeResponse, error) {
	id := uuid.MustParse(CallerFrom(ctx).UserID)
	p := req.GetProfile()
	u, err := s.accounts.UpdateProfile(auditContext(ctx), id, accounts.ProfileUpdate{
		DisplayName: p.GetDisplayName(), Bio: p.GetBio(), TimeZone: p.GetTimezone(), Locale: p.GetLocale(),
	}, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	out, err := s.userProto(ctx, u)
	if err != nil {
		return nil, err
	}
	out.EmailVerified = CallerFrom(ctx).EmailVerified
	return &tutorhubv1.UpdateMeResponse{User: out}, nil
}

// GetUser returns a public profile.
func (s *UserServer) GetUser(ctx context.Context, req *tutorhubv1.GetUserRequest) (*tutorhubv1.GetUserResponse, error) {
	id, err := uuid.Parse(req.GetId())
	if err != nil {
		return nil, tutorhub.Invalid("id", "string.uuid", "value must be a valid UUID")
	}
	p, err := s.accounts.GetPublicProfile(ctx, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetUserResponse{Profile: &tutorhubv1.PublicProfile{
		Id: p.ID.String(), DisplayName: p.DisplayName, Bio: p.Bio, CreateTime: timestamppb.New(p.CreatedAt),
		AvatarUploadId: nullUUIDString(p.AvatarUploadID),
	}}, nil
}

// userProto renders a user's own record, naming their live tutor profile.
func (s *UserServer) userProto(ctx context.Context, u accounts.User) (*tutorhubv1.User, error) {
	tutorID, err := s.tutors.IDOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := &tutorhubv1.User{
		Id: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Bio: u.Bio,
		Timezone: u.TimeZone, Locale: u.Locale, Roles: u.Roles,
		CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.UpdatedAt),
	}
	if tutorID.Valid {
		out.TutorId = tutorID.UUID.String()
	}
	if u.AvatarUploadID.Valid {
		out.AvatarUploadId = u.AvatarUploadID.UUID.String()
	}
	return out, nil
}
