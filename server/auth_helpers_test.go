package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/server"
)

// testTokenAudience is the aud deploy/kratos/access_token.jsonnet sets.
const testTokenAudience = "tutorhub"

// testAuthOptions is authentication against the local stack's Kratos, with budgets and
// lockout far enough away that ordinary tests never meet them, and revocations under the
// test's Redis prefix.
func testAuthOptions(t testing.TB, rdb redis.UniversalClient, prefix string) server.AuthOptions {
	t.Helper()
	verifier, err := accesstoken.NewVerifier(accesstoken.Options{
		JWKSPath:    testenv.KratosJWKSPath(t),
		Issuer:      testenv.KratosIssuer(),
		Audience:    testTokenAudience,
		MaxLifetime: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	roomy := ratelimit.Rate{Limit: 100000, Period: time.Minute}
	return server.AuthOptions{
		Kratos:           kratos.New(kratos.Options{PublicURL: testenv.KratosPublicURL(), AdminURL: testenv.KratosAdminURL(), Timeout: 10 * time.Second}),
		Tokens:           verifier,
		Revocations:      accesstoken.NewRevocations(rdb, prefix, 11*time.Minute, nil),
		CSRFKey:          server.DeriveKey([]byte("test-cursor-secret-0123456789abcdef"), "tutorhub csrf key v1"),
		TokenizeTemplate: "access_token",
		Lockout:          server.LockoutPolicy{Threshold: 5, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour, CaptchaAfter: 3},
		Limits:           server.AuthRateLimits{Enabled: true, IP: roomy, Account: roomy, Global: roomy, Recovery: roomy, RecoveryAccount: roomy},
		Mail:             testMailSender(t),
		PublicURL:        "http://tutorhub.test",
	}
}

// testMailSender sends tutorhub's own mail to the local stack's Mailpit.
func testMailSender(t testing.TB) *mail.Sender {
	t.Helper()
	s, err := mail.New(testenv.SMTPURL(), "tutorhub <no-reply@tutorhub.local>")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testUser is a user registered through the real AuthService.
type testUser struct {
	ID           string
	Email        string
	Password     string
	AccessToken  string
	SessionToken string
	// VerificationFlowID is the flow of the verification code mailed at sign-up.
	VerificationFlowID string
}

// testPassword is a password Kratos's policy accepts and no email resembles.
const testPassword = "correct horse battery staple 42"

// authClient is the AuthService over Connect.
func (api *testAPI) authClient() tutorhubv1connect.AuthServiceClient {
	return tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL)
}

// signUp registers a fresh, unique user through the real AuthService and signs it in with
// Login (Register itself signs nobody in).
func (api *testAPI) signUp(t testing.TB) *testUser {
	t.Helper()
	email := testenv.UniqueEmail("user")
	api.noteSecrets(t, testPassword)
	res, err := api.authClient().Register(context.Background(), &tutorhubv1.RegisterRequest{
		Email: email, Password: testPassword, DisplayName: "Test User",
	})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	login, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: email, Password: testPassword})
	if err != nil {
		t.Fatalf("login %s after registering: %v", email, err)
	}
	api.noteSecrets(t, login.GetTokens().GetAccessToken(), login.GetTokens().GetSessionToken())
	return &testUser{
		ID: login.GetUserId(), Email: email, Password: testPassword,
		AccessToken: login.GetTokens().GetAccessToken(), SessionToken: login.GetTokens().GetSessionToken(),
		VerificationFlowID: res.GetVerificationFlowId(),
	}
}

// admin registers a fresh user and grants it the admin role.
func (api *testAPI) admin(t testing.TB) *testUser {
	t.Helper()
	u := api.signUp(t)
	if _, err := queries.New(api.DB).GrantUserRole(context.Background(), queries.GrantUserRoleParams{
		ID: uuid.MustParse(u.ID), Email: u.Email, Role: server.RoleAdmin,
	}); err != nil {
		t.Fatal(err)
	}
	return u
}

// opt makes a client send the user's access token.
func (u *testUser) opt() connect.ClientOption {
	return connect.WithInterceptors(bearer(u.AccessToken))
}

// bearer is an interceptor sending "Authorization: Bearer token" on every call.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// noteSecrets makes the test fail if any of secrets (passwords, tokens, codes) appears in
// the API's log by the time the test ends, and adds them to the suite's registry, which
// TestMain checks against every log of the run.
func (api *testAPI) noteSecrets(t testing.TB, secrets ...string) {
	t.Helper()
	suiteSecrets.add(secrets...)
	t.Cleanup(func() {
		logs := api.Logs.String()
		for _, s := range secrets {
			if s != "" && containsSecret(logs, s) {
				t.Errorf("a secret (%d chars, starting %.4q) appears in the API log", len(s), s)
			}
		}
	})
}

// containsSecret reports whether s occurs in logs; an all-digit secret (a mailed code) counts
// only where no letter or digit touches it, so timestamps, durations and hex ids (request,
// trace and span ids) do not match by chance.
func containsSecret(logs, s string) bool {
	if strings.Trim(s, "0123456789") != "" {
		return strings.Contains(logs, s)
	}
	return regexp.MustCompile(`(^|[^0-9A-Za-z])` + s + `([^0-9A-Za-z]|$)`).MatchString(logs)
}
