package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones for validation, whatever the host has installed

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/queries"
)

// UserServer implements tutorhub.v1.UserService: users' roles and profiles.
type UserServer struct {
	db    *pgxpool.Pool
	q     *queries.Queries
	cache *cache.Cache
}

// NewUserServer returns the UserService handler over db. GetUser reads public profiles
// through cache; a nil cache reads the database every time.
func NewUserServer(db *pgxpool.Pool, cache *cache.Cache) *UserServer {
	return &UserServer{db: db, q: queries.New(db), cache: cache}
}

// UserCacheKey is the cache key of a user's public profile.
func UserCacheKey(id uuid.UUID) string { return "user:" + id.String() }

// GetMe returns the caller's record.
func (s *UserServer) GetMe(ctx context.Context, _ *tutorhubv1.GetMeRequest) (*tutorhubv1.GetMeResponse, error) {
	id := uuid.MustParse(CallerFrom(ctx).UserID)
	u, err := s.q.GetUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	out := userProto(u)
	out.EmailVerified = CallerFrom(ctx).EmailVerified
	if out.TutorId, err = s.tutorIDOf(ctx, id); err != nil {
		return nil, err
	}
	return &tutorhubv1.GetMeResponse{User: out}, nil
}

// tutorIDOf returns the id of the user's live tutor profile, or "" when there is none.
func (s *UserServer) tutorIDOf(ctx context.Context, id uuid.UUID) (string, error) {
	tutorID, err := s.q.LiveTutorIDOfUser(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tutor of user %s: %w", id, err)
	}
	return tutorID.String(), nil
}

// ProfileChange is a validated UpdateMe: the new values of the named fields.
type ProfileChange struct {
	Fields                             []string
	DisplayName, Bio, Timezone, Locale string
}

// profilePaths are the paths UpdateMe accepts in its mask.
var profilePaths = []string{"display_name", "bio", "timezone", "locale"}

// ParseProfileChange validates an UpdateMe request: every mask path known and every named
// value valid (IANA zone, BCP 47 tag, stored canonically). Every problem is reported at once.
func ParseProfileChange(p *tutorhubv1.ProfileUpdate, paths []string) (ProfileChange, error) {
	var vs []tutorhub.Violation
	ch := ProfileChange{}
	if len(paths) == 0 {
		vs = append(vs, tutorhub.Violation{Field: "update_mask", Rule: "field_mask.non_empty", Message: "name at least one field to change"})
	}
	for _, path := range paths {
		if !slices.Contains(profilePaths, path) {
			vs = append(vs, tutorhub.Violation{Field: "update_mask", Rule: "field_mask.paths", Message: fmt.Sprintf("unknown or read-only path %q; allowed: %s", truncate(path, 64), strings.Join(profilePaths, ", "))})
			continue
		}
		if slices.Contains(ch.Fields, path) {
			continue
		}
		ch.Fields = append(ch.Fields, path)
		switch path {
		case "display_name":
			ch.DisplayName = strings.TrimSpace(p.GetDisplayName())
		case "bio":
			ch.Bio = p.GetBio()
		case "timezone":
			tz := p.GetTimezone()
			if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
				vs = append(vs, tutorhub.Violation{Field: "profile.timezone", Rule: "timezone.iana", Message: "must be an IANA time zone such as Europe/Paris"})
			}
			ch.Timezone = tz
		case "locale":
			tag, err := language.Parse(p.GetLocale())
			if err != nil || p.GetLocale() == "" {
				vs = append(vs, tutorhub.Violation{Field: "profile.locale", Rule: "locale.bcp47", Message: "must be a BCP 47 language tag such as en or pt-BR"})
			}
			ch.Locale = tag.String()
		}
	}
	if len(vs) > 0 {
		return ProfileChange{}, &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid request", Violations: vs}
	}
	return ch, nil
}

// apply returns the profile u with the change applied.
func (ch ProfileChange) apply(u queries.User) queries.UpdateUserProfileParams {
	out := queries.UpdateUserProfileParams{ID: u.ID, DisplayName: u.DisplayName, Bio: u.Bio, Timezone: u.Timezone, Locale: u.Locale}
	for _, f := range ch.Fields {
		switch f {
		case "display_name":
			out.DisplayName = ch.DisplayName
		case "bio":
			out.Bio = ch.Bio
		case "timezone":
			out.Timezone = ch.Timezone
		case "locale":
			out.Locale = ch.Locale
		}
	}
	return out
}

// UpdateMe changes the caller's profile fields named in the mask.
func (s *UserServer) UpdateMe(ctx context.Context, req *tutorhubv1.UpdateMeRequest) (*tutorhubv1.UpdateMeResponse, error) {
	ch, err := ParseProfileChange(req.GetProfile(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	id := uuid.MustParse(CallerFrom(ctx).UserID)
	var updated queries.User
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		u, err := q.GetUserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if updated, err = q.UpdateUserProfile(ctx, ch.apply(u)); err != nil {
			return err
		}
		return recordAudit(ctx, tx, AuditEvent{
			Action: AuditProfileUpdated, Actor: id.String(), Subject: id.String(),
			Details: map[string]string{"fields": strings.Join(ch.Fields, ",")},
		})
	})
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", id, err)
	}
	// After the commit: the public profile and the tutor profile (which shows the display
	// name) must not be served stale.
	out := userProto(updated)
	out.EmailVerified = CallerFrom(ctx).EmailVerified
	if out.TutorId, err = s.tutorIDOf(ctx, id); err != nil {
		return nil, err
	}
	if s.cache != nil {
		keys := []string{UserCacheKey(id)}
		if out.TutorId != "" {
			keys = append(keys, TutorCacheKey(uuid.MustParse(out.TutorId)))
		}
		s.cache.Invalidate(ctx, keys...)
	}
	return &tutorhubv1.UpdateMeResponse{User: out}, nil
}

// GetUser returns a public profile.
func (s *UserServer) GetUser(ctx context.Context, req *tutorhubv1.GetUserRequest) (*tutorhubv1.GetUserResponse, error) {
	id, err := uuid.Parse(req.GetId())
	if err != nil {
		return nil, tutorhub.Invalid("id", "string.uuid", "value must be a valid UUID")
	}
	load := func(ctx context.Context) (*tutorhubv1.PublicProfile, error) {
		u, err := s.q.GetUser(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, cache.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("get user %s: %w", id, err)
		}
		return &tutorhubv1.PublicProfile{Id: u.ID.String(), DisplayName: u.DisplayName, Bio: u.Bio, CreateTime: timestamppb.New(u.CreatedAt)}, nil
	}
	var p *tutorhubv1.PublicProfile
	if s.cache == nil {
		p, err = load(ctx)
	} else {
		p, err = cache.GetProto(ctx, s.cache, UserCacheKey(id), func() *tutorhubv1.PublicProfile { return new(tutorhubv1.PublicProfile) }, load)
	}
	if errors.Is(err, cache.ErrNotFound) {
		return nil, tutorhub.Errorf(tutorhub.ENOTFOUND, "user %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetUserResponse{Profile: p}, nil
}

func userProto(u queries.User) *tutorhubv1.User {
	return &tutorhubv1.User{
		Id: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Bio: u.Bio,
		Timezone: u.Timezone, Locale: u.Locale, Roles: u.Roles,
		CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.UpdatedAt),
	}
}
