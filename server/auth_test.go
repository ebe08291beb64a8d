package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/captcha"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// codeOf is the Connect code of err.
func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

func wantCode(t *testing.T, err error, want connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v", want)
	}
	if got := codeOf(err); got != want {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// wantViolation asserts err is InvalidArgument naming field.
func wantViolation(t *testing.T, err error, field string) {
	t.Helper()
	for _, v := range violations(t, err) {
		if fieldOf(v) == field {
			return
		}
	}
	t.Fatalf("error %v has no violation on %q", err, field)
}

// authProtocols are the transports the auth flows are proven over.
func authProtocols(api *testAPI) map[string][]connect.ClientOption {
	return map[string][]connect.ClientOption{
		"connect": nil,
		"grpc":    {connect.WithGRPC()},
	}
}

func clientFor(proto string) *http.Client {
	if proto == "grpc" {
		return h2cClient()
	}
	return http.DefaultClient
}

func TestAuthFlowEndToEnd(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	for proto, opts := range authProtocols(api) {
		t.Run(proto, func(t *testing.T) {
			ctx := context.Background()
			hc := clientFor(proto)
			auth := tutorhubv1connect.NewAuthServiceClient(hc, api.URL, opts...)
			email := testenv.UniqueEmail("e2e-" + proto)
			since := time.Now()

			reg, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: strings.ToUpper(email), Password: testPassword, DisplayName: "Erin"})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, testPassword)
			// Registering signs nobody in and names no user: an existing address answers alike.
			if reg.GetTokens() != nil || reg.GetUserId() != "" || reg.GetVerificationFlowId() == "" {
				t.Fatalf("register = %v", reg)
			}

			code := testenv.MailCode(t, email, "Please verify", since)
			api.noteSecrets(t, code)
			if _, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: reg.GetVerificationFlowId(), Code: "000000"}); err == nil && code != "000000" {
				t.Fatal("a wrong verification code was accepted")
			}
			if _, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: reg.GetVerificationFlowId(), Code: code}); err != nil {
				t.Fatalf("verify: %v", err)
			}

			login, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			tokens := login.GetTokens()
			api.noteSecrets(t, tokens.GetAccessToken(), tokens.GetSessionToken())
			if login.GetUserId() == "" || tokens.GetSessionToken() == "" {
				t.Fatalf("login = %v", login)
			}
			if exp := tokens.GetAccessTokenExpiresAt().AsTime(); exp.Before(time.Now()) || exp.After(time.Now().Add(15*time.Minute)) {
				t.Fatalf("access token expiry %v is not minutes away", exp)
			}

			users := tutorhubv1connect.NewUserServiceClient(hc, api.URL, append(opts, connect.WithInterceptors(bearer(tokens.GetAccessToken())))...)
			me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if me.GetUser().GetId() != login.GetUserId() || me.GetUser().GetEmail() != email || me.GetUser().GetDisplayName() != "Erin" {
				t.Fatalf("GetMe = %v", me.GetUser())
			}

			ref, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: tokens.GetSessionToken()})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, ref.GetAccessToken())
			claims := unverifiedClaims(t, ref.GetAccessToken())
			if claims["email_verified"] != true || claims["sub"] != login.GetUserId() {
				t.Fatalf("refreshed token claims = %v", claims)
			}

			if _, err := auth.Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: tokens.GetSessionToken()}); err != nil {
				t.Fatal(err)
			}
			_, err = auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: tokens.GetSessionToken()})
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
}

func unverifiedClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBrowserSessionCookieNeedsCSRFHeader(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	u := api.signUp(t)
	ctx, call := connect.NewClientContext(context.Background())
	login, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password, UseCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	if login.GetTokens().GetSessionToken() != "" {
		t.Fatal("session token in the body of a cookie login")
	}
	var session, csrf *http.Cookie
	for _, line := range call.ResponseHeader().Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatal(err)
		}
		switch c.Name {
		case server.SessionCookie:
			session = c
		case server.CSRFCookie:
			csrf = c
		}
	}
	if session == nil || csrf == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || csrf.HttpOnly {
		t.Fatalf("cookies: session %+v csrf %+v", session, csrf)
	}
	api.noteSecrets(t, session.Value)
	refresh := func(header map[string]string) error {
		req := connect.NewRequest(&tutorhubv1.RefreshRequest{})
		_ = req
		c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(header)))
		_, err := c.Refresh(context.Background(), &tutorhubv1.RefreshRequest{})
		return err
	}
	cookies := session.Name + "=" + session.Value + "; " + csrf.Name + "=" + csrf.Value
	wantCode(t, refresh(map[string]string{"Cookie": cookies}), connect.CodePermissionDenied)
	wantCode(t, refresh(map[string]string{"Cookie": cookies, server.CSRFHeader: "forged"}), connect.CodePermissionDenied)
	if err := refresh(map[string]string{"Cookie": cookies, server.CSRFHeader: csrf.Value}); err != nil {
		t.Fatalf("refresh with cookie and CSRF header: %v", err)
	}
}

func headers(h map[string]string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			for k, v := range h {
				req.Header().Set(k, v)
			}
			return next(ctx, req)
		}
	}
}

func TestRecoveryByCode(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	auth := api.authClient()
	since := time.Now()
	start, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
	if err != nil {
		t.Fatal(err)
	}
	// An unknown address gets the same answer.
	unknown, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: testenv.UniqueEmail("nobody")})
	if err != nil || unknown.GetFlowId() == "" {
		t.Fatalf("unknown address: %v %v", unknown, err)
	}
	code := testenv.MailCode(t, u.Email, "Recover access", since)
	newPassword := "a brand new passphrase " + testenv.RandomID()
	api.noteSecrets(t, code, newPassword)

	_, err = auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: "000000", NewPassword: newPassword})
	if code != "000000" {
		wantViolation(t, err, "code")
	}
	rec, err := auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: code, NewPassword: newPassword})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, rec.GetTokens().GetSessionToken(), rec.GetTokens().GetAccessToken())
	if rec.GetUserId() != u.ID || rec.GetTokens().GetAccessToken() == "" {
		t.Fatalf("recovery = %v", rec)
	}
	// Recovery ends the sessions that existed before it.
	_, err = auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken})
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: newPassword}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	auth := api.authClient()
	other, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, other.GetTokens().GetSessionToken(), other.GetTokens().GetAccessToken())
	authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
	newPassword := "another fine passphrase " + testenv.RandomID()
	api.noteSecrets(t, newPassword)

	_, err = authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: "wrong password!", NewPassword: newPassword, SessionToken: u.SessionToken})
	wantViolation(t, err, "current_password")
	_, err = authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: "short", SessionToken: u.SessionToken})
	wantViolation(t, err, "new_password")
	// Another user's session token is refused.
	stranger := api.signUp(t)
	_, err = authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: stranger.SessionToken})
	wantCode(t, err, connect.CodePermissionDenied)

	res, err := authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: u.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, res.GetAccessToken())
	_, err = auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: other.GetTokens().GetSessionToken()})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken}); err != nil {
		t.Fatalf("the session that changed the password: %v", err)
	}
	if _, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: newPassword}); err != nil {
		t.Fatal(err)
	}
}

func TestLogoutAllEndsEverySession(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	second, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, second.GetTokens().GetSessionToken(), second.GetTokens().GetAccessToken())
	_, err = api.authClient().LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt()).LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{u.SessionToken, second.GetTokens().GetSessionToken()} {
		_, err := api.authClient().Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: tok})
		wantCode(t, err, connect.CodeUnauthenticated)
	}
}

// signedToken signs claims with the local stack's private Kratos key, as Kratos would.
func signedToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	var set jose.JSONWebKeySet
	raw := readFile(t, testenv.RepoRoot(t)+"/.data/kratos/jwks.json")
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	k := set.Keys[0]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestExpiredOrTamperedAccessTokenIsUnauthenticated(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	u := api.signUp(t)
	now := time.Now()
	expired := signedToken(t, map[string]any{
		"iss": testenv.KratosIssuer(), "aud": testTokenAudience, "sub": u.ID, "sid": "x", "iat": now.Add(-time.Hour).Unix(),
		"nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-50 * time.Minute).Unix(),
	})
	parts := strings.Split(u.AccessToken, ".")
	claims := unverifiedClaims(t, u.AccessToken)
	claims["sub"] = "00000000-0000-4000-8000-000000000000"
	forged := strings.Split(signedToken(t, claims), ".")
	tampered := parts[0] + "." + forged[1] + "." + parts[2]
	for name, header := range map[string]string{
		"expired":       "Bearer " + expired,
		"tampered":      "Bearer " + tampered,
		"truncated":     "Bearer " + u.AccessToken[:len(u.AccessToken)-4],
		"session token": "Bearer " + u.SessionToken,
		"not bearer":    "Basic " + u.AccessToken,
		"empty bearer":  "Bearer ",
		"garbage":       "Bearer " + strings.Repeat("%", 40),
		"oversized":     "Bearer " + strings.Repeat("A", 9000),
	} {
		t.Run(name, func(t *testing.T) {
			c := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{"Authorization": header})))
			_, err := c.GetMe(context.Background(), &tutorhubv1.GetMeRequest{})
			wantCode(t, err, connect.CodeUnauthenticated)
			// A public RPC ignores the bad token and runs as anonymous, so a client whose
			// token went stale (a laptop sleep) can still browse and sign out.
			if _, err = c.GetUser(context.Background(), &tutorhubv1.GetUserRequest{Id: u.ID}); err != nil {
				t.Fatalf("public RPC with a bad token: %v", err)
			}
		})
	}
}

func TestKratosDownIsUnavailableAndTokensKeepWorking(t *testing.T) {
	t.Parallel()
	live := newTestAPI(t)
	u := live.signUp(t)
	dead := newTestAPI(t, func(o *server.Options) {
		// Nothing listens on port 1; the timeout bounds a blackholed address too.
		o.Auth.Kratos = kratos.New(kratos.Options{PublicURL: "http://127.0.0.1:1", AdminURL: "http://127.0.0.1:1", Timeout: 2 * time.Second})
	})
	start := time.Now()
	_, err := dead.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	wantCode(t, err, connect.CodeUnavailable)
	_, err = dead.authClient().Refresh(context.Background(), &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken})
	wantCode(t, err, connect.CodeUnavailable)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Kratos down took %v to report", d)
	}
	me, err := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, dead.URL, u.opt()).GetMe(context.Background(), &tutorhubv1.GetMeRequest{})
	if err != nil || me.GetUser().GetId() != u.ID {
		t.Fatalf("access token on a server whose Kratos is down: %v %v", me, err)
	}
	dead.noteSecrets(t, u.Password, u.SessionToken, u.AccessToken)
}

func TestKratosTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers: the client timeout must end the call.
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang })}
	ln := listen(t)
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Kratos = kratos.New(kratos.Options{PublicURL: "http://" + ln.Addr().String(), AdminURL: "http://" + ln.Addr().String(), Timeout: 500 * time.Millisecond})
	})
	start := time.Now()
	_, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: testenv.UniqueEmail("hang"), Password: testPassword})
	wantCode(t, err, connect.CodeUnavailable)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("hung Kratos took %v", d)
	}
}

func TestLockoutAfterFailures(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, func(o *server.Options) { o.Auth.Lockout.Threshold = 3; o.Auth.Lockout.CaptchaAfter = 0 })
	ctx := context.Background()
	u := api.signUp(t)
	unknown := testenv.UniqueEmail("ghost")
	for _, email := range []string{u.Email, unknown} {
		for i := 0; i < 3; i++ {
			_, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: "wrong password " + testenv.RandomID()})
			wantCode(t, err, connect.CodeUnauthenticated)
		}
		// Locked: even the right password is refused, and known and unknown look alike.
		_, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: u.Password})
		wantCode(t, err, connect.CodeResourceExhausted)
		if !strings.Contains(err.Error(), "too many failed sign-ins") {
			t.Fatalf("lockout message: %v", err)
		}
	}
	// Recovery lifts the lock.
	since := time.Now()
	start, err := api.authClient().StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
	if err != nil {
		t.Fatal(err)
	}
	code := testenv.MailCode(t, u.Email, "Recover access", since)
	newPassword := "recovered passphrase " + testenv.RandomID()
	api.noteSecrets(t, code, newPassword)
	if _, err := api.authClient().CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: code, NewPassword: newPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: newPassword}); err != nil {
		t.Fatalf("login after recovery: %v", err)
	}
}

func TestLockoutIsExactUnderConcurrentAttempts(t *testing.T) {
	t.Parallel()
	const threshold, attempts = 5, 16
	api := newTestAPI(t, func(o *server.Options) { o.Auth.Lockout.Threshold = threshold; o.Auth.Lockout.CaptchaAfter = 0 })
	u := api.signUp(t)
	var mu sync.Mutex
	counts := map[connect.Code]int{}
	var wg sync.WaitGroup
	for i := 0; i < attempts; i++ {
		wg.Go(func() {
			_, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: u.Email, Password: "wrong password " + testenv.RandomID()})
			mu.Lock()
			counts[codeOf(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[connect.CodeUnauthenticated] != threshold || counts[connect.CodeResourceExhausted] != attempts-threshold {
		t.Fatalf("outcomes %v: want exactly %d password checks and %d refusals", counts, threshold, attempts-threshold)
	}
	_, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	wantCode(t, err, connect.CodeResourceExhausted)
	var locks int
	if err := api.DB.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE action = $1", server.AuditLockout).Scan(&locks); err != nil || locks != 1 {
		t.Fatalf("lockout audit events = %d (%v), want 1", locks, err)
	}
}

func TestCaptchaRequiredAfterFailuresAndOnRegister(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Captcha = captcha.Static(captcha.TestToken)
		o.Auth.Lockout.CaptchaAfter = 2
		o.Auth.Lockout.Threshold = 10
		o.Auth.CaptchaOnRegister = true
	})
	ctx := context.Background()
	email := testenv.UniqueEmail("captcha")
	_, err := api.authClient().Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: testPassword})
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := api.authClient().Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: testPassword, CaptchaToken: captcha.TestToken}); err != nil {
		t.Fatalf("register with captcha: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: "wrong password!"})
		wantCode(t, err, connect.CodeUnauthenticated)
	}
	_, err = api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: testPassword})
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: testPassword, CaptchaToken: "wrong"})
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: testPassword, CaptchaToken: captcha.TestToken}); err != nil {
		t.Fatalf("login with captcha: %v", err)
	}
	// Success resets the counter: no captcha needed any more.
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: testPassword}); err != nil {
		t.Fatalf("login after success: %v", err)
	}
}

func TestAuthRateLimitTiers(t *testing.T) {
	t.Parallel()
	tight := ratelimit.Rate{Limit: 3, Period: time.Minute}
	roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}
	for name, limits := range map[string]server.AuthRateLimits{
		"per ip":      {Enabled: true, IP: tight, Account: roomy, Global: roomy},
		"per account": {Enabled: true, IP: roomy, Account: tight, Global: roomy},
		"global":      {Enabled: true, IP: roomy, Account: roomy, Global: tight},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, func(o *server.Options) { o.Auth.Limits = limits; o.Auth.Lockout.Threshold = 100 })
			email := testenv.UniqueEmail("rl")
			for i := 0; i < 3; i++ {
				_, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: email, Password: "wrong password!"})
				wantCode(t, err, connect.CodeUnauthenticated)
			}
			_, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: email, Password: "wrong password!"})
			wantCode(t, err, connect.CodeResourceExhausted)
			// Recovery has budgets of its own: a spent sign-in budget never blocks it.
			if _, err := api.authClient().StartRecovery(context.Background(), &tutorhubv1.StartRecoveryRequest{Email: email}); err != nil {
				t.Fatalf("recovery after the sign-in budget is spent: %v", err)
			}
		})
	}
}

func TestAuthBadInput(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	auth := api.authClient()
	u := api.signUp(t)
	long := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"malformed email on register", func() error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: "not-an-email", Password: testPassword})
			return err
		}, "email"},
		{"password too short (Kratos policy)", func() error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("weak"), Password: "short"})
			return err
		}, "password"},
		{"password like the email (Kratos policy)", func() error {
			email := testenv.UniqueEmail("similar")
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: email})
			return err
		}, "password"},
		{"oversized display name", func() error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("long"), Password: testPassword, DisplayName: long})
			return err
		}, "display_name"},
		{"malformed email on login", func() error {
			_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: "a@", Password: "x"})
			return err
		}, "email"},
		{"code not six digits", func() error {
			_, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: u.VerificationFlowID, Code: "12ab"})
			return err
		}, "code"},
		{"unknown recovery flow", func() error {
			_, err := auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11", Code: "123456", NewPassword: testPassword})
			return err
		}, "flow_id"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantViolation(t, tc.call(), tc.field) })
	}
	// Registering an address twice answers as a first sign-up does, whatever its case
	// (auth_enumeration_test.go compares the two answers in full).
	again, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: strings.ToUpper(u.Email), Password: testPassword})
	if err != nil || again.GetTokens() != nil || again.GetUserId() != "" || again.GetVerificationFlowId() == "" {
		t.Fatalf("second sign-up of an address: %v, %v", again, err)
	}
}

func TestUpdateMeValidatesMaskAndValues(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	u := api.signUp(t)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt())
	ctx := context.Background()
	update := func(p *tutorhubv1.ProfileUpdate, paths ...string) (*tutorhubv1.UpdateMeResponse, error) {
		return users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{Profile: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	}
	for _, tc := range []struct {
		name  string
		p     *tutorhubv1.ProfileUpdate
		paths []string
		field string
	}{
		{"unknown path", &tutorhubv1.ProfileUpdate{}, []string{"nickname"}, "update_mask"},
		{"read-only path", &tutorhubv1.ProfileUpdate{}, []string{"roles"}, "update_mask"},
		{"email is not editable here", &tutorhubv1.ProfileUpdate{}, []string{"email"}, "update_mask"},
		{"empty mask", &tutorhubv1.ProfileUpdate{}, nil, "update_mask"},
		{"not an IANA zone", &tutorhubv1.ProfileUpdate{Timezone: "Mars/Olympus"}, []string{"timezone"}, "profile.timezone"},
		{"not a BCP 47 tag", &tutorhubv1.ProfileUpdate{Locale: "english please"}, []string{"locale"}, "profile.locale"},
		{"oversized bio", &tutorhubv1.ProfileUpdate{Bio: strings.Repeat("b", 2001)}, []string{"bio"}, "profile.bio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := update(tc.p, tc.paths...)
			wantViolation(t, err, tc.field)
		})
	}
	res, err := update(&tutorhubv1.ProfileUpdate{DisplayName: "Ada", Bio: "Maths tutor", Timezone: "Europe/Paris", Locale: "pt-br"}, "display_name", "timezone", "locale")
	if err != nil {
		t.Fatal(err)
	}
	got := res.GetUser()
	if got.GetDisplayName() != "Ada" || got.GetBio() != "" || got.GetTimezone() != "Europe/Paris" || got.GetLocale() != "pt-BR" {
		t.Fatalf("after update: %v", got)
	}
}

func TestUserAndAdminAuthorization(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	owner, other, admin := api.signUp(t), api.signUp(t), api.admin(t)
	anonymous := &testUser{}
	as := func(u *testUser) (tutorhubv1connect.UserServiceClient, tutorhubv1connect.AdminServiceClient, tutorhubv1connect.AuthServiceClient) {
		var opts []connect.ClientOption
		if u.AccessToken != "" {
			opts = append(opts, u.opt())
		}
		return tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, opts...),
			tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, opts...),
			tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, opts...)
	}
	for _, tc := range []struct {
		name     string
		caller   *testUser
		meWant   connect.Code // GetMe / UpdateMe / LogoutAll
		listWant connect.Code // ListAuditEvents
	}{
		{"anonymous", anonymous, connect.CodeUnauthenticated, connect.CodeUnauthenticated},
		{"another user", other, codeOK, connect.CodePermissionDenied},
		{"owner", owner, codeOK, connect.CodePermissionDenied},
		{"admin", admin, codeOK, codeOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users, admins, _ := as(tc.caller)
			me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
			if tc.meWant != codeOK {
				wantCode(t, err, tc.meWant)
			} else if err != nil || me.GetUser().GetId() != tc.caller.ID || me.GetUser().GetEmail() != tc.caller.Email {
				// GetMe is always the caller's own record: nobody reads another's private fields.
				t.Fatalf("GetMe = %v, %v", me, err)
			}
			_, err = users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{Profile: &tutorhubv1.ProfileUpdate{Bio: "by " + tc.name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bio"}}})
			if tc.meWant != codeOK {
				wantCode(t, err, tc.meWant)
			} else if err != nil {
				t.Fatal(err)
			}
			// Public profile of the owner: anyone may read it, and it has no private fields.
			prof, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: owner.ID})
			if err != nil || prof.GetProfile().GetId() != owner.ID || strings.Contains(prof.String(), owner.Email) {
				t.Fatalf("GetUser = %v, %v", prof, err)
			}
			_, err = admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{})
			if tc.listWant != codeOK {
				wantCode(t, err, tc.listWant)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
	// Nobody's UpdateMe touched the owner's profile except the owner's own.
	users, _, _ := as(owner)
	me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
	if err != nil || me.GetUser().GetBio() != "by owner" {
		t.Fatalf("owner's bio = %q, %v", me.GetUser().GetBio(), err)
	}
	_, err = users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11"})
	wantCode(t, err, connect.CodeNotFound)
	// Authenticated auth RPCs refuse anonymous callers.
	_, _, anonAuth := as(anonymous)
	_, err = anonAuth.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: "x", NewPassword: "y"})
	wantCode(t, err, connect.CodeUnauthenticated)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// codeOK stands for success in tables of expected codes.
const codeOK connect.Code = 0
