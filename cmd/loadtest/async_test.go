package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/seed"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/search"
)

// The scenarios' plumbing, at a tiny scale against the real services; the figures themselves
// are ./just bench's, never asserted here.

// seeded is a test database with n seeded tutors.
func seeded(t *testing.T, n int64) *pgxpool.Pool {
	t.Helper()
	pool := testenv.Postgres(t)
	if _, err := seed.Tutors(context.Background(), pool, seed.Options{Tutors: n, Seed: 1, BatchSize: 100}); err != nil {
		t.Fatal(err)
	}
	return pool
}

// Every seeded tutor reaches the index, over several bulks, and the published ones are
// searchable by a word of their bio.
func TestIndexTutorsIndexesEverySeededTutor(t *testing.T) {
	t.Parallel()
	const n = search.MaxBulk + 250 // more than one bulk, the last one partial
	pool := seeded(t, n)
	ctx := context.Background()
	got, err := indexTutors(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("indexTutors reported %d tutors, want %d", got, n)
	}
	var docs, visible, tutorsPublished int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE published AND NOT deleted),
		(SELECT count(*) FROM tutors WHERE published) FROM search_documents`).Scan(&docs, &visible, &tutorsPublished); err != nil {
		t.Fatal(err)
	}
	if docs != n || visible != tutorsPublished {
		t.Errorf("the index holds %d documents, %d visible; want %d, and %d visible (the published tutors)", docs, visible, n, tutorsPublished)
	}
	engine := search.NewPostgres(pool, pagetoken.NewCodec([]byte("test")))
	res, err := engine.Search(ctx, search.Query{Text: "homework", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 {
		t.Error(`a search for "homework" (a word of the seeded bios) found nothing`)
	}
}

// The relay scenario drains exactly its backlog and leaves no pending event.
func TestRelayThroughputDrainsTheBacklog(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	tc, _ := testenv.Temporal(t)
	const n = 30
	res, err := relayThroughput(context.Background(), pool, tc, n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != n || res.Elapsed <= 0 || res.PerSecond <= 0 || res.Parked != 0 || res.Deferred != 0 {
		t.Errorf("result %+v: want %d events drained in a positive time, none parked or deferred", res, n)
	}
	if p, err := pendingEvents(context.Background(), pool); err != nil || p != 0 {
		t.Errorf("%d events pending after the scenario (err %v)", p, err)
	}
}

// The lag scenario sees every write it committed reach the index, through the outbox, the
// relay, IndexTutor and its activity.
func TestWriteToSearchableSeesEveryWrite(t *testing.T) {
	t.Parallel()
	pool := seeded(t, 100)
	tc, _ := testenv.Temporal(t)
	ctx := context.Background()
	if _, err := indexTutors(ctx, pool); err != nil {
		t.Fatal(err)
	}
	res, err := writeToSearchable(ctx, pool, tc, 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 10 || res.Searchable != 10 || res.Errors != 0 {
		t.Errorf("result %+v: want 10 writes, all searchable, none failed", res)
	}
	if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.Max {
		t.Errorf("lags p50 %s, p99 %s, max %s: want 0 < p50 <= p99 <= max", res.P50, res.P99, res.Max)
	}
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tutors t JOIN search_documents d USING (id) WHERE d.version <> t.version`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d documents are behind their tutor's version", stale)
	}
}
