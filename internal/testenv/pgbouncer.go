package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ViaPgBouncer says the tests' databases are reached through PgBouncer in transaction pooling
// mode (TUTORHUB_TEST_PG_VIA_PGBOUNCER=1, as one leg of `./just test` runs them): DatabaseURL
// and Postgres then go through it, while creating and dropping databases, the migration
// template and LISTEN connections (ListenURL) stay direct.
func ViaPgBouncer() bool { return os.Getenv("TUTORHUB_TEST_PG_VIA_PGBOUNCER") == "1" }

// PgBouncerAddress is the local stack's PgBouncer (TUTORHUB_PGBOUNCER_PORT, default 6432).
func PgBouncerAddress() string {
	return net.JoinHostPort("127.0.0.1", envOr("TUTORHUB_PGBOUNCER_PORT", "6432"))
}

// PgBouncerURL is dbURL (a database of the stack's PostgreSQL) through the local PgBouncer,
// starting PgBouncer with deploy/local/up.sh when it does not answer.
func PgBouncerURL(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("database url: %v", err)
	}
	u.Host = PgBouncerAddress()
	pooled := u.String()
	needService(t, "pgbouncer", func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, withDatabase(pooled, "postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	return pooled
}

// ListenURL is the URL a LISTEN connection of pool's database must use: "" (the pool's own)
// unless the pool goes through PgBouncer, whose transaction pooling holds no session; then
// the database directly.
func ListenURL(pool *pgxpool.Pool) string {
	if !ViaPgBouncer() {
		return ""
	}
	return withDatabase(AdminDatabaseURL(), pool.Config().ConnConfig.Database)
}
