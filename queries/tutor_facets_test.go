package queries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// facetsOutOfStep counts the rows tutor_facets lacks and the rows it has in excess against
// what the live tutors imply, derived here independently of the migration's functions: one
// row per live tutor and pair of (no subject or one subject or subject-level token) and (no
// language or one language token), keyed by the md5 of the pair.
const facetsOutOfStep = `
WITH expected AS (
    SELECT md5(s.f || ' ' || l.f)::uuid AS facet, t.published,
           ((CASE WHEN 'online' = ANY (t.lesson_modes) THEN 1 ELSE 0 END) +
            (CASE WHEN 'in_person' = ANY (t.lesson_modes) THEN 2 ELSE 0 END))::smallint AS lesson_modes,
           t.currency, t.hourly_rate_minor, t.id AS tutor_id
    FROM tutors t
    CROSS JOIN LATERAL (SELECT '' AS f UNION SELECT f FROM unnest(t.search_facets) AS f WHERE f ~ '^sl?:') AS s
    CROSS JOIN LATERAL (SELECT '' AS f UNION SELECT f FROM unnest(t.search_facets) AS f WHERE f ~ '^l:') AS l
    WHERE t.deleted_at IS NULL
)
SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM tutor_facets) AS m),
       (SELECT count(*) FROM (SELECT * FROM tutor_facets EXCEPT ALL SELECT * FROM expected) AS x),
       (SELECT count(*) FROM tutor_facets)`

// listTutorsByContainment is ListTutors as it was before tutor_facets: the reference for its
// filter semantics and order.
const listTutorsByContainment = `
SELECT t.id
FROM tutors t
JOIN users u ON u.id = t.user_id
WHERE t.deleted_at IS NULL
  AND (t.published OR $1::boolean)
  AND (cardinality($2::text[]) = 0 OR t.search_facets @> $2::text[])
  AND ($3::text = '' OR t.currency = $3::text)
  AND t.hourly_rate_minor BETWEEN $4::bigint AND $5::bigint
  AND (t.currency, t.hourly_rate_minor, t.id) > ($6::text, $7::bigint, $8::uuid)
ORDER BY t.currency, t.hourly_rate_minor, t.id
LIMIT $9::int`

func idStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func assertFacetsInStep(t *testing.T, db *pgxpool.Pool, after string) {
	t.Helper()
	var missing, extra, total int64
	if err := db.QueryRow(context.Background(), facetsOutOfStep).Scan(&missing, &extra, &total); err != nil {
		t.Fatalf("%s: %v", after, err)
	}
	if missing != 0 || extra != 0 {
		t.Fatalf("%s: tutor_facets lacks %d rows and has %d in excess (of %d)", after, missing, extra, total)
	}
}

// facetWriter makes random profile writes through the statements the API uses.
type facetWriter struct {
	db       *pgxpool.Pool
	subjects []uuid.UUID
	rng      *rand.Rand
}

func (w *facetWriter) profile() UpdateTutorParams {
	levels := []string{"primary", "secondary", "upper_secondary", "undergraduate", "postgraduate", "adult"}
	languages := []string{"en", "en-GB", "ko", "pt-BR", "pt", "de", "ja"}
	modes := [][]string{{}, {"online"}, {"in_person"}, {"online", "in_person"}}
	currencies := []string{"EUR", "USD", "CHF"}
	var subjects []map[string]any
	for _, i := range w.rng.Perm(len(w.subjects))[:w.rng.IntN(3)] {
		subjects = append(subjects, map[string]any{"subject_id": w.subjects[i], "levels": levels[w.rng.IntN(3):][:1+w.rng.IntN(3)]})
	}
	js, _ := json.Marshal(subjects)
	if subjects == nil {
		js = []byte("[]")
	}
	var langs []string
	for _, i := range w.rng.Perm(len(languages))[:w.rng.IntN(3)] {
		langs = append(langs, languages[i])
	}
	return UpdateTutorParams{
		Subjects: string(js), HourlyRateMinor: int64(1000 + 500*w.rng.IntN(10)), Currency: currencies[w.rng.IntN(3)],
		Languages: append([]string{}, langs...), LessonModes: modes[w.rng.IntN(4)], Availability: "[]",
	}
}

// write applies one random write to the tutor id; writes to deleted tutors are no-ops.
func (w *facetWriter) write(ctx context.Context, id uuid.UUID) error {
	switch op := w.rng.IntN(10); op {
	case 0, 1, 2, 3, 4: // update the profile (LockTutor then UpdateTutor, as the API)
		return pgx.BeginFunc(ctx, w.db, func(tx pgx.Tx) error {
			q := New(tx)
			cur, err := q.LockTutor(ctx, id)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			p := w.profile()
			p.ID, p.Version = id, cur.Version
			if w.rng.IntN(2) == 0 { // only subjects and languages change: the trigger writes the difference
				p.Currency, p.HourlyRateMinor, p.LessonModes = cur.Currency, cur.HourlyRateMinor, cur.LessonModes
			}
			_, err = q.UpdateTutor(ctx, p)
			return err
		})
	case 5, 6: // publish or unpublish
		return pgx.BeginFunc(ctx, w.db, func(tx pgx.Tx) error {
			q := New(tx)
			cur, err := q.LockTutor(ctx, id)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			if cur.Published {
				_, err = q.UnpublishTutor(ctx, UnpublishTutorParams{ID: id, Version: cur.Version})
			} else {
				_, err = q.PublishTutor(ctx, PublishTutorParams{ID: id, Version: cur.Version})
			}
			return err
		})
	case 7: // a write that changes no facet
		var user uuid.UUID
		if err := w.db.QueryRow(ctx, `SELECT user_id FROM tutors WHERE id = $1`, id).Scan(&user); err != nil {
			return err
		}
		_, err := New(w.db).TouchTutorOfUser(ctx, user)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	case 8: // a statement that re-reads rows another transaction changed (EvalPlanQual)
		_, err := w.db.Exec(ctx, `UPDATE tutors SET hourly_rate_minor = hourly_rate_minor + 100, version = version + 1
			WHERE id = $1 AND deleted_at IS NULL AND hourly_rate_minor < 90000`, id)
		return err
	default: // soft delete
		_, err := New(w.db).DeleteTutor(ctx, id)
		return err
	}
}

func TestTutorFacetsStayInStepWithTutors(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	q := New(db)

	if _, err := q.SeedTutors(ctx, SeedTutorsParams{Seed: 15, First: 1, Count: 300}); err != nil {
		t.Fatal(err)
	}
	assertFacetsInStep(t, db, "a seeded batch (one INSERT of many rows)")
	var seeded int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM tutor_facets`).Scan(&seeded); err != nil || seeded < 300 {
		t.Fatalf("%d facet rows for 300 tutors: %v", seeded, err)
	}

	rows, _ := db.Query(ctx, `SELECT id FROM subjects ORDER BY id`)
	subjects, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(subjects) < 3 {
		t.Fatalf("subjects: %v %v", subjects, err)
	}
	var ids []uuid.UUID
	rows, _ = db.Query(ctx, `SELECT id FROM tutors ORDER BY id`)
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
		t.Fatal(err)
	}

	// Each write path alone, in the order a profile lives.
	w := &facetWriter{db: db, subjects: subjects, rng: rand.New(rand.NewPCG(15, 1))}
	user := uuid.New()
	if _, err := db.Exec(ctx, `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Facet Tester')`, user, user.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	p := w.profile()
	created, err := q.CreateTutor(ctx, CreateTutorParams{UserID: user, Subjects: p.Subjects, HourlyRateMinor: p.HourlyRateMinor,
		Currency: p.Currency, Languages: p.Languages, LessonModes: p.LessonModes, Availability: "[]"})
	if err != nil {
		t.Fatal(err)
	}
	assertFacetsInStep(t, db, "CreateTutor")
	steps := []struct {
		name string
		run  func() error
	}{
		{"UpdateTutor", func() error {
			p := w.profile()
			p.ID, p.Version, p.Languages = created, 1, []string{"ko", "pt-BR"}
			_, err := q.UpdateTutor(ctx, p)
			return err
		}},
		{"UpdateTutor of the facets alone", func() error {
			p := w.profile()
			p.ID, p.Version, p.Languages = created, 2, []string{"ko", "de"}
			p.Currency, p.HourlyRateMinor, p.LessonModes = "EUR", 2500, []string{"online"}
			if _, err := q.UpdateTutor(ctx, p); err != nil {
				return err
			}
			p.Version, p.Subjects = 3, `[]`
			_, err := q.UpdateTutor(ctx, p)
			return err
		}},
		{"PublishTutor", func() error { _, err := q.PublishTutor(ctx, PublishTutorParams{ID: created, Version: 4}); return err }},
		{"TouchTutorOfUser", func() error { _, err := q.TouchTutorOfUser(ctx, user); return err }},
		{"UnpublishTutor", func() error {
			_, err := q.UnpublishTutor(ctx, UnpublishTutorParams{ID: created, Version: 6})
			return err
		}},
		{"DeleteTutor", func() error { _, err := q.DeleteTutor(ctx, created); return err }},
		{"an UPDATE of many rows", func() error {
			_, err := db.Exec(ctx, `UPDATE tutors SET lesson_modes = '{in_person}', currency = 'CHF' WHERE id = ANY ($1::text[]::uuid[])`, idStrings(ids[:40]))
			return err
		}},
		{"a deleted row brought back", func() error {
			_, err := db.Exec(ctx, `UPDATE tutors SET deleted_at = NULL WHERE id = $1`, created)
			return err
		}},
		{"a DELETE of live and deleted rows", func() error {
			if _, err := q.DeleteTutor(ctx, ids[40]); err != nil {
				return err
			}
			_, err := db.Exec(ctx, `DELETE FROM tutors WHERE id = ANY ($1::text[]::uuid[])`, idStrings(ids[40:45]))
			return err
		}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		assertFacetsInStep(t, db, s.name)
	}
	ids = ids[45:]

	// Concurrent writers on the same 30 tutors, and new tutors seeded meanwhile.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 6 {
		wg.Go(func() {
			w := &facetWriter{db: db, subjects: subjects, rng: rand.New(rand.NewPCG(15, uint64(g)+2))}
			for range 60 {
				if err := w.write(ctx, ids[w.rng.IntN(30)]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if _, err := q.SeedTutors(ctx, SeedTutorsParams{Seed: 15, First: 1000 + int64(i)*5, Count: 5}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	assertFacetsInStep(t, db, "concurrent writes and deletes")

	t.Run("ListTutors lists what a containment filter over tutors lists, in the same order", func(t *testing.T) {
		compareWithContainment(t, db, subjects)
	})

	if _, err := db.Exec(ctx, `TRUNCATE tutors CASCADE`); err != nil {
		t.Fatal(err)
	}
	assertFacetsInStep(t, db, "TRUNCATE")
}

// compareWithContainment pages through every filter combination with ListTutors and with
// listTutorsByContainment and wants the same tutors in the same order.
func compareWithContainment(t *testing.T, db *pgxpool.Pool, subjects []uuid.UUID) {
	ctx := context.Background()
	q := New(db)
	var subject, level string
	if err := db.QueryRow(ctx, `SELECT f FROM tutors, unnest(search_facets) AS f WHERE f LIKE 'sl:%' AND deleted_at IS NULL
		GROUP BY f ORDER BY count(*) DESC LIMIT 1`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	subject = "s:" + level[3:39]
	subjectFacets := [][]string{nil, {subject}, {level}, {"s:" + subjects[0].String()}}
	languages := []string{"", "l:en", "l:ko", "l:pt", "l:pt-br"}
	modes := []string{"", "m:online", "m:in_person"}
	type rateFilter struct {
		currency string
		min, max int64
	}
	rates := []rateFilter{{"", 0, 100000000}, {"EUR", 0, 100000000}, {"CHF", 2000, 6000}}
	combos := 0
	for _, sf := range subjectFacets {
		for _, lf := range languages {
			for _, mf := range modes {
				for _, r := range rates {
					for _, unpublished := range []bool{false, true} {
						facets := append([]string{}, sf...)
						for _, f := range []string{lf, mf} {
							if f != "" {
								facets = append(facets, f)
							}
						}
						name := fmt.Sprintf("%v/%v/unpublished=%v", facets, r, unpublished)
						p := ListTutorsParams{IncludeUnpublished: unpublished, Facets: facets, Currency: r.currency,
							MinRate: r.min, MaxRate: r.max, AfterRate: -1, PageLimit: 9}
						for page := 0; ; page++ {
							got, err := q.ListTutors(ctx, p)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							rows, _ := db.Query(ctx, listTutorsByContainment, p.IncludeUnpublished, p.Facets, p.Currency, p.MinRate, p.MaxRate,
								p.AfterCurrency, p.AfterRate, p.AfterID, p.PageLimit)
							want, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							gotIDs := make([]uuid.UUID, len(got))
							for i, r := range got {
								gotIDs[i] = r.Tutor.ID
							}
							if !slices.Equal(gotIDs, want) {
								t.Fatalf("%s, page %d: ListTutors gave %v, containment %v", name, page, gotIDs, want)
							}
							if len(got) < int(p.PageLimit) {
								break
							}
							last := got[len(got)-1].Tutor
							p.AfterCurrency, p.AfterRate, p.AfterID = last.Currency, last.HourlyRateMinor, last.ID
						}
						combos++
					}
				}
			}
		}
	}
	t.Logf("%d filter combinations listed alike", combos)
}
