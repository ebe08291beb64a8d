package search

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/queries"
)

// Rebuilder is an engine that can build a new index beside the live one and swap it in
// without downtime (`tutorhub search reindex`). A build is named by an id of lower-case
// letters, digits and underscores. While a build is in progress, every writer of the index
// must write to the build too (Builds lists them), so that a swap loses no write made during
// the build.
type Rebuilder interface {
	// Builds lists the ids of the builds in progress.
	Builds(ctx context.Context) ([]string, error)
	// BeginBuild creates the empty build index id; beginning a build that exists is a no-op.
	BeginBuild(ctx context.Context, id string) error
	// BuildUpsert and BuildDelete are Upsert and Delete on build id's index; on a build that
	// is gone (swapped or dropped meanwhile) they are no-ops, so a writer that writes the
	// builds first and the live index last never loses a write to a swap.
	BuildUpsert(ctx context.Context, id string, d Document) error
	BuildDelete(ctx context.Context, id string, tutor uuid.UUID, version int64) error
	// SwapBuild makes build id's index the live one in one step and drops the old one;
	// swapping a build that is gone (swapped before) is a no-op.
	SwapBuild(ctx context.Context, id string) error
	// DropBuild abandons build id; dropping a build that is gone is a no-op.
	DropBuild(ctx context.Context, id string) error
}

// The PostgreSQL engine rebuilds.
var _ Rebuilder = (*Postgres)(nil)

var buildIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// CheckBuildID refuses a build id that is not 1 to 40 lower-case letters, digits or
// underscores.
func CheckBuildID(id string) error {
	if !buildIDPattern.MatchString(id) {
		return fmt.Errorf("search: build id %q: want 1 to 40 of a-z, 0-9, _", id)
	}
	return nil
}

// pgBuildSchemaPrefix names the schema of a PostgreSQL build: it holds a table
// search_documents shaped like the live one (and its indexes).
const pgBuildSchemaPrefix = "search_build_"

func pgBuildSchema(id string) string { return pgBuildSchemaPrefix + id }

// Builds lists the builds in progress: the schemas search_build_*.
func (p *Postgres) Builds(ctx context.Context) ([]string, error) {
	rows, err := p.db.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname`, pgBuildSchemaPrefix)
	if err != nil {
		return nil, fmt.Errorf("search: list builds: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("search: list builds: %w", err)
	}
	ids := make([]string, 0, len(names))
	for _, n := range names {
		ids = append(ids, strings.TrimPrefix(n, pgBuildSchemaPrefix))
	}
	return ids, nil
}

// BeginBuild creates schema search_build_<id> with an empty copy of search_documents:
// same columns, generated facets, defaults, checks and indexes.
func (p *Postgres) BeginBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	schema := pgx.Identifier{pgBuildSchema(id)}.Sanitize()
	return p.inTx(ctx, "begin build "+id, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+".search_documents (LIKE public.search_documents INCLUDING ALL)")
		return err
	})
}

// BuildUpsert is Upsert into build id: the same statement, resolved against the build's
// schema first.
func (p *Postgres) BuildUpsert(ctx context.Context, id string, d Document) error {
	return p.buildWrite(ctx, id, d, false)
}

// BuildDelete is Delete on build id.
func (p *Postgres) BuildDelete(ctx context.Context, id string, tutor uuid.UUID, version int64) error {
	return p.buildWrite(ctx, id, Document{ID: tutor, Version: version}, true)
}

// errNoBuild is a write to a build that is gone (swapped or dropped meanwhile).
var errNoBuild = errors.New("no such build")

func (p *Postgres) buildWrite(ctx context.Context, id string, d Document, deleted bool) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	err := p.inTx(ctx, "write build "+id, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pgBuildSchema(id)+".search_documents").Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errNoBuild
		}
		// set_config(..., true) is SET LOCAL: the transaction's statements resolve
		// search_documents in the build schema, the functions in public.
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{pgBuildSchema(id)}.Sanitize()+", public"); err != nil {
			return err
		}
		return p.upsert(ctx, queries.New(tx), d, deleted)
	})
	if errors.Is(err, errNoBuild) {
		return nil
	}
	return err
}

// SwapBuild moves the live table out to a schema of its own and the build's table in, in
// one transaction: searches wait for the swap's brief exclusive lock, never see an empty or
// missing index. The old table is dropped afterwards.
func (p *Postgres) SwapBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	build := pgx.Identifier{pgBuildSchema(id)}.Sanitize()
	old := pgx.Identifier{"search_old_" + id}.Sanitize()
	err := p.inTx(ctx, "swap build "+id, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pgBuildSchema(id)+".search_documents").Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errNoBuild
		}
		for _, stmt := range []string{
			"LOCK TABLE public.search_documents IN ACCESS EXCLUSIVE MODE",
			"CREATE SCHEMA IF NOT EXISTS " + old,
			"ALTER TABLE public.search_documents SET SCHEMA " + old,
			"ALTER TABLE " + build + ".search_documents SET SCHEMA public",
			"DROP SCHEMA " + build,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoBuild) {
		return err
	}
	if _, err := p.db.Exec(ctx, "DROP SCHEMA IF EXISTS "+old+" CASCADE"); err != nil {
		return fmt.Errorf("search: drop the index before build %s: %w", id, err)
	}
	return nil
}

// DropBuild drops build id's schema.
func (p *Postgres) DropBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	if _, err := p.db.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{pgBuildSchema(id)}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("search: drop build %s: %w", id, err)
	}
	return nil
}

func (p *Postgres) inTx(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("search: %s: %w", what, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		if errors.Is(err, errNoBuild) {
			return err
		}
		return fmt.Errorf("search: %s: %w", what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("search: %s: commit: %w", what, err)
	}
	return nil
}
