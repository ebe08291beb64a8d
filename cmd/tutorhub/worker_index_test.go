package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestWorkerKeepsTheIndexInStepWithTutors runs the worker's pieces in process (the search
// queue's workflows and activities as `tutorhub worker` wires them, and the outbox relay)
// against the Temporal dev server and PostgreSQL: a tutor written through the tutors service
// becomes searchable once published, follows its updates, and disappears when unpublished
// or deleted, each within a deadline.
func TestWorkerKeepsTheIndexInStepWithTutors(t *testing.T) {
	t.Parallel()
	pool, _, _, deps := startSearchWorker(t)
	ctx := t.Context()

	owner := tutors.Actor{UserID: uuid.New(), EmailVerified: true}
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Wanda Worker')`,
		owner.UserID, testenv.UniqueEmail("worker-index")); err != nil {
		t.Fatal(err)
	}
	svc := tutors.New(pool, tutors.Options{})
	engine := deps.search.Engine
	searchable := func(word string, id uuid.UUID) bool {
		res, err := engine.Search(ctx, search.Query{Text: word})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			if h.ID == id {
				return true
			}
		}
		return false
	}
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not true within 30s", what)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}

	tu, err := svc.Create(ctx, owner, tutors.Profile{
		Headline: "Chemistry tutor", Bio: "Experiments with axolotls",
		Subjects:        []tutors.Subject{{SubjectID: uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436"), Levels: []string{"adult"}}},
		HourlyRateMinor: 3000, Currency: "GBP", Languages: []string{"en"}, LessonModes: []string{"online"},
		TimeZone: "Europe/London", Availability: []tutors.Slot{{Day: 2, Start: 600, End: 660}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tutor %s (its runs: TutorId = %q in the Temporal UI)", tu.ID, tu.ID)
	if _, err := svc.Publish(ctx, owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	within("a published tutor is searchable by a word of the bio", func() bool { return searchable("axolotls", tu.ID) })

	if _, err := svc.Update(ctx, owner, tu.ID, 2, tutors.Profile{Bio: "Experiments with pangolins"}, []string{"bio"}); err != nil {
		t.Fatal(err)
	}
	within("an update is searchable", func() bool { return searchable("pangolins", tu.ID) && !searchable("axolotls", tu.ID) })

	if _, err := svc.Unpublish(ctx, owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	within("an unpublished tutor disappears", func() bool { return !searchable("pangolins", tu.ID) })

	if _, err := svc.Publish(ctx, owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	within("a republished tutor comes back", func() bool { return searchable("pangolins", tu.ID) })

	if err := svc.Delete(ctx, owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	within("a deleted tutor disappears", func() bool { return !searchable("pangolins", tu.ID) })
}

// startSearchWorker runs the search queue as `tutorhub worker` wires it (PostgreSQL engine)
// and the outbox relay, in process, on a database and task queues of the test's own.
func startSearchWorker(t *testing.T) (*pgxpool.Pool, client.Client, string, *workerDeps) {
	t.Helper()
	pool := testenv.Postgres(t)
	tc, queue := testenv.Temporal(t)
	prefix := queue + "/"
	cfg := &config.Config{
		Search: config.Search{Engine: config.SearchEnginePostgres},
		Cursor: config.Cursor{Secret: []byte("test-cursor-secret-0123456789abcdef")},
	}
	ctx, cancel := context.WithCancel(context.Background())
	deps, err := newWorkerDeps(ctx, cfg, pool, []string{workflows.QueueSearch}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ws, err := startWorkers(tc, []string{workflows.QueueSearch}, prefix, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.New(pool, tc, outbox.Options{Logger: log, QueuePrefix: prefix, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-relayDone
		stopWorkers(ws)
	})

	return pool, tc, prefix, deps
}

// TestSearchReindexRebuildsWhileWritesContinue: `tutorhub search reindex` (reindex) rebuilds
// the index through ReindexAll on the worker, across continue-as-new, while tutors keep
// changing; afterwards the index holds exactly the published tutors at their newest
// versions, and the command printed "n/total" progress lines.
func TestSearchReindexRebuildsWhileWritesContinue(t *testing.T) {
	t.Parallel()
	pool, tc, prefix, deps := startSearchWorker(t)
	ctx := t.Context()
	engine := deps.search.Engine
	svc := tutors.New(pool, tutors.Options{})
	hits := func(word string) map[uuid.UUID]bool {
		res, err := engine.Search(ctx, search.Query{Text: word, Limit: search.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		got := map[uuid.UUID]bool{}
		for _, h := range res.Hits {
			got[h.ID] = true
		}
		return got
	}
	type tutor struct {
		actor   tutors.Actor
		id      uuid.UUID
		version int64
	}
	var ts []tutor
	for range 5 {
		a := tutors.Actor{UserID: uuid.New(), EmailVerified: true}
		if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Rex Reindex')`,
			a.UserID, testenv.UniqueEmail("reindex")); err != nil {
			t.Fatal(err)
		}
		tu, err := svc.Create(ctx, a, tutors.Profile{
			Headline: "Biology tutor", Bio: "okapi", HourlyRateMinor: 2500, Currency: "EUR",
			Subjects:  []tutors.Subject{{SubjectID: uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436"), Levels: []string{"adult"}}},
			Languages: []string{"en"}, LessonModes: []string{"online"}, TimeZone: "UTC",
			Availability: []tutors.Slot{{Day: 1, Start: 600, End: 660}},
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.Publish(ctx, a, tu.ID)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tutor{a, tu.ID, p.Version})
	}
	// A drifted index: a document no tutor backs, which only a rebuild removes.
	stray := search.Document{ID: uuid.New(), DisplayName: "Stray", Bio: "okapi", Published: true, Version: 1}
	if err := engine.Upsert(ctx, stray); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		_, err := reindex(ctx, tc, reindexOptions{QueuePrefix: prefix, PageSize: 1, PagesPerRun: 2, Now: time.Now(), Out: &out, Poll: 20 * time.Millisecond})
		done <- err
	}()
	// Writes continue during the rebuild: each round gives every tutor a new bio word. The
	// rounds are paced and capped, so the events they make cannot outgrow what the relay and
	// the dev server absorb on a loaded machine and starve the rebuild: every event is an
	// IndexTutor run on the rebuild's task queue, and on two busy cores a backlog of a
	// thousand of them took minutes to drain before the rebuild's next page ran.
	const maxRounds = 40
	pace := time.NewTicker(50 * time.Millisecond)
	defer pace.Stop()
	var err error
	round := 0
writes:
	for running := true; running; round++ {
		if round >= maxRounds {
			select {
			case err = <-done:
			case <-time.After(5 * time.Minute):
				t.Fatalf("reindex did not finish within 5m of the last write\n%s", out.String())
			}
			break writes
		}
		select {
		case err = <-done:
			running = false
		case <-pace.C:
		}
		for i := range ts {
			p, uerr := svc.Update(ctx, ts[i].actor, ts[i].id, ts[i].version, tutors.Profile{Bio: fmt.Sprintf("okapi round%d", round)}, []string{"bio"})
			if uerr != nil {
				t.Fatal(uerr)
			}
			ts[i].version = p.Version
		}
	}
	if err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	last := fmt.Sprintf("round%d", round-1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := hits(last)
		if len(got) == len(ts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rebuild, %q finds %d of the %d tutors", last, len(got), len(ts))
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if got := hits("okapi"); got[stray.ID] || len(got) != len(ts) {
		t.Errorf("the rebuilt index holds %v, want exactly the %d published tutors", got, len(ts))
	}
	if !strings.Contains(out.String(), "reindex: 5/5 (100%)\n") || !strings.Contains(out.String(), "reindex: done") {
		t.Errorf("progress output lacks n/total lines or the end:\n%s", out.String())
	}
	t.Logf("%d rounds of writes during the rebuild\n%s", round, out.String())
}
