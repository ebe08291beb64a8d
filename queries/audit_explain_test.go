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

func TestListAuditEventsUsesIndexes(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 50,000 events by 500 actors over 50 days, ten actions.
	if _, err := db.Exec(ctx, `
		INSERT INTO audit_events (occurred_at, action, actor_id, subject_id)
		SELECT now() - (i || ' minutes')::interval * 1.44,
		       'action.' || (i % 10),
		       ('00000000-0000-4000-8000-' || lpad((i % 500)::text, 12, '0'))::uuid,
		       ('00000000-0000-4000-9000-' || lpad((i % 500)::text, 12, '0'))::uuid
		FROM generate_series(1, 50000) AS i;
		ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	actor := uuid.NullUUID{UUID: uuid.MustParse("00000000-0000-4000-8000-000000000007"), Valid: true}
	subject := uuid.NullUUID{UUID: uuid.MustParse("00000000-0000-4000-9000-000000000007"), Valid: true}
	action := pgtype.Text{String: "action.3", Valid: true}
	week := pgtype.Timestamptz{Time: time.Now().Add(-7 * 24 * time.Hour), Valid: true}
	before := pgtype.Timestamptz{Time: time.Now().Add(-24 * time.Hour), Valid: true}
	beforeID := uuid.NullUUID{UUID: uuid.MustParse("80000000-0000-0000-0000-000000000000"), Valid: true}
	for name, p := range map[string]ListAuditEventsParams{
		"unfiltered":       {},
		"by actor":         {ActorID: actor},
		"by subject":       {SubjectID: subject},
		"by action":        {Action: action},
		"time range":       {StartTime: week},
		"actor, next page": {ActorID: actor, BeforeTime: before, BeforeID: beforeID},
		"action and range": {Action: action, StartTime: week, BeforeTime: before, BeforeID: beforeID},
	} {
		var raw []byte
		err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+listAuditEvents,
			p.ActorID, p.SubjectID, p.Action, p.StartTime, p.EndTime, p.BeforeTime, p.BeforeID, int32(51)).Scan(&raw)
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
			if n.Relation == "audit_events" && n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on audit_events\n%s", name, raw)
			}
		})
	}
}
