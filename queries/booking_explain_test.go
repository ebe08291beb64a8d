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

// TestBookingQueriesUseIndexes: a student's and a tutor's bookings pages (first and next) with
// their charges, a tutor's reviews page and its rating read through their indexes, not whole
// tables.
func TestBookingQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	// 200 users, 100 of them tutors; 20,000 bookings spread over them, a charge and a review
	// for every completed one.
	if _, err := db.Exec(ctx, `
		INSERT INTO users (id, email)
		SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, u || '@explain.test'
		FROM generate_series(1, 200) AS u;
		INSERT INTO tutors (id, user_id, time_zone)
		SELECT ('10000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, 'UTC'
		FROM generate_series(1, 100) AS u;
		INSERT INTO bookings (id, tutor_id, tutor_user_id, student_id, state, starts_at, ends_at, time_zone, price_minor, currency, decide_by)
		SELECT gen_random_uuid(), ('10000000-0000-4000-8000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid,
		       ('00000000-0000-4000-8000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid,
		       ('00000000-0000-4000-8000-' || lpad((i % 100 + 101)::text, 12, '0'))::uuid,
		       'completed', now() - (i || ' hours')::interval, now() - (i || ' hours')::interval + interval '1 hour', 'UTC', 1000, 'EUR', now()
		FROM generate_series(1, 20000) AS i;
		INSERT INTO reviews (booking_id, tutor_id, student_id, rating, body)
		SELECT id, tutor_id, student_id, 4, 'fine' FROM bookings;
		INSERT INTO payment_charges (booking_id, student_id, tutor_id, amount_minor, currency, fee_minor, status)
		SELECT id, student_id, tutor_id, 1000, 'eur', 100, 'succeeded' FROM bookings;
		ANALYZE users; ANALYZE tutors; ANALYZE bookings; ANALYZE reviews; ANALYZE payment_charges`); err != nil {
		t.Fatal(err)
	}
	user := uuid.MustParse("00000000-0000-4000-8000-000000000107")
	tutorUser := uuid.MustParse("00000000-0000-4000-8000-000000000007")
	tutor := uuid.MustParse("10000000-0000-4000-8000-000000000007")
	before := pgtype.Timestamptz{Time: time.Now().Add(-24 * time.Hour), Valid: true}
	beforeID := uuid.NullUUID{UUID: uuid.MustParse("80000000-0000-0000-0000-000000000000"), Valid: true}
	type query struct {
		sql  string
		args []any
	}
	for name, q := range map[string]query{
		"student, first page": {listBookingsOfStudent, []any{user, pgtype.Timestamptz{}, uuid.NullUUID{}, int32(21)}},
		"student, next page":  {listBookingsOfStudent, []any{user, before, beforeID, int32(21)}},
		"tutor, first page":   {listBookingsOfTutor, []any{tutorUser, pgtype.Timestamptz{}, uuid.NullUUID{}, int32(21)}},
		"tutor, next page":    {listBookingsOfTutor, []any{tutorUser, before, beforeID, int32(21)}},
		"reviews, next page":  {listTutorReviews, []any{tutor, before, beforeID, int32(21)}},
		"rating":              {getTutorRating, []any{tutor}},
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
			if (n.Relation == "bookings" || n.Relation == "reviews" || n.Relation == "payment_charges") && n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on %s\n%s", name, n.Relation, raw)
			}
		})
	}
}
