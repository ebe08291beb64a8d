package queries

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The hourly expiry reads the oldest pending uploads through uploads_pending_idx, never a scan
// of every upload.
func TestListAbandonedUploadsUsesThePendingIndex(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 50,000 uploads of 500 users, one in fifty still pending, created over the last ten days.
	if _, err := db.Exec(ctx, `
		INSERT INTO users (id, email) SELECT gen_random_uuid(), 'u' || i || '@example.com' FROM generate_series(1, 500) AS i;
		INSERT INTO uploads (id, owner_id, purpose, content_type, size_bytes, status, object_key, created_at)
		SELECT gen_random_uuid(), (SELECT id FROM users ORDER BY id OFFSET (i % 500) LIMIT 1), 'avatar', 'image/png', 100,
		       CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'clean' END, 'k/' || i, now() - (i || ' seconds')::interval * 17
		FROM generate_series(1, 50000) AS i;
		ANALYZE uploads`); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+listAbandonedUploads, time.Now().Add(-24*time.Hour), int32(100)).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	used := false
	plans[0].Plan.walk(func(n planNode) {
		if n.Relation == "uploads" && n.NodeType == "Seq Scan" {
			t.Errorf("Seq Scan on uploads\n%s", raw)
		}
		used = used || n.IndexName == "uploads_pending_idx"
	})
	if !used {
		t.Errorf("uploads_pending_idx not used\n%s", raw)
	}
}
