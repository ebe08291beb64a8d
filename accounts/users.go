package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/queries"
)

// Limits of a user's profile, the same as the protovalidate rules in user.proto and the
// CHECK constraints of the users table.
const (
	MaxDisplayNameChars = 100
	MaxBioChars         = 2000
)

// User is tutorhub's record of a user.
type User struct {
	ID          uuid.UUID
	Email       string
	DisplayName string
	Bio         string
	TimeZone    string
	Locale      string
	Roles       []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// AvatarUploadID is the clean avatar upload, if any.
	AvatarUploadID uuid.NullUUID
}

// PublicProfile is what anyone may see of a user.
type PublicProfile struct {
	ID          uuid.UUID `json:"id"`
	DisplayName string    `json:"display_name"`
	Bio         string    `json:"bio"`
	CreatedAt   time.Time `json:"created_at"`
	// AvatarUploadID is the user's avatar (a clean upload), if any.
	AvatarUploadID uuid.NullUUID `json:"avatar_upload_id"`
}

// UserCacheKey is the cache key of a user's public profile.
func UserCacheKey(id uuid.UUID) string { return "user:v3:" + id.String() }

func userOf(u queries.User) User {
	return User{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Bio: u.Bio, TimeZone: u.Timezone,
		Locale: u.Locale, Roles: u.Roles, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		AvatarUploadID: u.AvatarUploadID,
	}
}

// NormalizeEmail is the one spelling of an address: Kratos lower-cases identifiers, and
// tutorhub's records must agree with them.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateDisplayName checks a display name as every reader shows it: one line of plain text
// of at most MaxDisplayNameChars characters. field is the request's path of the name.
func ValidateDisplayName(field, name string) error {
	v := &tutorhub.Violations{}
	tutorhub.CheckPlainText(v, field, name, MaxDisplayNameChars, false)
	return v.Err("invalid display name")
}

// EnsureUser records a signed-in identity: it creates the user's row on first sight (an
// existing row is left as it is) and appends action (AuditRegister, AuditLogin,
// AuditPasswordRecovered) to the audit log, in one transaction. The same transaction
// remembers the request's device (a sign-in from a new device records
// EventNewDeviceSignIn) and, for a recovery, records EventRecoveryCompleted.
func (s *Service) EnsureUser(ctx context.Context, id uuid.UUID, email, displayName, action string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := queries.New(tx).EnsureUser(ctx, queries.EnsureUserParams{ID: id, Email: NormalizeEmail(email), DisplayName: displayName}); err != nil {
			return err
		}
		if err := RecordAudit(ctx, tx, AuditEvent{Action: action, Actor: id.String(), Subject: id.String()}); err != nil {
			return err
		}
		// The security events of the action commit with its audit event.
		switch action {
		case AuditLogin:
			return recordSignInDevice(ctx, tx, id, s.now())
		case AuditPasswordRecovered:
			if err := recordSignInDevice(ctx, tx, id, s.now()); err != nil {
				return err
			}
			return insertSecurityEvent(ctx, tx, EventRecoveryCompleted, id, requestDevice(ctx).Label(), s.now())
		case AuditRegister:
			return recordSignInDevice(ctx, tx, id, s.now())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, id, err)
	}
	return nil
}

// RolesOf returns the roles of a user, creating the user's row on the first authenticated
// request of an identity tutorhub has not seen yet.
func (s *Service) RolesOf(ctx context.Context, id uuid.UUID, email string) ([]string, error) {
	roles, err := s.q.GetUserRoles(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.q.EnsureUser(ctx, queries.EnsureUserParams{ID: id, Email: email}); err != nil {
			return nil, fmt.Errorf("create user %s: %w", id, err)
		}
		roles, err = s.q.GetUserRoles(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("roles of %s: %w", id, err)
	}
	return roles, nil
}

// Get returns a user's record.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := s.q.GetUser(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "user %s not found", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return userOf(u), nil
}

// GetPublicProfile returns what anyone may see of a user, through the cache.
func (s *Service) GetPublicProfile(ctx context.Context, id uuid.UUID) (PublicProfile, error) {
	load := func(ctx context.Context) (PublicProfile, error) {
		u, err := s.q.GetUser(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return PublicProfile{}, cache.ErrNotFound
		}
		if err != nil {
			return PublicProfile{}, fmt.Errorf("get user %s: %w", id, err)
		}
		return PublicProfile{ID: u.ID, DisplayName: u.DisplayName, Bio: u.Bio, CreatedAt: u.CreatedAt, AvatarUploadID: u.AvatarUploadID}, nil
	}
	var (
		p   PublicProfile
		err error
	)
	if s.cache == nil {
		p, err = load(ctx)
	} else {
		p, err = cache.GetJSON(ctx, s.cache, UserCacheKey(id), load)
	}
	if errors.Is(err, cache.ErrNotFound) {
		return PublicProfile{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "user %s not found", id)
	}
	return p, err
}

// ProfileUpdate holds new values for the profile fields an update mask names.
type ProfileUpdate struct {
	DisplayName, Bio, TimeZone, Locale string
}

// ProfilePaths are the update-mask paths UpdateProfile accepts.
var ProfilePaths = []string{"display_name", "bio", "timezone", "locale"}

// ApplyProfileUpdate sets the fields of u that paths name to their values in in and checks
// them: display name and bio plain text, an IANA time zone, a BCP 47 locale (stored
// canonically). Violations are on update_mask and profile.<path>; every problem is
// reported at once, and u is unchanged on error.
func ApplyProfileUpdate(u *User, in ProfileUpdate, paths []string) error {
	next := *u
	err := tutorhub.ApplyMask(paths, map[string]func(){
		"display_name": func() { next.DisplayName = strings.TrimSpace(in.DisplayName) },
		"bio":          func() { next.Bio = in.Bio },
		"timezone":     func() { next.TimeZone = in.TimeZone },
		"locale":       func() { next.Locale = in.Locale },
	})
	if err != nil {
		return err
	}
	v := &tutorhub.Violations{Prefix: "profile."}
	for _, path := range paths {
		switch path {
		case "display_name":
			tutorhub.CheckPlainText(v, path, next.DisplayName, MaxDisplayNameChars, false)
		case "bio":
			tutorhub.CheckPlainText(v, path, next.Bio, MaxBioChars, true)
		case "timezone":
			tutorhub.CheckTimeZone(v, path, next.TimeZone, false)
		case "locale":
			next.Locale = tutorhub.CheckLanguage(v, path, next.Locale)
		}
	}
	if err := v.Err("invalid profile"); err != nil {
		return err
	}
	*u = next
	return nil
}

// UpdateProfile changes the profile fields of user id that paths name (see
// ApplyProfileUpdate). In one transaction it writes the row, the audit event and, when the
// display name changes, whatever Options.DisplayNameChanged records for the contexts that
// show it (the tutor's outbox event); after the commit it drops the cached public profile and
// the keys DisplayNameChanged named.
func (s *Service) UpdateProfile(ctx context.Context, id uuid.UUID, in ProfileUpdate, paths []string) (User, error) {
	if err := ApplyProfileUpdate(&User{}, in, paths); err != nil {
		return User{}, err // bad input is refused before a transaction opens
	}
	var (
		updated User
		keys    = []string{UserCacheKey(id)}
	)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		row, err := q.GetUserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		before := userOf(row)
		u := before
		if err := ApplyProfileUpdate(&u, in, paths); err != nil {
			return err
		}
		row, err = q.UpdateUserProfile(ctx, queries.UpdateUserProfileParams{
			ID: id, DisplayName: u.DisplayName, Bio: u.Bio, Timezone: u.TimeZone, Locale: u.Locale,
		})
		if err != nil {
			return err
		}
		updated = userOf(row)
		if updated.DisplayName != before.DisplayName && s.displayNameChanged != nil {
			more, err := s.displayNameChanged(ctx, tx, id)
			if err != nil {
				return err
			}
			keys = append(keys, more...)
		}
		return RecordAudit(ctx, tx, AuditEvent{
			Action: AuditProfileUpdated, Actor: id.String(), Subject: id.String(),
			Details: map[string]string{"fields": strings.Join(paths, ",")},
		})
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	if s.cache != nil {
		s.cache.Invalidate(ctx, keys...)
	}
	return updated, nil
}

// GrantRole adds role to the user's roles (creating the user's row if needed) and records the
// grant, with details such as who granted it, in the audit log, in one transaction. It
// returns the user's roles after the grant.
func (s *Service) GrantRole(ctx context.Context, id uuid.UUID, email, role string, details map[string]string) ([]string, error) {
	if !slices.Contains(Roles, role) {
		return nil, tutorhub.Invalid("role", "role.known", fmt.Sprintf("unknown role %q (%s)", role, strings.Join(Roles, ", ")))
	}
	d := map[string]string{"role": role}
	for k, v := range details {
		d[k] = v
	}
	var roles []string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		if roles, err = queries.New(tx).GrantUserRole(ctx, queries.GrantUserRoleParams{ID: id, Email: NormalizeEmail(email), Role: role}); err != nil {
			return err
		}
		return RecordAudit(ctx, tx, AuditEvent{Action: AuditRoleGranted, Subject: id.String(), Details: d})
	})
	if err != nil {
		return nil, fmt.Errorf("grant %s to %s: %w", role, id, err)
	}
	return roles, nil
}
