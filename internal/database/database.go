// Package database opens tutorhub's PostgreSQL pool and applies its embedded migrations.
//
// The pool never relies on session state: no named prepared statements (unless the URL asks
// for them with default_query_exec_mode), no session-level SET, no temporary tables, no
// LISTEN outside dedicated connections. That keeps it safe behind PgBouncer in transaction
// pooling mode.
package database

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tutorhub/tutorhub/migrations"
)

// PoolOptions sizes a pool.
type PoolOptions struct {
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// AcquireTimeout bounds each wait for a pooled connection (0: only the caller's
	// deadline); past it the query fails with ErrPoolExhausted.
	AcquireTimeout time.Duration
}

// Open connects a pool to the database at url and checks that it answers.
func Open(ctx context.Context, dsn string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

func poolConfig(dsn string, opts PoolOptions) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err) // pgconn redacts the password
	}
	if u, err := url.Parse(dsn); err != nil || !u.Query().Has("default_query_exec_mode") {
		// Unnamed statements in one round trip: no per-connection prepared-statement cache
		// that a transaction-mode pooler would hand to another client.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.MinConns = opts.MinConns
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	if opts.AcquireTimeout > 0 {
		cfg.ConnConfig.Tracer = acquireBudget{d: opts.AcquireTimeout}
	}
	return cfg, nil
}

// Migrator applies the embedded migrations.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// NewMigrator returns a Migrator over pool. Concurrent migrators (several replicas starting
// at once) serialise on a PostgreSQL advisory lock, so migrations run once.
func NewMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	fsys, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// MigrationStatus is one migration's state.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Up applies every pending migration and returns the versions it applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	applied := make([]int64, 0, len(res))
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Status lists every known migration in order with whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version:   s.Source.Version,
			Name:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Pending returns the versions not yet applied.
func (m *Migrator) Pending(ctx context.Context) ([]int64, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	var pending []int64
	for _, s := range st {
		if !s.Applied {
			pending = append(pending, s.Version)
		}
	}
	return pending, nil
}

// HasPending reports whether migrations known to the binary are not applied. Unlike Status
// and Pending it takes no advisory lock, so it neither waits for nor delays a migration or
// another replica; readiness uses it.
func (m *Migrator) HasPending(ctx context.Context) (bool, error) {
	pending, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("migration state: %w", err)
	}
	return pending, nil
}

// Close releases the migrator's database handle (not the pool it came from).
func (m *Migrator) Close() error { return m.db.Close() }
