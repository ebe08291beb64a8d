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

// TestInboxQueriesUseIndexes: a user's inbox page (first and next, all or unread) and the
// unread count read notifications through their indexes, not the whole table.
func TestInboxQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 500 users with 100 notifications each, a third read.
	if _, err := db.Exec(ctx, `
		INSERT INTO users (id, email)
		SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, u || '@explain.test'
		FROM generate_series(1, 500) AS u;
		INSERT INTO notifications (user_id, event_id, category, kind, title, body, created_at, read_at)
		SELECT ('00000000-0000-4000-8000-' || lpad((i % 500 + 1)::text, 12, '0'))::uuid, gen_random_uuid(),
		       'security', 'password_changed', 'title', 'body', now() - (i || ' minutes')::interval,
		       CASE WHEN i % 3 = 0 THEN now() END
		FROM generate_series(1, 50000) AS i;
		ANALYZE users; ANALYZE notifications`); err != nil {
		t.Fatal(err)
	}
	user := uuid.MustParse("00000000-0000-4000-8000-000000000007")
	before := pgtype.Timestamptz{Time: time.Now().Add(-24 * time.Hour), Valid: true}
	beforeID := uuid.NullUUID{UUID: uuid.MustParse("80000000-0000-0000-0000-000000000000"), Valid: true}
	type query struct {
		sql  string
		args []any
	}
	for name, q := range map[string]query{
		"first page":         {listNotifications, []any{user, false, pgtype.Timestamptz{}, uuid.NullUUID{}, int32(21)}},
		"next page":          {listNotifications, []any{user, false, before, beforeID, int32(21)}},
		"unread, first page": {listNotifications, []any{user, true, pgtype.Timestamptz{}, uuid.NullUUID{}, int32(21)}},
		"unread count":       {countUnreadNotifications, []any{user}},
	} {
		var raw []byte
		if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q.sql, q.args...).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil {
			t.Fatal(err)
		}
		plans[0].Plan.walk(func(n planNode) {
			if n.Relation == "notifications" && n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on notifications\n%s", name, raw)
			}
		})
	}
}
