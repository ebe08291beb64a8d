package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

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
	pool := testenv.Postgres(t)
	tc, queue := testenv.Temporal(t)
	prefix := queue + "/"
	cfg := &config.Config{
		Search: config.Search{Engine: config.SearchEnginePostgres},
		Cursor: config.Cursor{Secret: []byte("test-cursor-secret-0123456789abcdef")},
	}
	ctx, cancel := context.WithCancel(context.Background())
	deps, err := newWorkerDeps(ctx, cfg, pool, []string{workflows.QueueSearch})
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
