package main_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The API needs only the public half of Kratos's key set; handed the private set (the old
// default path), it refuses to start rather than hold the signing key.
func TestServeRefusesAPrivateKeySet(t *testing.T) {
	t.Parallel()
	r := runBinary(t, baseEnv(testenv.DatabaseURL(t),
		"TUTORHUB_AUTH_JWKS_PATH="+filepath.Join("..", "..", ".data", "kratos", "jwks.json")), "serve")
	if r.code == 0 || !strings.Contains(r.stderr, "private key material") {
		t.Fatalf("serve with the private key set: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// In production the server will not start on development settings, and names every one.
func TestServeRefusesDevelopmentSettingsInProduction(t *testing.T) {
	t.Parallel()
	r := runBinary(t, baseEnv(testenv.DatabaseURL(t),
		"TUTORHUB_ENV=production",
		"TUTORHUB_AUTH_CAPTCHA_PROVIDER=test",
		"TUTORHUB_CORS_ALLOWED_ORIGINS=*",
		"TUTORHUB_AUTH_COOKIE_SECURE=false",
	), "serve")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
	}
	for _, key := range []string{"TUTORHUB_CURSOR_SECRET", "TUTORHUB_AUTH_CAPTCHA_PROVIDER", "TUTORHUB_CORS_ALLOWED_ORIGINS", "TUTORHUB_AUTH_COOKIE_SECURE"} {
		if !strings.Contains(r.stderr, key) {
			t.Errorf("stderr does not name %s:\n%s", key, r.stderr)
		}
	}
}

// Disabling a user ends what the user holds at once: the access token in hand is refused on
// the next request, the session cannot mint another, and the password no longer signs in.
func TestAdminDisableUserEndsSessionsAndTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := kratos.New(kratos.Options{PublicURL: testenv.KratosPublicURL(), AdminURL: testenv.KratosAdminURL(), Timeout: 10 * time.Second})
	email, password := testenv.UniqueEmail("disable"), "a long enough passphrase 42"
	reg, err := k.Register(ctx, email, password, "")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := k.AccessToken(ctx, reg.Session.Token, "access_token")
	if err != nil {
		t.Fatal(err)
	}
	dbURL := testenv.DatabaseURL(t)
	// One environment for the server and the command, so they share the Redis prefix.
	env := baseEnv(dbURL,
		"TUTORHUB_KRATOS_PUBLIC_URL="+testenv.KratosPublicURL(),
		"TUTORHUB_KRATOS_ADMIN_URL="+testenv.KratosAdminURL(),
		"TUTORHUB_AUTH_TOKEN_ISSUER="+testenv.KratosIssuer())
	p := startServe(t, env)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, "http://"+p.addr, connect.WithInterceptors(
		connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+sess.AccessToken)
				return next(ctx, req)
			}
		})))
	if _, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{}); err != nil {
		t.Fatalf("before: %v", err)
	}

	r := runBinary(t, env, "admin", "disable-user", email)
	if r.code != 0 || !strings.Contains(r.stdout, "disabled") {
		t.Fatalf("disable-user: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("access token of a disabled user: %v, want unauthenticated", err)
	}
	if _, err := k.AccessToken(ctx, reg.Session.Token, "access_token"); err == nil {
		t.Fatal("the session of a disabled user still mints access tokens")
	}
	if _, err := k.Login(ctx, email, password); err == nil {
		t.Fatal("a disabled user signed in")
	}
	pool, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var audited int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'user.disabled' AND subject_id = $1", reg.Session.Identity.ID).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("audit events = %d (%v)", audited, err)
	}
	for _, args := range [][]string{{"admin", "disable-user"}, {"admin", "disable-user", email, "extra"}} {
		if r := runBinary(t, env, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}
