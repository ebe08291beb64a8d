package seed_test

import (
	"context"
	"testing"

	"github.com/tutorhub/tutorhub/internal/seed"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestTutorsCreatesVariedValidTutors(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	var reports []int64
	n, err := seed.Tutors(ctx, db, seed.Options{Tutors: 1200, Seed: 1, BatchSize: 500, Progress: func(done, total int64) {
		if total != 1200 {
			t.Errorf("total %d", total)
		}
		reports = append(reports, done)
	}})
	if err != nil || n != 1200 {
		t.Fatalf("seeded %d: %v", n, err)
	}
	if len(reports) != 3 || reports[2] != 1200 {
		t.Fatalf("progress %v", reports)
	}
	// A second run continues the numbering rather than colliding.
	if _, err := seed.Tutors(ctx, db, seed.Options{Tutors: 10, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	var tutors, names, currencies, rates, zones, subjects int
	if err := db.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT u.display_name), count(DISTINCT t.currency), count(DISTINCT t.hourly_rate_minor),
		       count(DISTINCT t.time_zone), (SELECT count(DISTINCT s ->> 'subject_id') FROM tutors, jsonb_array_elements(subjects) s)
		FROM tutors t JOIN users u ON u.id = t.user_id`).Scan(&tutors, &names, &currencies, &rates, &zones, &subjects); err != nil {
		t.Fatal(err)
	}
	if tutors != 1210 || names < 500 || currencies < 5 || rates < 50 || zones < 10 || subjects < 25 {
		t.Fatalf("not varied enough: %d tutors, %d names, %d currencies, %d rates, %d zones, %d subjects", tutors, names, currencies, rates, zones, subjects)
	}
	var bad int
	if err := db.QueryRow(ctx, `
		SELECT count(*) FROM tutors
		WHERE published AND (headline = '' OR bio = '' OR jsonb_array_length(subjects) = 0 OR hourly_rate_minor = 0
		      OR cardinality(languages) = 0 OR cardinality(lesson_modes) = 0 OR jsonb_array_length(availability) = 0)`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d published seeded tutors are incomplete (%v)", bad, err)
	}
}
