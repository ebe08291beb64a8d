package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
)

// Access is who may call an RPC.
type Access int

// Access levels, from the most open.
const (
	// Public RPCs take anonymous callers; a valid access token, when sent, still
	// identifies the caller, and an invalid, expired or revoked one is ignored (the call
	// runs as anonymous).
	Public Access = iota + 1
	// Authenticated RPCs need a valid access token.
	Authenticated
	// AdminOnly RPCs need a valid access token of a user holding the admin role.
	AdminOnly
)

// String names the level.
func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Authenticated:
		return "authenticated"
	case AdminOnly:
		return "admin"
	}
	return "undeclared"
}

// AccessRules declares, for every procedure the API serves, who may call it: the one place
// to read or change an RPC's access. A procedure missing here is refused to everyone, and a
// test fails for every RPC of a registered service that is missing.
var AccessRules = map[string]Access{
	tutorhubv1connect.SubjectServiceListSubjectsProcedure: Public,
	tutorhubv1connect.SubjectServiceGetSubjectProcedure:   Public,

	tutorhubv1connect.AuthServiceRegisterProcedure:             Public,
	tutorhubv1connect.AuthServiceLoginProcedure:                Public,
	tutorhubv1connect.AuthServiceRefreshProcedure:              Public,
	tutorhubv1connect.AuthServiceLogoutProcedure:               Public,
	tutorhubv1connect.AuthServiceLogoutAllProcedure:            Authenticated,
	tutorhubv1connect.AuthServiceStartRecoveryProcedure:        Public,
	tutorhubv1connect.AuthServiceCompleteRecoveryProcedure:     Public,
	tutorhubv1connect.AuthServiceStartVerificationProcedure:    Public,
	tutorhubv1connect.AuthServiceCompleteVerificationProcedure: Public,
	tutorhubv1connect.AuthServiceChangePasswordProcedure:       Authenticated,

	tutorhubv1connect.UserServiceGetMeProcedure:    Authenticated,
	tutorhubv1connect.UserServiceUpdateMeProcedure: Authenticated,
	tutorhubv1connect.UserServiceGetUserProcedure:  Public,

	tutorhubv1connect.AdminServiceListAuditEventsProcedure:  AdminOnly,
	tutorhubv1connect.AdminServiceListParkedEventsProcedure: AdminOnly,
	tutorhubv1connect.AdminServiceRetryParkedEventProcedure: AdminOnly,

	tutorhubv1connect.TutorServiceCreateTutorProfileProcedure:    Authenticated,
	tutorhubv1connect.TutorServiceUpdateTutorProfileProcedure:    Authenticated,
	tutorhubv1connect.TutorServiceGetTutorProcedure:              Public,
	tutorhubv1connect.TutorServiceListTutorsProcedure:            Public,
	tutorhubv1connect.TutorServicePublishTutorProfileProcedure:   Authenticated,
	tutorhubv1connect.TutorServiceUnpublishTutorProfileProcedure: Authenticated,
	tutorhubv1connect.TutorServiceDeleteTutorProfileProcedure:    Authenticated,

	tutorhubv1connect.SearchServiceSearchTutorsProcedure: Public,

	tutorhubv1connect.UploadServiceCreateUploadProcedure:   Authenticated,
	tutorhubv1connect.UploadServiceCompleteUploadProcedure: Authenticated,
	tutorhubv1connect.UploadServiceGetUploadProcedure:      Authenticated,
	// Anyone may read a clean avatar; the uploads package checks the rest.
	tutorhubv1connect.UploadServiceGetDownloadURLProcedure: Public,
	tutorhubv1connect.UploadServiceDeleteUploadProcedure:   Authenticated,
}

// Roles a user can hold.
const (
	RoleStudent = accounts.RoleStudent
	RoleTutor   = accounts.RoleTutor
	RoleAdmin   = accounts.RoleAdmin
)

// authenticator resolves the caller of a request from its access token and enforces
// AccessRules. It runs between the address budget and the per-user budget (limitClients,
// limitUsers): a refused token is charged to the address, a caller to the user.
//
// A token that is malformed, badly signed, expired or revoked identifies nobody: protected
// RPCs answer Unauthenticated, public RPCs run as anonymous (so a client whose token went
// stale during a laptop sleep can still sign out or browse). When Redis cannot say whether
// a token was revoked, protected RPCs answer Unavailable (fail closed: a revoked token must
// not work during an outage) and public RPCs run as anonymous.
type authenticator struct {
	tokens   *accesstoken.Verifier
	revoked  *accesstoken.Revocations
	accounts *accounts.Service
	rules    map[string]Access
	log      *slog.Logger
}

// errBadToken is the one answer for every refused access token.
func errBadToken() error {
	return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "access token is invalid or expired; refresh it")
}

// errRevocationUnknown answers a protected RPC whose token could not be checked against the
// revocations.
func errRevocationUnknown() error {
	return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "cannot check the access token right now; retry"}
}

// maxBearerBytes bounds the Authorization header's token, as Verify does.
const maxBearerBytes = 8192

// bearerToken extracts the token of an "Authorization: Bearer <token>" header value (the
// scheme is case-insensitive). ok is false for any other scheme, an empty or oversized
// token, or one holding anything but visible ASCII.
func bearerToken(authorization string) (token string, ok bool) {
	scheme, token, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	if token == "" || len(token) > maxBearerBytes || !visibleASCII(token) {
		return "", false
	}
	return token, true
}

// visibleASCII reports whether s holds only printable ASCII other than space: every
// credential tutorhub accepts (JWTs, Kratos session tokens, CSRF tokens) is of that form,
// and control characters must never reach a header sent on to Kratos.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// authorize returns ctx carrying the caller, or the error that refuses the request.
func (a *authenticator) authorize(ctx context.Context, procedure, authorization string) (context.Context, error) {
	level, ok := a.rules[procedure]
	if !ok {
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "procedure %s has no access rule", procedure)
	}
	if authorization != "" {
		caller, err := a.caller(ctx, authorization)
		switch {
		case err == nil:
			ctx = WithCaller(ctx, caller)
			if ri := infoFrom(ctx); ri != nil {
				ri.mu.Lock()
				ri.userID = caller.UserID
				ri.mu.Unlock()
			}
		case level == Public && isCredentialError(err):
			// A stale or bad token does not stop a public call: it runs as anonymous.
		default:
			return ctx, err
		}
	}
	c := CallerFrom(ctx)
	switch {
	case level == Public:
	case c == nil:
		return ctx, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to call %s", procedure)
	case level == AdminOnly && !c.HasRole(RoleAdmin):
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "this needs the admin role")
	}
	return ctx, nil
}

// isCredentialError reports whether err says only that the presented token identifies
// nobody (bad, expired, revoked, or not checkable against the revocations).
func isCredentialError(err error) bool {
	code := tutorhub.ErrorCode(err)
	return code == tutorhub.EUNAUTHENTICATED || code == tutorhub.EUNAVAILABLE
}

// caller verifies the Authorization header's token locally, checks it against the
// revocations and reads the user's roles, creating the user's row on the first
// authenticated request of an identity tutorhub has not seen yet.
func (a *authenticator) caller(ctx context.Context, authorization string) (*Caller, error) {
	token, ok := bearerToken(authorization)
	if !ok {
		return nil, errBadToken()
	}
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return nil, errBadToken()
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return nil, errBadToken()
	}
	revoked, err := a.revoked.Revoked(ctx, claims)
	if err != nil {
		a.log.WarnContext(ctx, "access token revocation check failed", "error", err.Error())
		return nil, errRevocationUnknown()
	}
	if revoked {
		return nil, errBadToken()
	}
	roles, err := a.accounts.RolesOf(ctx, id, claims.Email)
	if err != nil {
		return nil, err
	}
	return &Caller{UserID: id.String(), SessionID: claims.SessionID, Email: claims.Email, Roles: roles, EmailVerified: claims.EmailVerified}, nil
}

// authenticate is the interceptor around authorize, for unary and streaming RPCs alike.
func authenticate(a *authenticator) connect.Interceptor {
	return aroundCall(func(ctx context.Context, spec connect.Spec, header http.Header, next func(context.Context) error) error {
		ctx, err := a.authorize(ctx, spec.Procedure, header.Get("Authorization"))
		if err != nil {
			return err
		}
		return next(ctx)
	})
}

// serveJWKS publishes the public keys access tokens are verified with, for clients and
// services that verify them too.
func serveJWKS(v *accesstoken.Verifier) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(v.PublicJWKS())
	}
}
