package deploy_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestPasswordInDatabaseURLs runs the URL and DSN builders of deploy/local and internal/testenv
// for a PostgreSQL role that has a password, and connects with what they build.
//
// This machine's pg_hba.conf trusts loopback connections, so a successful connection alone
// would not prove the password is right (a wrong or missing one connects too). The test
// therefore also checks that each built URL carries the password, and that this password
// matches the verifier PostgreSQL stored for the role (pg_authid.rolpassword, SCRAM-SHA-256 or
// MD5): a server that asks for the password would accept it.
func TestPasswordInDatabaseURLs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, testenv.AdminDatabaseURL())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable (start the stack with deploy/local/up.sh): %v", err)
	}
	defer admin.Close(context.Background())

	role := "tutorhub_pw_" + testenv.RandomID()
	// Characters a URL must escape, and one outside ASCII.
	password := "p@ss w:rd/%?#é-" + testenv.RandomID()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'",
		pgx.Identifier{role}.Sanitize(), strings.ReplaceAll(password, "'", "''"))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	})
	var verifier string
	if err := admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&verifier); err != nil {
		t.Fatal(err)
	}
	if matchVerifier(verifier, role, password+"x") == nil {
		t.Fatal("the verifier check accepts a wrong password")
	}

	cases := []struct {
		name  string
		env   []string // for the scripts
		build func(t *testing.T, env []string) string
		db    string
	}{
		{
			name: "the API's database URL (deploy/local/env.sh) from TUTORHUB_PG_PASSWORD",
			env:  []string{"TUTORHUB_PG_USER=" + role, "TUTORHUB_PG_PASSWORD=" + password},
			build: func(t *testing.T, env []string) string {
				return script(t, env, "deploy/local/env.sh printenv TUTORHUB_DATABASE_URL")
			},
			db: "tutorhub",
		},
		{
			name: "the API's database URL (deploy/local/env.sh) from PGPASSWORD",
			env:  []string{"TUTORHUB_PG_USER=" + role, "PGPASSWORD=" + password},
			build: func(t *testing.T, env []string) string {
				return script(t, env, "deploy/local/env.sh printenv TUTORHUB_DATABASE_URL")
			},
			db: "tutorhub",
		},
		{
			name: "Kratos's DSN (deploy/local/up.sh through lib.sh)",
			env:  []string{"TUTORHUB_PG_USER=" + role, "TUTORHUB_PG_PASSWORD=" + password},
			build: func(t *testing.T, env []string) string {
				return script(t, env, ". deploy/local/lib.sh && kratos_database_url")
			},
			db: "kratos",
		},
		{
			name: "the tests' admin URL (testenv.AdminDatabaseURL)",
			build: func(t *testing.T, _ []string) string {
				t.Setenv("TUTORHUB_TEST_DATABASE_URL", "")
				t.Setenv("TUTORHUB_PG_USER", role)
				t.Setenv("TUTORHUB_PG_PASSWORD", password)
				return testenv.AdminDatabaseURL()
			},
			db: "postgres",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			built := tc.build(t, tc.env)
			u, err := url.Parse(built)
			if err != nil {
				t.Fatalf("built URL does not parse: %v", err)
			}
			if got, _ := u.User.Password(); got != password {
				t.Fatalf("built URL carries password %q, want the role's %q", got, password)
			}
			if u.User.Username() != role || u.Path != "/"+tc.db {
				t.Fatalf("built URL is for %s on %s, want %s on /%s", u.User.Username(), u.Path, role, tc.db)
			}
			if err := matchVerifier(verifier, role, password); err != nil {
				t.Fatal(err)
			}

			cfg, err := pgx.ParseConfig(built)
			if err != nil {
				t.Fatal(err)
			}
			// Kratos's own pool settings, which PostgreSQL does not know.
			delete(cfg.RuntimeParams, "max_conns")
			delete(cfg.RuntimeParams, "max_idle_conns")
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatalf("connect with the built URL: %v", err)
			}
			defer conn.Close(context.Background())
			var user string
			if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
				t.Fatal(err)
			}
			if user != role {
				t.Errorf("connected as %s, want %s", user, role)
			}
		})
	}
}

// script runs a bash command from the project root with env added to an environment cleared
// of the variables that would decide the answer.
func script(t *testing.T, env []string, command string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = ".."
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PGPASSWORD", "TUTORHUB_PG_PASSWORD", "TUTORHUB_PG_USER", "TUTORHUB_KRATOS_DSN", "TUTORHUB_DATABASE_URL", "TUTORHUB_REDIS_URL", "TUTORHUB_REDIS_PORT":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// matchVerifier returns an error unless password is the one PostgreSQL stored for role.
func matchVerifier(stored, role, password string) error {
	if md5hex, ok := strings.CutPrefix(stored, "md5"); ok {
		sum := md5.Sum([]byte(password + role))
		if hex.EncodeToString(sum[:]) != md5hex {
			return errors.New("the password does not match the role's MD5 verifier")
		}
		return nil
	}
	// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (RFC 5803).
	var iter, salt, storedKey string
	if rest, ok := strings.CutPrefix(stored, "SCRAM-SHA-256$"); ok {
		params, keys, _ := strings.Cut(rest, "$")
		iter, salt, _ = strings.Cut(params, ":")
		storedKey, _, _ = strings.Cut(keys, ":")
	}
	n, err := strconv.Atoi(iter)
	if err != nil {
		return fmt.Errorf("unknown password verifier format %.20q", stored)
	}
	saltBytes, err1 := base64.StdEncoding.DecodeString(salt)
	want, err2 := base64.StdEncoding.DecodeString(storedKey)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("SCRAM verifier does not decode: %v %v", err1, err2)
	}
	salted, err := pbkdf2.Key(sha256.New, password, saltBytes, n, sha256.Size)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	got := sha256.Sum256(mac.Sum(nil))
	if !hmac.Equal(got[:], want) {
		return errors.New("the password does not match the role's SCRAM-SHA-256 verifier")
	}
	return nil
}

// The API refuses TUTORHUB_ variables it does not know, so deploy/local/env.sh must hand it
// none of the ones only the local scripts read, while still giving it their effect.
func TestEnvDropsScriptVariables(t *testing.T) {
	env := script(t, []string{"TUTORHUB_PG_USER=someone", "TUTORHUB_PG_PASSWORD=secret", "TUTORHUB_REDIS_PORT=6390", "TUTORHUB_READY_TIMEOUT=5"},
		"deploy/local/env.sh env")
	for _, line := range strings.Split(env, "\n") {
		name, _, _ := strings.Cut(line, "=")
		switch name {
		case "TUTORHUB_PG_USER", "TUTORHUB_PG_PASSWORD", "TUTORHUB_REDIS_PORT", "TUTORHUB_READY_TIMEOUT":
			t.Errorf("env.sh passes %s on to the API", name)
		}
	}
	for _, want := range []string{
		"\nTUTORHUB_DATABASE_URL=postgres://someone:secret@",
		"\nTUTORHUB_REDIS_URL=redis://127.0.0.1:6390/0\n",
	} {
		if !strings.Contains("\n"+env+"\n", want) {
			t.Errorf("env.sh does not set %s", strings.TrimSpace(want))
		}
	}
}
