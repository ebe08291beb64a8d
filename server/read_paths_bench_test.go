package server

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
)

// BenchmarkReadPaths reads tutors (of 10,000, uncached) through each way to the database:
// PostgreSQL directly, through PgBouncer in transaction pooling mode, and from the stack's
// streaming replica through database.Router (docs/database.md). The direct lines are
// BenchmarkGetTutor/uncached and BenchmarkListTutors/subject's reads at this catalogue size.
func BenchmarkReadPaths(b *testing.B) {
	ctx := context.Background()
	db, ids := tutorBenchDB(b, 10_000)
	dbURL := db.Config().ConnString()
	open := func(url string) *pgxpool.Pool {
		p, err := database.Open(ctx, url, database.PoolOptions{MaxConns: 10})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p
	}
	pooled := open(testenv.PgBouncerURL(b, dbURL))
	rep := testenv.SharedReplica(b)
	rep.WaitForDatabase(dbURL)
	replica := open(rep.URL(dbURL))
	var want, have int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM tutors").Scan(&want); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); have != want; time.Sleep(50 * time.Millisecond) {
		if err := replica.QueryRow(ctx, "SELECT count(*) FROM tutors").Scan(&have); err != nil || time.Now().After(deadline) {
			b.Fatalf("the replica has %d of %d tutors: %v", have, want, err)
		}
	}
	router := database.NewRouter(db, replica, database.RouterOptions{MaxLag: time.Minute})
	if st := router.Check(ctx); !st.Usable {
		b.Fatalf("replica not usable: %s", st.Reason)
	}
	tokens := pagetoken.NewCodec([]byte("bench-cursor-secret-0123456789abcdef"))
	paths := []struct {
		name string
		s    *TutorServer
	}{
		{"direct", NewTutorServer(tutors.New(db, tutors.Options{}), tokens)},
		{"pgbouncer", NewTutorServer(tutors.New(pooled, tutors.Options{}), tokens)},
		{"replica", NewTutorServer(tutors.New(db, tutors.Options{Reads: router}), tokens)},
	}
	for _, p := range paths {
		b.Run("GetTutor uncached/"+p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := p.s.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: ids[i%len(ids)].String()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	list := &tutorhubv1.ListTutorsRequest{SubjectId: "d4706666-3b3f-5254-b858-719197bb6436"}
	for _, p := range paths {
		b.Run("ListTutors subject/"+p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.s.ListTutors(ctx, list); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if router.Reads(database.TargetReplica) == 0 {
		b.Error("no read went to the replica")
	}
}
