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
	// identifies the caller (and an invalid one is refused).
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

	tutorhubv1connect.AdminServiceListAuditEventsProcedure: AdminOnly,

	tutorhubv1connect.TutorServiceCreateTutorProfileProcedure:    Authenticated,
	tutorhubv1connect.TutorServiceUpdateTutorProfileProcedure:    Authenticated,
	tutorhubv1connect.TutorServiceGetTutorProcedure:              Public,
	tutorhubv1connect.TutorServiceListTutorsProcedure:            Public,
	tutorhubv1connect.TutorServicePublishTutorProfileProcedure:   Authenticated,
	tutorhubv1connect.TutorServiceUnpublishTutorProfileProcedure: Authenticated,
	tutorhubv1connect.TutorServiceDeleteTutorProfileProcedure:    Authenticated,

	tutorhubv1connect.SearchServiceSearchTutorsProcedure: Public,
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
type authenticator struct {
	tokens   *accesstoken.Verifier
	accounts *accounts.Service
	rules    map[string]Access
	log      *slog.Logger
}

// errBadToken is the one answer for every refused access token.
func errBadToken() error {
	return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "access token is invalid or expired; refresh it")
}

// authorize returns ctx carrying the caller, or the error that refuses the request.
func (a *authenticator) authorize(ctx context.Context, procedure, authorization string) (context.Context, error) {
	level, ok := a.rules[procedure]
	if !ok {
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "procedure %s has no access rule", procedure)
	}
	if authorization != "" {
		token, found := strings.CutPrefix(authorization, "Bearer ")
		if !found || token == "" {
			return ctx, errBadToken()
		}
		caller, err := a.caller(ctx, token)
		if err != nil {
			return ctx, err
		}
		ctx = WithCaller(ctx, caller)
		if ri := infoFrom(ctx); ri != nil {
			ri.mu.Lock()
			ri.userID = caller.UserID
			ri.mu.Unlock()
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

// caller verifies the token locally and reads the user's roles, creating the user's row on
// the first authenticated request of an identity tutorhub has not seen yet.
func (a *authenticator) caller(ctx context.Context, token string) (*Caller, error) {
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return nil, errBadToken()
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return nil, errBadToken()
	}
	roles, err := a.accounts.RolesOf(ctx, id, claims.Email)
	if err != nil {
		return nil, err
	}
	return &Caller{UserID: id.String(), SessionID: claims.SessionID, Email: claims.Email, Roles: roles, EmailVerified: claims.EmailVerified}, nil
}

// authenticate is the interceptor around authorize, for unary and streaming RPCs alike.
func authenticate(a *authenticator) connect.Interceptor { return authInterceptor{a} }

type authInterceptor struct{ a *authenticator }

func (i authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := i.a.authorize(ctx, req.Spec().Procedure, req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.a.authorize(ctx, conn.Spec().Procedure, conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return toConnectError(ctx, i.a.log, conn.Spec().Procedure, err)
		}
		return next(ctx, conn)
	}
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
