package queries

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestListParkedOutboxEventsUsesTheParkedIndex(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 50,000 events, nearly all dispatched; one in a hundred parked, of five types.
	if _, err := db.Exec(ctx, `
		INSERT INTO outbox (aggregate_type, aggregate_id, event_type, processed_at, parked_at, park_reason)
		SELECT 'tutor', gen_random_uuid(), 'tutor.type' || (i % 5),
		       CASE WHEN i % 100 = 0 THEN NULL ELSE now() END,
		       CASE WHEN i % 100 = 0 THEN now() END,
		       CASE WHEN i % 100 = 0 THEN 'unroutable' END
		FROM generate_series(1, 50000) AS i;
		ANALYZE outbox`); err != nil {
		t.Fatal(err)
	}
	typ := pgtype.Text{String: "tutor.type0", Valid: true}
	before := pgtype.Int8{Int64: 25000, Valid: true}
	for name, p := range map[string]ListParkedOutboxEventsParams{
		"unfiltered":      {},
		"by type":         {EventType: typ},
		"next page":       {BeforeSeq: before},
		"by type, paging": {EventType: typ, BeforeSeq: before},
	} {
		var raw []byte
		err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+listParkedOutboxEvents, int32(4096), p.EventType, p.BeforeSeq, int32(51)).Scan(&raw)
		if err != nil {
			t.Fatal(err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil {
			t.Fatal(err)
		}
		plans[0].Plan.walk(func(n planNode) {
			if n.Relation == "outbox" && n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on outbox\n%s", name, raw)
			}
		})
	}
}
