package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/seed"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
)

// tutorBenchDB is a database of n seeded tutors, analysed, dropped when b ends, and the ids
// of up to 1000 published ones. Benchmarks call it from the parent benchmark, which runs once.
func tutorBenchDB(b *testing.B, n int64) (*pgxpool.Pool, []uuid.UUID) {
	b.Helper()
	ctx := context.Background()
	db := testenv.Postgres(b)
	if _, err := seed.Tutors(ctx, db, seed.Options{Tutors: n, Seed: 42, BatchSize: 10_000}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, "ANALYZE tutors; ANALYZE users"); err != nil {
		b.Fatal(err)
	}
	rows, err := db.Query(ctx, "SELECT id FROM tutors WHERE published ORDER BY id LIMIT 1000")
	if err != nil {
		b.Fatal(err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	return db, ids
}

// BenchmarkGetTutor reads published tutors (of 10,000) through the handler: from Redis (cached) and
// from PostgreSQL every time (uncached).
func BenchmarkGetTutor(b *testing.B) {
	db, ids := tutorBenchDB(b, 10_000)
	rdb, prefix := testenv.Redis(b)
	tokens := pagetoken.NewCodec([]byte("bench-cursor-secret-0123456789abcdef"))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, s := range map[string]*TutorServer{
		"cached":   NewTutorServer(tutors.New(db, tutors.Options{Cache: cache.New(rdb, cache.Options{Prefix: prefix, Logger: quiet})}), tokens),
		"uncached": NewTutorServer(tutors.New(db, tutors.Options{}), tokens),
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := s.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: ids[i%len(ids)].String()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkListTutors lists the first page (20) of 100,000 tutors under typical filters.
func BenchmarkListTutors(b *testing.B) {
	db, _ := tutorBenchDB(b, 100_000)
	s := NewTutorServer(tutors.New(db, tutors.Options{}), pagetoken.NewCodec([]byte("bench-cursor-secret-0123456789abcdef")))
	for _, bc := range []struct {
		name string
		req  *tutorhubv1.ListTutorsRequest
	}{
		{"no filter", &tutorhubv1.ListTutorsRequest{}},
		{"subject", &tutorhubv1.ListTutorsRequest{SubjectId: "d4706666-3b3f-5254-b858-719197bb6436"}},
		{"subject+level+language", &tutorhubv1.ListTutorsRequest{SubjectId: "d4706666-3b3f-5254-b858-719197bb6436", Level: tutorhubv1.Level_LEVEL_ADULT, Language: "es"}},
		{"online+currency+price range", &tutorhubv1.ListTutorsRequest{LessonMode: tutorhubv1.LessonMode_LESSON_MODE_ONLINE, Currency: "EUR", MinHourlyRateMinor: 3000, MaxHourlyRateMinor: 6000}},
		{"in person+rare language", &tutorhubv1.ListTutorsRequest{LessonMode: tutorhubv1.LessonMode_LESSON_MODE_IN_PERSON, Language: "ko"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ListTutors(ctx, bc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
