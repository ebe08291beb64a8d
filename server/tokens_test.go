package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// getMe calls the authenticated GetMe with token.
func (api *testAPI) getMe(token string) error {
	c := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(token)))
	_, err := c.GetMe(context.Background(), &tutorhubv1.GetMeRequest{})
	return err
}

// login opens another session of u.
func (api *testAPI) login(t *testing.T, u *testUser) *tutorhubv1.Tokens {
	t.Helper()
	res, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, res.GetTokens().GetSessionToken(), res.GetTokens().GetAccessToken())
	return res.GetTokens()
}

// cookieLogin signs u in as a browser and returns the cookies it was handed, by name.
func (api *testAPI) cookieLogin(t *testing.T, u *testUser) map[string]*http.Cookie {
	t.Helper()
	ctx, call := connect.NewClientContext(context.Background())
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password, UseCookie: true}); err != nil {
		t.Fatal(err)
	}
	cookies := map[string]*http.Cookie{}
	for _, line := range call.ResponseHeader().Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatal(err)
		}
		cookies[c.Name] = c
		api.noteSecrets(t, c.Value)
	}
	return cookies
}

// Every way a session ends makes the access tokens minted from it fail at once, not when
// they expire; sessions that live on keep working.
func TestAccessTokensDieWithTheirSession(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// end ends one or more sessions of u; it returns the access tokens that must now be
		// refused and those that must still work.
		end func(t *testing.T, u *testUser) (dead, alive []string)
	}{
		{"logout with the session token", func(t *testing.T, u *testUser) ([]string, []string) {
			other := api.login(t, u)
			if _, err := api.authClient().Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: u.SessionToken}); err != nil {
				t.Fatal(err)
			}
			return []string{u.AccessToken}, []string{other.GetAccessToken()}
		}},
		{"logout with the access token", func(t *testing.T, u *testUser) ([]string, []string) {
			other := api.login(t, u)
			c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
			if _, err := c.Logout(ctx, &tutorhubv1.LogoutRequest{}); err != nil {
				t.Fatal(err)
			}
			return []string{u.AccessToken}, []string{other.GetAccessToken()}
		}},
		{"logout with the session cookie", func(t *testing.T, u *testUser) ([]string, []string) {
			session, csrf := server.CookieNames(false)
			cookies := api.cookieLogin(t, u)
			ref, err := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{
				"Cookie": session + "=" + cookies[session].Value + "; " + csrf + "=" + cookies[csrf].Value, server.CSRFHeader: cookies[csrf].Value,
			}))).Refresh(ctx, &tutorhubv1.RefreshRequest{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{
				"Cookie": session + "=" + cookies[session].Value + "; " + csrf + "=" + cookies[csrf].Value, server.CSRFHeader: cookies[csrf].Value,
			}))).Logout(ctx, &tutorhubv1.LogoutRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return []string{ref.GetAccessToken()}, []string{u.AccessToken}
		}},
		{"logout everywhere", func(t *testing.T, u *testUser) ([]string, []string) {
			other := api.login(t, u)
			c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
			if _, err := c.LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{}); err != nil {
				t.Fatal(err)
			}
			return []string{u.AccessToken, other.GetAccessToken()}, nil
		}},
		{"password change", func(t *testing.T, u *testUser) ([]string, []string) {
			other := api.login(t, u)
			newPassword := "a changed passphrase " + testenv.RandomID()
			api.noteSecrets(t, newPassword)
			c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
			res, err := c.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: u.SessionToken})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, res.GetAccessToken())
			// The session that changed the password lives on, with its tokens old and new.
			return []string{other.GetAccessToken()}, []string{u.AccessToken, res.GetAccessToken()}
		}},
		{"recovery", func(t *testing.T, u *testUser) ([]string, []string) {
			since := time.Now()
			start, err := api.authClient().StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
			if err != nil {
				t.Fatal(err)
			}
			code := testenv.MailCode(t, u.Email, "Recover access", since)
			newPassword := "a recovered passphrase " + testenv.RandomID()
			api.noteSecrets(t, code, newPassword)
			rec, err := api.authClient().CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: code, NewPassword: newPassword})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, rec.GetTokens().GetSessionToken(), rec.GetTokens().GetAccessToken())
			return []string{u.AccessToken}, []string{rec.GetTokens().GetAccessToken()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := api.signUp(t)
			if err := api.getMe(u.AccessToken); err != nil {
				t.Fatalf("before: %v", err)
			}
			dead, alive := tc.end(t, u)
			for i, tok := range dead {
				if err := api.getMe(tok); codeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("token %d of an ended session: GetMe = %v, want unauthenticated", i, err)
				}
			}
			for i, tok := range alive {
				if err := api.getMe(tok); err != nil {
					t.Errorf("token %d of a session that lives on: %v", i, err)
				}
			}
		})
	}
}

// A client whose access token went stale (revoked, expired during a laptop sleep) can still
// call public RPCs, signing out included: the token is ignored there.
func TestPublicRPCsIgnoreAStaleToken(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	second := api.login(t, u)
	if _, err := api.authClient().Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: u.SessionToken}); err != nil {
		t.Fatal(err)
	}
	stale := connect.WithInterceptors(bearer(u.AccessToken))
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, stale)
	if _, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: u.ID}); err != nil {
		t.Fatalf("public RPC with a revoked token: %v", err)
	}
	auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, stale)
	if _, err := auth.Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: second.GetSessionToken()}); err != nil {
		t.Fatalf("logout with a revoked access token and a live session token: %v", err)
	}
	_, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: second.GetSessionToken()})
	wantCode(t, err, connect.CodeUnauthenticated)
	// A stale token is no way around a protected RPC.
	_, err = auth.LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
}

// While Redis cannot say whether a token was revoked, protected RPCs fail closed
// (Unavailable, so clients retry rather than sign out) and public ones run as anonymous.
func TestRevocationCheckFailsClosedWithoutRedis(t *testing.T) {
	t.Parallel()
	live := newTestAPI(t)
	u := live.signUp(t)
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Revocations = accesstoken.NewRevocations(deadRedis(), "x:", time.Minute, nil)
	})
	api.noteSecrets(t, u.AccessToken, u.SessionToken)
	wantCode(t, api.getMe(u.AccessToken), connect.CodeUnavailable)
	subjects := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, u.opt())
	if _, err := subjects.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{}); err != nil {
		t.Fatalf("public RPC while revocations are unknown: %v", err)
	}
	// Signing out cannot be recorded, so it is refused before the session ends.
	_, err := api.authClient().Logout(context.Background(), &tutorhubv1.LogoutRequest{SessionToken: u.SessionToken})
	wantCode(t, err, connect.CodeUnavailable)
	if _, err := live.authClient().Refresh(context.Background(), &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken}); err != nil {
		t.Fatalf("the session ended although its revocation was not recorded: %v", err)
	}
}

// A session token that cannot be one is Unauthenticated, whichever RPC carries it, and never
// reaches Kratos (where a control character made the call fail as Unavailable).
func TestMalformedSessionTokenIsUnauthenticated(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
	for name, tok := range map[string]string{
		"escape":      u.SessionToken + "\x1b[31m",
		"bell":        "\x07" + u.SessionToken,
		"backspace":   u.SessionToken[:10] + "\b" + u.SessionToken[10:],
		"nul":         u.SessionToken + "\x00",
		"newline":     u.SessionToken + "\r\nX-Injected: 1",
		"space":       "ory_st_ abc",
		"non-ascii":   "ory_st_ünïcödé",
		"garbage":     "%%%%not-a-token%%%%",
		"unknown":     "ory_st_" + strings.Repeat("x", 32),
		"max length":  strings.Repeat("A", 512),
		"almost same": u.SessionToken[:len(u.SessionToken)-1] + "0",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := api.authClient().Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: tok})
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = api.authClient().Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: tok})
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: "whatever passphrase 123", SessionToken: tok})
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
	t.Run("in the cookie", func(t *testing.T) {
		session, csrf := server.CookieNames(false)
		// (Control characters cannot travel in an HTTP header at all; FuzzCredentials covers
		// them.)
		for _, tok := range []string{strings.Repeat("A", 600), `"quoted"`, "%%%"} {
			c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{
				"Cookie": session + "=" + tok + "; " + csrf + "=x", server.CSRFHeader: "x",
			})))
			_, err := c.Refresh(ctx, &tutorhubv1.RefreshRequest{})
			if code := codeOf(err); code != connect.CodeUnauthenticated && code != connect.CodePermissionDenied {
				t.Errorf("cookie %q: %v, want unauthenticated or permission denied", tok, err)
			}
		}
	})
}

// With secure cookies (production), both cookies carry the __Host- prefix (HTTPS only, this
// host only, path /), and cookies without it are not read.
func TestSecureCookiesUseTheHostPrefix(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, func(o *server.Options) { o.Auth.CookieSecure = true })
	u := api.signUp(t)
	cookies := api.cookieLogin(t, u)
	sessionName, csrfName := server.CookieNames(true)
	if sessionName != "__Host-tutorhub_session" || csrfName != "__Host-tutorhub_csrf" {
		t.Fatalf("secure cookie names = %s, %s", sessionName, csrfName)
	}
	session, csrf := cookies[sessionName], cookies[csrfName]
	if session == nil || csrf == nil {
		t.Fatalf("cookies = %v", cookies)
	}
	for _, c := range []*http.Cookie{session, csrf} {
		if !c.Secure || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s = %+v, want Secure, Path=/, no Domain, SameSite=Strict", c.Name, c)
		}
	}
	if !session.HttpOnly || csrf.HttpOnly {
		t.Errorf("HttpOnly: session %v, csrf %v; want only the session's", session.HttpOnly, csrf.HttpOnly)
	}
	refresh := func(cookie string) error {
		c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{
			"Cookie": cookie, server.CSRFHeader: csrf.Value,
		})))
		_, err := c.Refresh(context.Background(), &tutorhubv1.RefreshRequest{})
		return err
	}
	if err := refresh(sessionName + "=" + session.Value + "; " + csrfName + "=" + csrf.Value); err != nil {
		t.Fatalf("refresh with the prefixed cookies: %v", err)
	}
	wantCode(t, refresh(server.SessionCookie+"="+session.Value+"; "+server.CSRFCookie+"="+csrf.Value), connect.CodeUnauthenticated)
	// Logout clears the prefixed cookies.
	ctx, call := connect.NewClientContext(context.Background())
	if _, err := api.authClient().Logout(ctx, &tutorhubv1.LogoutRequest{SessionToken: u.SessionToken}); err != nil {
		t.Fatal(err)
	}
	cleared := map[string]bool{}
	for _, line := range call.ResponseHeader().Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.MaxAge < 0 && c.Secure {
			cleared[c.Name] = true
		}
	}
	if !cleared[sessionName] || !cleared[csrfName] {
		t.Errorf("logout cleared %v, want both prefixed cookies", cleared)
	}
}

// The CSRF token is the session's own: a matching cookie and header that belong to another
// session, or that someone made up, do not unlock a session cookie.
func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	mine, theirs := api.cookieLogin(t, api.signUp(t)), api.cookieLogin(t, api.signUp(t))
	sessionName, csrfName := server.CookieNames(false)
	refresh := func(session, csrf string) error {
		c := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(headers(map[string]string{
			"Cookie": sessionName + "=" + session + "; " + csrfName + "=" + csrf, server.CSRFHeader: csrf,
		})))
		_, err := c.Refresh(context.Background(), &tutorhubv1.RefreshRequest{})
		return err
	}
	if err := refresh(mine[sessionName].Value, mine[csrfName].Value); err != nil {
		t.Fatalf("own pair: %v", err)
	}
	wantCode(t, refresh(mine[sessionName].Value, theirs[csrfName].Value), connect.CodePermissionDenied)
	wantCode(t, refresh(mine[sessionName].Value, "planted-by-someone-else"), connect.CodePermissionDenied)
}
