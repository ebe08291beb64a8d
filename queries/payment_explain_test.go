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

// The admin listing of parked payment events reads payment_events_parked_idx, first page and
// after a cursor, never a scan of every stored event.
func TestListParkedPaymentEventsUsesTheParkedIndex(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 30,000 events, one in a hundred parked, received over the last days.
	if _, err := db.Exec(ctx, `
		INSERT INTO payment_events (provider_event_id, event_type, provider_created_at, payload, status, received_at)
		SELECT 'evt_' || i, CASE WHEN i % 100 = 0 THEN 'invoice.paid' ELSE 'payment_intent.succeeded' END, now(), '{}',
		       CASE WHEN i % 100 = 0 THEN 'parked' ELSE 'applied' END, now() - (i || ' seconds')::interval * 11
		FROM generate_series(1, 30000) AS i;
		ANALYZE payment_events`); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]any{
		"first page":     {pgtype.Timestamptz{}, uuid.NullUUID{}, int32(50)},
		"after a cursor": {pgtype.Timestamptz{Time: time.Now(), Valid: true}, uuid.NullUUID{UUID: uuid.New(), Valid: true}, int32(50)},
	} {
		t.Run(name, func(t *testing.T) {
			var raw []byte
			if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+listParkedPaymentEvents, args...).Scan(&raw); err != nil {
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
				if n.Relation == "payment_events" && n.NodeType == "Seq Scan" {
					t.Errorf("Seq Scan on payment_events\n%s", raw)
				}
				used = used || n.IndexName == "payment_events_parked_idx"
			})
			if !used {
				t.Errorf("payment_events_parked_idx not used\n%s", raw)
			}
		})
	}
}
