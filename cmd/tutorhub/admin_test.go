package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestAdminGrantRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	email := testenv.UniqueEmail("cli")
	k := kratos.New(kratos.Options{PublicURL: testenv.KratosPublicURL(), AdminURL: testenv.KratosAdminURL(), Timeout: 10 * time.Second})
	reg, err := k.Register(ctx, email, "a long enough passphrase 42", "")
	if err != nil {
		t.Fatal(err)
	}
	dbURL := testenv.DatabaseURL(t)
	env := baseEnv(dbURL, "TUTORHUB_KRATOS_ADMIN_URL="+testenv.KratosAdminURL())

	r := runBinary(t, env, "admin", "grant-role", strings.ToUpper(email), "tutor")
	if r.code != 0 || !strings.Contains(r.stdout, "granted tutor") {
		t.Fatalf("grant-role: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pool, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var roles []string
	if err := pool.QueryRow(ctx, "SELECT roles FROM users WHERE id = $1", reg.Session.Identity.ID).Scan(&roles); err != nil {
		t.Fatal(err)
	}
	if strings.Join(roles, ",") != "student,tutor" {
		t.Fatalf("roles = %v", roles)
	}
	var audited int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'user.role_granted' AND subject_id = $1 AND details->>'role' = 'tutor' AND details->>'via' = 'cli' AND details->>'operator' <> ''", reg.Session.Identity.ID).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("audit events = %d (%v)", audited, err)
	}

	for _, args := range [][]string{
		{"admin", "grant-role", email, "superuser"},
		{"admin", "grant-role", email},
		{"admin"},
	} {
		if r := runBinary(t, env, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
	if r := runBinary(t, env, "admin", "grant-role", testenv.UniqueEmail("nobody"), "admin"); r.code == 0 {
		t.Error("granting a role to an unknown email succeeded")
	}
}
