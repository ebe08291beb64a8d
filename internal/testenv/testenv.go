// Package testenv gives tests the real services the project's scripts start
// (deploy/local/up.sh): PostgreSQL, Redis and, as later capabilities need them, the rest.
// Each test gets its own isolated slice — a fresh migrated database cloned from a template,
// a unique Redis key prefix — so tests run in parallel and leave nothing behind.
//
// A service that is not reachable fails the test loudly; nothing is skipped, except Temporal
// outside CI (see Temporal).
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/migrations"
)

// AdminDatabaseURL is the maintenance database tests create their databases from
// (TUTORHUB_TEST_DATABASE_URL, default the local stack's PostgreSQL as deploy/local/up.sh
// reaches it: TUTORHUB_PG_HOST, TUTORHUB_PG_PORT, TUTORHUB_PG_USER and the password
// TUTORHUB_PG_PASSWORD, else PGPASSWORD, in the URL).
func AdminDatabaseURL() string {
	if u := os.Getenv("TUTORHUB_TEST_DATABASE_URL"); u != "" {
		return u
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(envOr("TUTORHUB_PG_USER", "postgres")),
		Host:     net.JoinHostPort(envOr("TUTORHUB_PG_HOST", "127.0.0.1"), envOr("TUTORHUB_PG_PORT", "5432")),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	if pw := envOr("TUTORHUB_PG_PASSWORD", os.Getenv("PGPASSWORD")); pw != "" {
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	return u.String()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// RedisURL is the Redis tests use (TUTORHUB_TEST_REDIS_URL, default the local stack's).
func RedisURL() string {
	if u := os.Getenv("TUTORHUB_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RandomID returns a short random identifier for names that must not collide.
func RandomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// migrationsHash identifies the migration set, so a changed migration gets a new template.
func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func adminConn(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, AdminDatabaseURL())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s (start the stack with deploy/local/up.sh): %v", AdminDatabaseURL(), err)
	}
	return conn
}

// ensureTemplate creates, once per migration set and machine, a database migrated to head
// that test databases are cloned from (cloning is far faster than migrating each time).
func ensureTemplate(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn := adminConn(ctx, t)
		defer conn.Close(ctx)
		name := "tutorhub_tpl_" + migrationsHash()
		// Test binaries of several packages run at once: one builds the template, the
		// others wait on the lock and then find it.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
			templateErr = err
			return
		}
		defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
			templateErr = err
			return
		}
		if !exists {
			templateErr = buildTemplate(ctx, conn, name)
		}
		templateName = name
	})
	if templateErr != nil {
		t.Fatalf("test database template: %v", templateErr)
	}
	return templateName
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, name string) error {
	building := name + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return err
	}
	pool, err := database.Open(ctx, withDatabase(AdminDatabaseURL(), building), database.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	m, err := database.NewMigrator(pool)
	if err == nil {
		_, err = m.Up(ctx)
		m.Close()
	}
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" IS_TEMPLATE true")
	return err
}

// DatabaseURL creates a fresh database migrated to head for this test, dropped when the
// test ends, and returns its URL: through PgBouncer when ViaPgBouncer.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := DirectDatabaseURL(t)
	if ViaPgBouncer() {
		return PgBouncerURL(t, u)
	}
	return u
}

// DirectDatabaseURL is DatabaseURL without PgBouncer in between, ever: for tests of what
// needs a session (LISTEN, session advisory locks, the replica's WAL positions).
func DirectDatabaseURL(t testing.TB) string {
	t.Helper()
	tpl := ensureTemplate(t)
	return createDatabase(t, tpl)
}

// EmptyDatabaseURL creates a fresh database with no schema at all.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "template0")
}

func createDatabase(t testing.TB, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := adminConn(ctx, t)
	defer conn.Close(ctx)
	name := "tutorhub_test_" + RandomID()
	// FILE_COPY writes one WAL record instead of the whole template (PostgreSQL 15's default
	// WAL_LOG), so hundreds of test databases do not flood the WAL that replicas replay.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize()+" STRATEGY FILE_COPY"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminDatabaseURL())
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(AdminDatabaseURL(), name)
}

// Postgres returns a pool on a fresh migrated database for this test.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := database.Open(ctx, DatabaseURL(t), database.PoolOptions{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client on the shared Redis and a key prefix unique to this test; keys
// under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s (start the stack with deploy/local/up.sh): %v", RedisURL(), err)
	}
	prefix := "test:" + RandomID() + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}
