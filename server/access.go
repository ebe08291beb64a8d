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
	"github.com/tutorhub/tutorhub/serviceaccounts"
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

// Rule is who may call an RPC: which users (Who), and which service accounts
// (ServiceAccounts). Both are required; a new field for another kind of caller goes here.
type Rule struct {
	Who Access
	// ServiceAccounts is the scope a service account's key must hold to call the RPC, or
	// NoServiceAccounts. The zero value is undeclared, which refuses service accounts and
	// fails TestEveryRPCDeclaresAccess.
	ServiceAccounts ServiceAccess
}

// ServiceAccess is whether service accounts may call an RPC, and with which scope.
type ServiceAccess struct {
	scope   serviceaccounts.Scope
	refused bool
}

// NoServiceAccounts refuses every service account, whatever its scopes (PermissionDenied).
var NoServiceAccounts = ServiceAccess{refused: true}

// NeedsScope lets a service account call the RPC when its key holds scope. The handler then
// sees no Caller (CallerFrom is nil) but a ServiceAccountFrom principal: a scope on an RPC
// that is not Public needs a handler that reads it.
func NeedsScope(scope serviceaccounts.Scope) ServiceAccess { return ServiceAccess{scope: scope} }

// Declared reports whether the rule says anything about service accounts.
func (s ServiceAccess) Declared() bool { return s.refused || s.scope != "" }

// Scope is the scope a key needs; ok is false when service accounts are refused (or the
// rule is undeclared).
func (s ServiceAccess) Scope() (scope serviceaccounts.Scope, ok bool) {
	if s.refused || s.scope == "" {
		return "", false
	}
	return s.scope, true
}

// String names the declaration: the scope, "none" or "undeclared".
func (s ServiceAccess) String() string {
	switch {
	case s.refused:
		return "none"
	case s.scope == "":
		return "undeclared"
	}
	return string(s.scope)
}

// AccessRules declares, for every procedure the API serves, who may call it: which users
// (Who) and which service accounts (the scope their key must hold, or none). It is the one
// place to read or change an RPC's access. A procedure missing here is refused to everyone,
// one without a ServiceAccounts declaration is refused to service accounts, and a test fails
// for every RPC of a registered service that misses either.
var AccessRules = map[string]Rule{
	tutorhubv1connect.SubjectServiceListSubjectsProcedure: {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.SubjectsRead)},
	tutorhubv1connect.SubjectServiceGetSubjectProcedure:   {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.SubjectsRead)},

	tutorhubv1connect.AuthServiceRegisterProcedure:             {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceLoginProcedure:                {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceRefreshProcedure:              {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceLogoutProcedure:               {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceLogoutAllProcedure:            {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceStartRecoveryProcedure:        {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceCompleteRecoveryProcedure:     {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceStartVerificationProcedure:    {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceCompleteVerificationProcedure: {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AuthServiceChangePasswordProcedure:       {Who: Authenticated, ServiceAccounts: NoServiceAccounts},

	tutorhubv1connect.UserServiceGetMeProcedure:    {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.UserServiceUpdateMeProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.UserServiceGetUserProcedure:  {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.UsersRead)},

	tutorhubv1connect.AdminServiceListAuditEventsProcedure:           {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AdminServiceListParkedEventsProcedure:          {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AdminServiceRetryParkedEventProcedure:          {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AdminServiceListReconciliationReportsProcedure: {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.AdminServiceListParkedPaymentEventsProcedure:   {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},

	tutorhubv1connect.TutorServiceCreateTutorProfileProcedure:    {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.TutorServiceUpdateTutorProfileProcedure:    {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.TutorServiceGetTutorProcedure:              {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.TutorsRead)},
	tutorhubv1connect.TutorServiceListTutorsProcedure:            {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.TutorsRead)},
	tutorhubv1connect.TutorServicePublishTutorProfileProcedure:   {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.TutorServiceUnpublishTutorProfileProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.TutorServiceDeleteTutorProfileProcedure:    {Who: Authenticated, ServiceAccounts: NoServiceAccounts},

	tutorhubv1connect.SearchServiceSearchTutorsProcedure: {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.SearchRead)},

	tutorhubv1connect.ServiceAccountServiceCreateServiceAccountProcedure:  {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.ServiceAccountServiceListServiceAccountsProcedure:   {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.ServiceAccountServiceDisableServiceAccountProcedure: {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.ServiceAccountServiceCreateKeyProcedure:             {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.ServiceAccountServiceListKeysProcedure:              {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.ServiceAccountServiceRevokeKeyProcedure:             {Who: AdminOnly, ServiceAccounts: NoServiceAccounts},

	// Every notification RPC acts on the caller's own inbox and preferences only.
	tutorhubv1connect.NotificationServiceListNotificationsProcedure:             {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceMarkReadProcedure:                      {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceMarkAllReadProcedure:                   {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceGetUnreadCountProcedure:                {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceWatchNotificationsProcedure:            {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceGetNotificationPreferencesProcedure:    {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.NotificationServiceUpdateNotificationPreferencesProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},

	// A booking is read and changed by its student, its tutor and admins only (the bookings
	// package answers NOT_FOUND to anyone else); reviews are public.
	tutorhubv1connect.BookingServiceRequestBookingProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceAcceptBookingProcedure:  {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceDeclineBookingProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceCancelBookingProcedure:  {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	// Its student only (the bookings package refuses the tutor and admins).
	tutorhubv1connect.BookingServicePayBookingWithTestCardProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceGetBookingProcedure:             {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceListMyBookingsProcedure:         {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceCreateReviewProcedure:           {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.BookingServiceListTutorReviewsProcedure:       {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.TutorsRead)},

	tutorhubv1connect.UploadServiceCreateUploadProcedure:   {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.UploadServiceCompleteUploadProcedure: {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.UploadServiceGetUploadProcedure:      {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	// Anyone may read a clean avatar; the uploads package checks the rest.
	tutorhubv1connect.UploadServiceGetDownloadURLProcedure: {Who: Public, ServiceAccounts: NoServiceAccounts},
	tutorhubv1connect.UploadServiceDeleteUploadProcedure:   {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
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
	keys     *serviceaccounts.Service
	rules    map[string]Rule
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
	rule, ok := a.rules[procedure]
	if !ok {
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "procedure %s has no access rule", procedure)
	}
	level := rule.Who
	if token, ok := bearerToken(authorization); ok && serviceaccounts.LooksLikeKey(token) {
		return a.serviceAccount(ctx, procedure, rule, token)
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

// serviceAccount authenticates a service-account key and checks its scopes against the
// rule: unlike access tokens, a bad key is refused on public RPCs too (a backend service
// must learn at once that its key stopped working), and a key never runs as anonymous.
func (a *authenticator) serviceAccount(ctx context.Context, procedure string, rule Rule, key string) (context.Context, error) {
	if a.keys == nil {
		return ctx, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "service account keys are not accepted here")
	}
	var ip string
	if addr := clientIP(ctx); addr.IsValid() {
		ip = addr.String()
	}
	actx := auditContext(ctx)
	p, err := a.keys.Authenticate(actx, key, ip)
	if err != nil {
		if tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED {
			return ctx, err
		}
		a.log.WarnContext(ctx, "service account key check failed", "error", err.Error())
		return ctx, &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "cannot check the service account key right now; retry"}
	}
	if ri := infoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.serviceAccountID, ri.keyPrefix = p.AccountID.String(), p.KeyPrefix
		ri.mu.Unlock()
	}
	needed, allowed := rule.ServiceAccounts.Scope()
	if !allowed {
		a.keys.RecordScopeRefusal(actx, p, procedure, "")
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "service accounts may not call %s", procedure)
	}
	if !p.Has(needed) {
		a.keys.RecordScopeRefusal(actx, p, procedure, needed)
		return ctx, tutorhub.Errorf(tutorhub.EFORBIDDEN, "this key lacks the scope %s, which %s needs", needed, procedure)
	}
	return WithServiceAccount(ctx, p), nil
}

type serviceAccountKey struct{}

// WithServiceAccount returns ctx carrying the service account a request acts as.
func WithServiceAccount(ctx context.Context, p *serviceaccounts.Principal) context.Context {
	return context.WithValue(ctx, serviceAccountKey{}, p)
}

// ServiceAccountFrom returns the service account a request acts as, or nil when the caller
// is a user or anonymous. A service account is never a Caller.
func ServiceAccountFrom(ctx context.Context) *serviceaccounts.Principal {
	p, _ := ctx.Value(serviceAccountKey{}).(*serviceaccounts.Principal)
	return p
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
