package queries

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The list queries of service accounts and keys, and the key lookup every request with a
// key makes, are answered from indexes.
func TestServiceAccountQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 2,000 accounts with 10 keys each.
	if _, err := db.Exec(ctx, `
		INSERT INTO service_accounts (id, name, owner_id, requests_per_minute, created_at)
		SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'svc-' || i,
		       gen_random_uuid(), 600, now() - (i || ' minutes')::interval
		FROM generate_series(1, 2000) AS i;
		INSERT INTO service_account_keys (account_id, prefix, secret_hash, scopes, created_by, created_at)
		SELECT ('00000000-0000-4000-8000-' || lpad((i % 2000 + 1)::text, 12, '0'))::uuid,
		       translate(lpad(i::text, 10, 'a'), '0189', 'wxyz'), sha256(i::text::bytea), '{tutors:read}',
		       gen_random_uuid(), now() - (i || ' seconds')::interval
		FROM generate_series(1, 20000) AS i;
		ANALYZE service_accounts; ANALYZE service_account_keys`); err != nil {
		t.Fatal(err)
	}
	before := pgtype.Timestamptz{Time: time.Now().Add(-time.Hour), Valid: true}
	beforeID := uuid.NullUUID{UUID: uuid.MustParse("80000000-0000-0000-0000-000000000000"), Valid: true}
	account := uuid.MustParse("00000000-0000-4000-8000-000000000007")
	for _, tc := range []struct {
		name, sql string
		args      []any
	}{
		{"accounts, first page", listServiceAccounts, []any{pgtype.Timestamptz{}, uuid.NullUUID{}, int32(51)}},
		{"accounts, next page", listServiceAccounts, []any{before, beforeID, int32(51)}},
		{"keys of an account", listServiceAccountKeys, []any{account, pgtype.Timestamptz{}, uuid.NullUUID{}, int32(51)}},
		{"keys of an account, next page", listServiceAccountKeys, []any{account, before, beforeID, int32(51)}},
		{"key by prefix", getServiceAccountKeyByPrefix, []any{"aaaaaaaaaw"}},
	} {
		var raw []byte
		if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+tc.sql, tc.args...).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil {
			t.Fatal(err)
		}
		plans[0].Plan.walk(func(n planNode) {
			if (n.Relation == "service_accounts" || n.Relation == "service_account_keys") && n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on %s\n%s", tc.name, n.Relation, raw)
			}
		})
	}
}
