package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/captcha"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
)

// Cookie and header names of browser sessions. The session cookie is HttpOnly and
// SameSite=Strict; the CSRF cookie is readable by the page, which echoes it in the CSRF
// header whenever the session cookie stands in for a session_token field (double submit: a
// cross-site page can neither read the cookie nor send a custom header without a CORS
// preflight the API refuses). The CSRF token is an HMAC of the session token under a server
// key, so a cookie pair planted by someone else (a sibling subdomain, a plain-HTTP hop) is
// refused. With secure cookies both names carry the SecureCookiePrefix, which browsers only
// accept from HTTPS, for the API's own host, on path /.
const (
	SessionCookie      = "tutorhub_session"
	CSRFCookie         = "tutorhub_csrf"
	SecureCookiePrefix = "__Host-"
	CSRFHeader         = "X-CSRF-Token"
	// sessionCookieMaxAge matches Kratos's session lifespan (720h).
	sessionCookieMaxAge = 720 * time.Hour
	// maxSessionTokenBytes bounds a session token from a field or cookie (the field's
	// protovalidate limit too); Kratos's are 39 bytes.
	maxSessionTokenBytes = 512
)

// CookieNames are the session and CSRF cookie names used with secure (HTTPS-only) cookies
// or without.
func CookieNames(secure bool) (session, csrf string) {
	if secure {
		return SecureCookiePrefix + SessionCookie, SecureCookiePrefix + CSRFCookie
	}
	return SessionCookie, CSRFCookie
}

// AuthOptions are the dependencies and policies of authentication.
type AuthOptions struct {
	// Kratos drives the identity flows.
	Kratos *kratos.Client
	// Tokens verifies access tokens and publishes their keys.
	Tokens *accesstoken.Verifier
	// Revocations ends the access tokens of ended sessions before they expire. Required.
	Revocations *accesstoken.Revocations
	// CSRFKey binds CSRF tokens to their session (HMAC-SHA256 key). Required.
	CSRFKey []byte
	// TokenizeTemplate is the Kratos tokenizer template that mints access tokens.
	TokenizeTemplate string
	// CookieSecure marks session cookies Secure.
	CookieSecure bool
	// Lockout is the brute-force policy of password sign-in.
	Lockout LockoutPolicy
	// Captcha checks captcha answers; nil disables captchas.
	Captcha captcha.Verifier
	// CaptchaOnRegister requires a captcha to register (with Captcha set).
	CaptchaOnRegister bool
	// Limits are the rate-limit tiers of credential RPCs.
	Limits AuthRateLimits
	// UniformResponse is the least time Register, StartRecovery and StartVerification take,
	// so their duration does not tell whether an address has an account. It must exceed the
	// slowest of them (Register's includes Kratos's password hash).
	UniformResponse time.Duration
	// Mail sends the notice to an address that is registered again; nil sends nothing.
	Mail *mail.Sender
	// PublicURL is where the web client is served, for links in mail; may be empty.
	PublicURL string
}

// AuthRateLimits are the budgets of credential RPCs (sign-up, sign-in, verification,
// password change) and of account recovery, on top of the general per-client budget. They
// fail closed: while Redis cannot be asked, these RPCs answer Unavailable.
type AuthRateLimits struct {
	Enabled bool
	IP      ratelimit.Rate // per client address
	// Account is per email address (or flow, or user). Once spent, sign-in and sign-up need
	// a captcha (when a provider is set) rather than being refused, so a stranger cannot
	// shut an account out by spending its budget.
	Account ratelimit.Rate
	// Global is all clients together; once spent, sign-in and sign-up need a captcha (when
	// a provider is set) rather than being refused for everyone.
	Global ratelimit.Rate
	// Recovery and RecoveryAccount are account recovery's own budgets, per client address
	// and per account (address or recovery flow). Recovery spends none of the credential
	// budgets and is not blocked by a lockout, so a locked-out account can always recover.
	Recovery, RecoveryAccount ratelimit.Rate
	// IPv6Prefix is the prefix length IPv6 clients are keyed by; 0 means
	// ratelimit.DefaultIPv6Prefix.
	IPv6Prefix int
}

// AuthServer implements tutorhub.v1.AuthService over Kratos's API flows.
type AuthServer struct {
	db       *pgxpool.Pool
	o        AuthOptions
	limiter  *ratelimit.Limiter
	accounts *accounts.Service
	log      *slog.Logger
}

// NewAuthServer returns the AuthService handler; a holds users, the lockout and the audit log.
func NewAuthServer(db *pgxpool.Pool, a *accounts.Service, limiter *ratelimit.Limiter, o AuthOptions, log *slog.Logger) *AuthServer {
	return &AuthServer{db: db, o: o, limiter: limiter, accounts: a, log: log}
}

// normalizeEmail is the one spelling of an address: Kratos lower-cases identifiers, and the
// trait must agree with them.
func normalizeEmail(s string) string { return accounts.NormalizeEmail(s) }

// Register creates the identity in Kratos and the user's row in the same call, and signs
// nobody in: the answer (a verification flow id, no user id, no tokens) and its duration are
// the same whether or not the address already has an account. An existing account's owner
// is mailed that someone tried to sign up with the address; a new account's owner gets the
// verification code, and signs in with Login.
func (s *AuthServer) Register(ctx context.Context, req *tutorhubv1.RegisterRequest) (*tutorhubv1.RegisterResponse, error) {
	defer s.uniform(time.Now())
	email := normalizeEmail(req.GetEmail())
	busy, err := s.limitOrCaptcha(ctx, "email:"+email)
	if err != nil {
		return nil, err
	}
	if err := accounts.ValidateDisplayName("display_name", req.GetDisplayName()); err != nil {
		return nil, err
	}
	if (busy || s.o.CaptchaOnRegister) && s.o.Captcha != nil {
		if err := s.checkCaptcha(ctx, req.GetCaptchaToken()); err != nil {
			return nil, err
		}
	}
	reg, err := s.o.Kratos.Register(ctx, email, req.GetPassword(), req.GetDisplayName())
	if tutorhub.ErrorCode(err) == tutorhub.EEXISTS {
		return s.registerExisting(ctx, email)
	}
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(reg.Session.Identity.ID)
	if err != nil {
		return nil, fmt.Errorf("register: identity id: %w", err)
	}
	// Kratos opened a session; an existing address gets none, so neither does a new one.
	if err := s.o.Kratos.Logout(context.WithoutCancel(ctx), reg.Session.Token); err != nil {
		s.log.WarnContext(ctx, "register: ending the registration session failed", "error", err.Error())
	}
	if err := s.accounts.EnsureUser(auditContext(ctx), id, email, req.GetDisplayName(), AuditRegister); err != nil {
		return nil, err
	}
	return &tutorhubv1.RegisterResponse{VerificationFlowId: reg.VerificationFlowID}, nil
}

// registerExisting answers a sign-up for an address that has an account as a new account's
// is answered (a verification flow, which no code will complete), and mails the owner in
// the background, so neither the answer nor its time depends on the mail relay.
func (s *AuthServer) registerExisting(ctx context.Context, email string) (*tutorhubv1.RegisterResponse, error) {
	flow, err := s.o.Kratos.NewVerificationFlow(ctx)
	if err != nil {
		return nil, err
	}
	if s.o.Mail != nil {
		bg, log := context.WithoutCancel(ctx), s.log
		go func() {
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			if err := s.o.Mail.Send(ctx, email, accountExistsSubject, accountExistsBody(s.o.PublicURL)); err != nil {
				log.WarnContext(ctx, "register: mailing the account-exists notice failed", "error", err.Error())
			}
		}()
	}
	return &tutorhubv1.RegisterResponse{VerificationFlowId: flow}, nil
}

// accountExistsSubject is the subject of the mail to an address that is signed up again.
const accountExistsSubject = "You already have a tutorhub account"

// accountExistsBody is the text of that mail, pointing at sign-in and recovery on the web
// client at publicURL (when known).
func accountExistsBody(publicURL string) string {
	login, recover := "the sign-in page", "the password recovery page"
	if publicURL != "" {
		base := strings.TrimSuffix(publicURL, "/")
		login, recover = base+"/login", base+"/recover"
	}
	return "Someone, probably you, tried to create a tutorhub account with this email address.\n" +
		"This address already has an account, so no new one was created.\n\n" +
		"To sign in, go to " + login + ".\n" +
		"Forgot your password? Set a new one at " + recover + ".\n\n" +
		"If it was not you, ignore this mail: nothing about your account has changed.\n"
}

// Login checks the password through Kratos behind the account lockout and captcha.
func (s *AuthServer) Login(ctx context.Context, req *tutorhubv1.LoginRequest) (*tutorhubv1.LoginResponse, error) {
	email := normalizeEmail(req.GetEmail())
	busy, err := s.limitOrCaptcha(ctx, "email:"+email)
	if err != nil {
		return nil, err
	}
	sess, err := s.checkPassword(ctx, email, req.GetCaptchaToken(), busy, func(ctx context.Context) (*kratos.Session, error) {
		return s.o.Kratos.Login(ctx, email, req.GetPassword())
	})
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(sess.Identity.ID)
	if err != nil {
		return nil, fmt.Errorf("login: identity id: %w", err)
	}
	if err := s.accounts.EnsureUser(auditContext(ctx), id, email, sess.Identity.Name, AuditLogin); err != nil {
		return nil, err
	}
	tokens, err := s.issue(ctx, sess.Token, req.GetUseCookie())
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.LoginResponse{UserId: id.String(), Tokens: tokens}, nil
}

// checkPassword runs check (a password check against Kratos) as one counted attempt on the
// account of email: refused while the account is locked, behind a captcha after repeated
// failures or when busy (a spent account-wide or global budget), and counted as a failure
// when Kratos refuses the credentials.
func (s *AuthServer) checkPassword(ctx context.Context, email, captchaToken string, busy bool, check func(context.Context) (*kratos.Session, error)) (*kratos.Session, error) {
	verdict, err := s.accounts.ClaimSignIn(ctx, email)
	if err != nil {
		return nil, err
	}
	if !verdict.Allowed {
		return nil, &tutorhub.Error{
			Code:              tutorhub.ERATELIMIT,
			Message:           "too many failed sign-ins for this account; try again later or recover the account",
			RetryAfterSeconds: int((verdict.RetryAfter + time.Second - 1) / time.Second),
		}
	}
	if (verdict.CaptchaRequired || busy) && s.o.Captcha != nil && ctx.Value(signedInCheck{}) == nil {
		if err := s.checkCaptcha(ctx, captchaToken); err != nil {
			return nil, errors.Join(err, s.accounts.ReleaseSignIn(context.WithoutCancel(ctx), email))
		}
	}
	sess, err := check(ctx)
	switch {
	case err == nil:
		return sess, s.accounts.ClearSignIns(ctx, email)
	case tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED:
		// Record the failure even if the client has gone: the attempt was made.
		bg := context.WithoutCancel(ctx)
		locked, lerr := s.accounts.SignInFailed(bg, email)
		if lerr != nil {
			return nil, lerr
		}
		details := map[string]string{"email": email}
		if aerr := recordAudit(bg, s.db, AuditEvent{Action: AuditLoginFailed, Details: details}); aerr != nil {
			return nil, aerr
		}
		if locked {
			if aerr := recordAudit(bg, s.db, AuditEvent{Action: AuditLockout, Details: details}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "the email or password is wrong")
	default:
		return nil, errors.Join(err, s.accounts.ReleaseSignIn(context.WithoutCancel(ctx), email))
	}
}

// signedInCheck marks the context of a password check made by a caller holding a live
// session of the account (ChangePassword): no captcha is asked of it.
type signedInCheck struct{}

// checkCaptcha verifies a captcha answer; a missing or wrong one is FAILED_PRECONDITION
// with a violation on captcha_token.
func (s *AuthServer) checkCaptcha(ctx context.Context, token string) error {
	err := s.o.Captcha.Verify(ctx, token, clientIP(ctx).String())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, captcha.ErrRejected):
		rule, msg := "captcha.required", "a captcha is required"
		if token != "" {
			rule, msg = "captcha.valid", "the captcha answer was not accepted"
		}
		return &tutorhub.Error{Code: tutorhub.EPRECONDITION, Message: msg, Violations: []tutorhub.Violation{{Field: "captcha_token", Rule: rule, Message: msg}}}
	default:
		s.log.WarnContext(ctx, "captcha provider unreachable", "error", err.Error())
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "captcha provider unavailable"}
	}
}

// Refresh mints a new access token from the session.
func (s *AuthServer) Refresh(ctx context.Context, req *tutorhubv1.RefreshRequest) (*tutorhubv1.RefreshResponse, error) {
	token, err := s.sessionToken(ctx, req.GetSessionToken())
	if err != nil {
		return nil, err
	}
	sess, err := s.o.Kratos.AccessToken(ctx, token, s.o.TokenizeTemplate)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.RefreshResponse{AccessToken: sess.AccessToken, AccessTokenExpiresAt: timestamppb.New(sess.AccessTokenExpiresAt)}, nil
}

// Logout revokes one session: the session token's, or else the access token's. The
// session's access tokens are refused from then on; if that cannot be recorded the call
// fails (Unavailable) before the session is ended, so a retry does it all.
func (s *AuthServer) Logout(ctx context.Context, req *tutorhubv1.LogoutRequest) (*tutorhubv1.LogoutResponse, error) {
	token, err := s.sessionToken(ctx, req.GetSessionToken())
	switch {
	case err == nil:
		err = s.endSession(ctx, token)
	case CallerFrom(ctx) != nil && CallerFrom(ctx).SessionID != "":
		sid := CallerFrom(ctx).SessionID
		if err = s.revokeSessionTokens(ctx, sid); err == nil {
			err = s.o.Kratos.RevokeSession(ctx, sid)
		}
	}
	if err != nil {
		return nil, err
	}
	clearSessionCookies(ctx, s.o.CookieSecure)
	return &tutorhubv1.LogoutResponse{}, nil
}

// endSession revokes the access tokens of the session of token, then the session.
func (s *AuthServer) endSession(ctx context.Context, token string) error {
	sess, err := s.o.Kratos.Session(ctx, token)
	switch {
	case err == nil:
		if err := s.revokeSessionTokens(ctx, sess.ID); err != nil {
			return err
		}
	case tutorhub.ErrorCode(err) != tutorhub.EUNAUTHENTICATED:
		return err
	}
	// A session Kratos no longer knows as active has nothing to revoke here; Kratos says
	// whether the token ever existed.
	return s.o.Kratos.Logout(ctx, token)
}

// revokeSessionTokens records that the session's access tokens are refused.
func (s *AuthServer) revokeSessionTokens(ctx context.Context, sessionID string) error {
	if err := s.o.Revocations.RevokeSession(ctx, sessionID); err != nil {
		s.log.ErrorContext(ctx, "cannot record session revocation", "error", err.Error())
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "cannot sign out right now; retry"}
	}
	return nil
}

// revokeUserTokens records that the user's access tokens issued until now are refused,
// except those of keepSessionID. It follows a change Kratos has already made (a password
// set, a recovery), so a failure is logged rather than undoing it: while Redis is
// unreachable protected RPCs refuse every token anyway.
func (s *AuthServer) revokeUserTokens(ctx context.Context, userID, keepSessionID string) {
	if err := s.o.Revocations.RevokeUser(context.WithoutCancel(ctx), userID, keepSessionID); err != nil {
		s.log.ErrorContext(ctx, "cannot record revocation of a user's access tokens", "user_id", userID, "error", err.Error())
	}
}

// LogoutAll revokes every session of the caller and refuses every access token issued to
// the caller until now; if that cannot be recorded the call fails (Unavailable) first.
func (s *AuthServer) LogoutAll(ctx context.Context, _ *tutorhubv1.LogoutAllRequest) (*tutorhubv1.LogoutAllResponse, error) {
	c := CallerFrom(ctx)
	if err := s.o.Revocations.RevokeUser(ctx, c.UserID, ""); err != nil {
		s.log.ErrorContext(ctx, "cannot record revocation of a user's access tokens", "error", err.Error())
		return nil, &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "cannot sign out right now; retry"}
	}
	if err := s.o.Kratos.RevokeAllSessions(ctx, c.UserID); err != nil {
		return nil, err
	}
	if err := recordAudit(ctx, s.db, AuditEvent{Action: AuditLogoutAll, Actor: c.UserID, Subject: c.UserID}); err != nil {
		return nil, err
	}
	clearSessionCookies(ctx, s.o.CookieSecure)
	return &tutorhubv1.LogoutAllResponse{}, nil
}

// StartRecovery mails a recovery code if the address has an account.
func (s *AuthServer) StartRecovery(ctx context.Context, req *tutorhubv1.StartRecoveryRequest) (*tutorhubv1.StartRecoveryResponse, error) {
	defer s.uniform(time.Now())
	email := normalizeEmail(req.GetEmail())
	if err := s.limitRecovery(ctx, "email:"+email); err != nil {
		return nil, err
	}
	flow, err := s.o.Kratos.StartRecovery(ctx, email)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.StartRecoveryResponse{FlowId: flow}, nil
}

// CompleteRecovery checks the code, sets the new password, lifts the lockout and signs in.
// Kratos ends every other session of the account once the code is accepted; their access
// tokens are refused from then on too.
func (s *AuthServer) CompleteRecovery(ctx context.Context, req *tutorhubv1.CompleteRecoveryRequest) (*tutorhubv1.CompleteRecoveryResponse, error) {
	if err := s.limitRecovery(ctx, "flow:"+req.GetFlowId()); err != nil {
		return nil, err
	}
	rec, err := s.o.Kratos.CompleteRecovery(ctx, req.GetFlowId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	recovering, err := s.o.Kratos.Session(ctx, rec.Session.Token)
	if err != nil {
		return nil, err
	}
	s.revokeUserTokens(ctx, recovering.Identity.ID, recovering.ID)
	if err := s.o.Kratos.SetPassword(ctx, rec.Session.Token, rec.SettingsFlowID, req.GetNewPassword()); err != nil {
		// The code is spent: end its session, so a refused password leaves nothing behind.
		_ = s.o.Kratos.Logout(context.WithoutCancel(ctx), rec.Session.Token)
		return nil, err
	}
	sess, err := s.o.Kratos.AccessToken(ctx, rec.Session.Token, s.o.TokenizeTemplate)
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(sess.Identity.ID)
	if err != nil {
		return nil, fmt.Errorf("recovery: identity id: %w", err)
	}
	email := normalizeEmail(sess.Identity.Email)
	if err := s.accounts.ClearSignIns(ctx, email); err != nil {
		return nil, err
	}
	if err := s.accounts.EnsureUser(auditContext(ctx), id, email, sess.Identity.Name, AuditPasswordRecovered); err != nil {
		return nil, err
	}
	return &tutorhubv1.CompleteRecoveryResponse{UserId: id.String(), Tokens: s.tokens(ctx, sess, req.GetUseCookie())}, nil
}

// StartVerification mails a verification code if the address has an account.
func (s *AuthServer) StartVerification(ctx context.Context, req *tutorhubv1.StartVerificationRequest) (*tutorhubv1.StartVerificationResponse, error) {
	defer s.uniform(time.Now())
	email := normalizeEmail(req.GetEmail())
	if err := s.limit(ctx, "email:"+email); err != nil {
		return nil, err
	}
	flow, err := s.o.Kratos.StartVerification(ctx, email)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.StartVerificationResponse{FlowId: flow}, nil
}

// CompleteVerification checks a verification code.
func (s *AuthServer) CompleteVerification(ctx context.Context, req *tutorhubv1.CompleteVerificationRequest) (*tutorhubv1.CompleteVerificationResponse, error) {
	if err := s.limit(ctx, "flow:"+req.GetFlowId()); err != nil {
		return nil, err
	}
	if err := s.o.Kratos.CompleteVerification(ctx, req.GetFlowId(), req.GetCode()); err != nil {
		return nil, err
	}
	return &tutorhubv1.CompleteVerificationResponse{}, nil
}

// ChangePassword checks the current password (a counted sign-in attempt), then sets the new
// one; Kratos ends every other session of the account, and their access tokens are refused
// from then on.
func (s *AuthServer) ChangePassword(ctx context.Context, req *tutorhubv1.ChangePasswordRequest) (*tutorhubv1.ChangePasswordResponse, error) {
	c := CallerFrom(ctx)
	if err := s.limit(ctx, "user:"+c.UserID); err != nil {
		return nil, err
	}
	token, err := s.sessionToken(ctx, req.GetSessionToken())
	if err != nil {
		return nil, err
	}
	current, err := s.o.Kratos.AccessToken(ctx, token, s.o.TokenizeTemplate)
	if err != nil {
		return nil, err
	}
	if current.Identity.ID != c.UserID {
		return nil, tutorhub.Errorf(tutorhub.EFORBIDDEN, "the session token belongs to another user")
	}
	email := normalizeEmail(current.Identity.Email)
	// The caller proved a live session of this account, so the captcha that strangers'
	// failed sign-ins put in front of it does not apply; the check still counts toward the
	// lockout.
	checkCtx := context.WithValue(ctx, signedInCheck{}, true)
	_, err = s.checkPassword(checkCtx, email, "", false, func(ctx context.Context) (*kratos.Session, error) {
		return &kratos.Session{}, s.o.Kratos.Reauthenticate(ctx, token, email, req.GetCurrentPassword())
	})
	if err != nil {
		if tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED {
			return nil, &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid request", Violations: []tutorhub.Violation{{Field: "current_password", Rule: "password.matches", Message: "the current password is wrong"}}}
		}
		return nil, err
	}
	if err := s.o.Kratos.SetPassword(ctx, token, "", req.GetNewPassword()); err != nil {
		return nil, renameField(err, "password", "new_password")
	}
	s.revokeUserTokens(ctx, c.UserID, current.ID)
	uid, err := uuid.Parse(c.UserID)
	if err != nil {
		return nil, fmt.Errorf("change password: user id: %w", err)
	}
	// The audit event and the security notice's outbox event commit together.
	if err := s.accounts.PasswordChanged(auditContext(ctx), uid); err != nil {
		return nil, err
	}
	sess, err := s.o.Kratos.AccessToken(ctx, token, s.o.TokenizeTemplate)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.ChangePasswordResponse{AccessToken: sess.AccessToken, AccessTokenExpiresAt: timestamppb.New(sess.AccessTokenExpiresAt)}, nil
}

// issue mints the first access token of a new session and hands out its credentials.
func (s *AuthServer) issue(ctx context.Context, sessionToken string, useCookie bool) (*tutorhubv1.Tokens, error) {
	sess, err := s.o.Kratos.AccessToken(ctx, sessionToken, s.o.TokenizeTemplate)
	if err != nil {
		return nil, err
	}
	return s.tokens(ctx, sess, useCookie), nil
}

// tokens renders a session's credentials, as cookies for browsers that asked for them.
func (s *AuthServer) tokens(ctx context.Context, sess *kratos.Session, useCookie bool) *tutorhubv1.Tokens {
	t := &tutorhubv1.Tokens{AccessToken: sess.AccessToken, AccessTokenExpiresAt: timestamppb.New(sess.AccessTokenExpiresAt)}
	if useCookie {
		setSessionCookies(ctx, sess.Token, s.csrfToken(sess.Token), s.o.CookieSecure)
	} else {
		t.SessionToken = sess.Token
	}
	return t
}

// limitTier is one budget a credential RPC spends; a spent tier with captcha set asks for a
// captcha instead of refusing, where the RPC takes one.
type limitTier struct {
	key     string
	rate    ratelimit.Rate
	captcha bool
}

// limit spends one event of each credential tier: the client address, the account (email,
// flow or user) and the global budget. A spent tier refuses the request.
func (s *AuthServer) limit(ctx context.Context, account string) error {
	_, err := s.spend(ctx, s.credentialTiers(ctx, account), false)
	return err
}

// limitOrCaptcha is limit for sign-in and sign-up: a spent account or global budget, which
// strangers can spend, answers busy (a captcha is required) instead of refusing, when a
// captcha provider is set. Only the client's own address budget refuses.
func (s *AuthServer) limitOrCaptcha(ctx context.Context, account string) (busy bool, err error) {
	return s.spend(ctx, s.credentialTiers(ctx, account), s.o.Captcha != nil)
}

// limitRecovery spends recovery's own budgets (client address and account), none of the
// credential ones.
func (s *AuthServer) limitRecovery(ctx context.Context, account string) error {
	l := s.o.Limits
	_, err := s.spend(ctx, []limitTier{
		{key: "recovery:ip:" + ratelimit.ClientKey(clientIP(ctx), l.IPv6Prefix), rate: l.Recovery},
		{key: "recovery:account:" + account, rate: l.RecoveryAccount},
	}, false)
	return err
}

func (s *AuthServer) credentialTiers(ctx context.Context, account string) []limitTier {
	l := s.o.Limits
	return []limitTier{
		{key: "auth:ip:" + ratelimit.ClientKey(clientIP(ctx), l.IPv6Prefix), rate: l.IP},
		{key: "auth:account:" + account, rate: l.Account, captcha: true},
		{key: "auth:global", rate: l.Global, captcha: true},
	}
}

// spend spends one event of each tier, failing closed when Redis cannot be asked. With
// captchaOK, a spent tier marked captcha makes busy true instead of refusing.
func (s *AuthServer) spend(ctx context.Context, tiers []limitTier, captchaOK bool) (busy bool, err error) {
	if !s.o.Limits.Enabled {
		return false, nil
	}
	for _, tier := range tiers {
		d, err := s.limiter.AllowStrict(ctx, tier.key, tier.rate)
		if err != nil {
			return false, &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "rate limiter unavailable: sign-in, sign-up and recovery are refused until it is back; retry shortly", RetryAfterSeconds: breakerRetry(err)}
		}
		switch {
		case d.Allowed:
		case tier.captcha && captchaOK:
			busy = true
		default:
			return false, rateLimited(d)
		}
	}
	return busy, nil
}

// uniform sleeps until UniformResponse has passed since start.
func (s *AuthServer) uniform(start time.Time) {
	if d := s.o.UniformResponse - time.Since(start); d > 0 {
		time.Sleep(d)
	}
}

// renameField renames a violation's field in a domain error (Kratos's "password" is the
// API's "new_password" where both passwords are in one request).
func renameField(err error, from, to string) error {
	var de *tutorhub.Error
	if !errors.As(err, &de) || len(de.Violations) == 0 {
		return err
	}
	out := *de
	out.Violations = make([]tutorhub.Violation, len(de.Violations))
	for i, v := range de.Violations {
		if v.Field == from {
			v.Field = to
		}
		out.Violations[i] = v
	}
	return &out
}

// sessionToken is the request's session token: the field when set, else the session cookie,
// which counts only with a CSRF header equal to the CSRF cookie and to the session's CSRF
// token.
func (s *AuthServer) sessionToken(ctx context.Context, field string) (string, error) {
	var header http.Header
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		header = ci.RequestHeader()
	}
	return parseSessionCredential(field, header, s.o.CookieSecure, s.o.CSRFKey)
}

// errBadSessionToken is the answer for a session token that cannot be one.
func errBadSessionToken() error {
	return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "the session token is malformed")
}

// parseSessionCredential picks the session token of a request from its session_token field
// or, when that is empty, its cookies. It never calls out: a token that cannot be a session
// token (empty, oversized, holding control characters or anything but visible ASCII) is
// Unauthenticated here rather than sent on to Kratos, and a session cookie without the
// matching CSRF proof is PermissionDenied.
func parseSessionCredential(field string, header http.Header, secure bool, csrfKey []byte) (string, error) {
	if field != "" {
		if len(field) > maxSessionTokenBytes || !visibleASCII(field) {
			return "", errBadSessionToken()
		}
		return field, nil
	}
	sessionName, csrfName := CookieNames(secure)
	var session, csrf string
	for _, line := range header.Values("Cookie") {
		cookies, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cookies {
			switch c.Name {
			case sessionName:
				session = c.Value
			case csrfName:
				csrf = c.Value
			}
		}
	}
	if session == "" {
		return "", tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "no session token: send session_token or the session cookie")
	}
	if len(session) > maxSessionTokenBytes || !visibleASCII(session) {
		return "", errBadSessionToken()
	}
	sent := header.Get(CSRFHeader)
	want := csrfTokenOf(csrfKey, session)
	if csrf == "" || sent == "" ||
		subtle.ConstantTimeCompare([]byte(csrf), []byte(sent)) != 1 ||
		subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
		return "", tutorhub.Errorf(tutorhub.EFORBIDDEN, "the session cookie needs the %s header equal to the %s cookie of this session", CSRFHeader, csrfName)
	}
	return session, nil
}

// DeriveKey derives a key for one purpose from a secret used for another: HMAC-SHA256 of
// label under secret. Keys of different labels are independent.
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// csrfToken is the CSRF token of a session token.
func (s *AuthServer) csrfToken(sessionToken string) string {
	return csrfTokenOf(s.o.CSRFKey, sessionToken)
}

// csrfTokenOf is HMAC-SHA256(key, label || session token), base64url: the CSRF token only
// the server can compute for a session.
func csrfTokenOf(key []byte, sessionToken string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tutorhub csrf v1\x00"))
	m.Write([]byte(sessionToken))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setSessionCookies hands a browser its session token and the session's CSRF token.
func setSessionCookies(ctx context.Context, token, csrfToken string, secure bool) {
	ci, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return
	}
	sessionName, csrfName := CookieNames(secure)
	maxAge := int(sessionCookieMaxAge / time.Second)
	session := &http.Cookie{Name: sessionName, Value: token, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	csrf := &http.Cookie{Name: csrfName, Value: csrfToken, Path: "/", MaxAge: maxAge, Secure: secure, SameSite: http.SameSiteStrictMode}
	ci.ResponseHeader().Add("Set-Cookie", session.String())
	ci.ResponseHeader().Add("Set-Cookie", csrf.String())
}

// clearSessionCookies tells a browser to forget its session.
func clearSessionCookies(ctx context.Context, secure bool) {
	ci, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return
	}
	sessionName, csrfName := CookieNames(secure)
	for _, name := range []string{sessionName, csrfName} {
		c := &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionName, Secure: secure, SameSite: http.SameSiteStrictMode}
		ci.ResponseHeader().Add("Set-Cookie", c.String())
	}
}
