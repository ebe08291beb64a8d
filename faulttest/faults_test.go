package faulttest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The writer's pace: one tutor change every writeEvery across tutorsWritten tutors.
const (
	tutorsWritten = 12
	writeEvery    = 50 * time.Millisecond
)

// TestTwoRelaysAtOnce runs two workers, each with its relay, side by side: both dispatch,
// and together they start each event's workflow exactly once, never finding one already
// started by the other.
func TestTwoRelaysAtOnce(t *testing.T) {
	s := newStack(t)
	a := startWorker(t, "a", s.workerEnv())
	b := startWorker(t, "b", s.workerEnv())
	w := s.startWriter(tutorsWritten, writeEvery)
	w.waitWrites(150, 2*time.Minute)
	w.stop()
	events := s.checkExactlyOnce(3 * time.Minute)

	da, db := a.metric("tutorhub_outbox_dispatched_total"), b.metric("tutorhub_outbox_dispatched_total")
	if int(da+db) != events {
		t.Errorf("the relays dispatched %v + %v events, want %d in all", da, db, events)
	}
	if da == 0 || db == 0 {
		t.Errorf("one relay did all the work (%v and %v): the test did not run two relays at once", da, db)
	}
	for _, p := range []*workerProcess{a, b} {
		if n := p.metric("tutorhub_outbox_already_dispatched_total"); n != 0 {
			t.Errorf("relay %s found %v events already dispatched: two relays claimed one event", p.name, n)
		}
	}
}

// TestRelayStoppedWhileWritesContinue stops the only relay while tutors keep changing: no
// event moves and the backlog grows; a relay started again drains the backlog and every
// event still has its one run.
func TestRelayStoppedWhileWritesContinue(t *testing.T) {
	s := newStack(t)
	startWorker(t, "queues only", s.workerEnv(), "--relay=false")
	relay := startWorker(t, "relay", s.workerEnv())
	w := s.startWriter(tutorsWritten, writeEvery)
	eventually(t, time.Minute, "the relay dispatches events", func() bool { return s.dispatched() >= 20 })

	relay.stop()
	stoppedAt := s.dispatched()
	w.waitWrites(60, 2*time.Minute)
	if got := s.dispatched(); got != stoppedAt {
		t.Errorf("%d events were dispatched with no relay running", got-stoppedAt)
	}
	if p := s.pending(); p < 60 {
		t.Errorf("the backlog holds %d events after 60 changes without a relay", p)
	}
	last := s.count("SELECT max(seq) FROM outbox")

	startWorker(t, "relay again", s.workerEnv())
	eventually(t, 2*time.Minute, "the backlog drains while writes continue", func() bool {
		return s.count("SELECT count(*) FROM outbox WHERE seq <= $1 AND processed_at IS NULL", last) == 0
	})
	w.waitWrites(20, time.Minute)
	w.stop()
	s.checkExactlyOnce(3 * time.Minute)
}

// TestTemporalServerRestart kills the Temporal server (SIGKILL) while tutors keep changing,
// and starts it again on the same database file: the relay retries the starts that failed,
// the worker reconnects, and every event still has its one run.
func TestTemporalServerRestart(t *testing.T) {
	s := newStack(t)
	worker := startWorker(t, "worker", s.workerEnv())
	w := s.startWriter(tutorsWritten, writeEvery)
	eventually(t, time.Minute, "the relay dispatches events", func() bool { return s.dispatched() >= 20 })

	s.temporal.kill()
	w.waitWrites(60, 2*time.Minute)
	eventually(t, time.Minute, "the relay finds Temporal down and defers an event", func() bool {
		return s.count("SELECT count(*) FROM outbox WHERE attempts > 0") > 0
	})
	s.temporal.start()
	w.waitWrites(40, time.Minute)
	w.stop()
	s.checkExactlyOnce(3 * time.Minute)
	select {
	case <-worker.done:
		t.Errorf("the worker exited during the Temporal outage: %v\n%s", worker.err, worker.output())
	default:
	}
}

// TestSearchEngineFailsForAWhile makes the search engine refuse every write for a while:
// the worker connects as a role of its own, which loses and then regains its privileges on
// the index table. Indexing activities fail and are retried by Temporal, and once the
// engine is back the index catches up with every event.
func TestSearchEngineFailsForAWhile(t *testing.T) {
	s := newStack(t)
	role, url := s.limitedRole()
	startWorker(t, "worker", workerEnv(url, s.temporal.env()...))
	w := s.startWriter(tutorsWritten, writeEvery)
	eventually(t, time.Minute, "documents are indexed", func() bool { return s.indexWrites() >= 10 })

	ident := pgx.Identifier{role}.Sanitize()
	if _, err := s.pool.Exec(context.Background(), "REVOKE ALL ON search_documents FROM "+ident); err != nil {
		t.Fatal(err)
	}
	w.waitWrites(40, time.Minute)
	eventually(t, 2*time.Minute, "an indexing activity fails on the engine and is retried", func() bool {
		return s.retriedActivity("permission denied")
	})
	refused := s.indexWrites()
	w.waitWrites(20, time.Minute)
	if got := s.indexWrites(); got != refused {
		t.Errorf("%d index writes went through while the engine refused them", got-refused)
	}
	if _, err := s.pool.Exec(context.Background(), "GRANT SELECT, INSERT, UPDATE, DELETE ON search_documents TO "+ident); err != nil {
		t.Fatal(err)
	}
	w.waitWrites(40, time.Minute)
	w.stop()
	s.checkExactlyOnce(3 * time.Minute)
}

// TestWorkerKilledMidIndexing kills the worker with SIGKILL while its activities are inside
// their index writes, and starts a new worker: the dead worker's activities are retried
// elsewhere, a write the dead worker's connection still completes is harmless, and every
// event is applied.
func TestWorkerKilledMidIndexing(t *testing.T) {
	s := newStack(t)
	first := startWorker(t, "first", s.workerEnv())
	w := s.startWriter(tutorsWritten, writeEvery)
	eventually(t, time.Minute, "documents are indexed", func() bool { return s.indexWrites() >= 10 })

	// Hold writes to the index (reads go on), so the worker dies with activities in flight.
	ctx := context.Background()
	hold, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx) //nolint:errcheck // released below; a no-op then
	if _, err := hold.Exec(ctx, "LOCK TABLE search_documents IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "an index write of the worker waits inside the engine", func() bool {
		return s.count(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%search_documents%'`) > 0
	})
	// Every activity started now is stuck until the lock goes, which is after the kill.
	inFlight := s.startedActivities()
	if len(inFlight) == 0 {
		t.Fatal("Temporal shows no started activity while an index write waits")
	}
	first.kill()
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	w.waitWrites(40, time.Minute)
	startWorker(t, "second", s.workerEnv())
	w.waitWrites(40, time.Minute)
	w.stop()
	s.checkExactlyOnce(3 * time.Minute)

	// The activities the dead worker held were timed out and run again by the new worker.
	dead := strconv.Itoa(first.cmd.Process.Pid) + "@"
	for _, id := range inFlight {
		if attempt, identity := s.lastActivityStart(id); attempt < 2 || strings.HasPrefix(identity, dead) {
			t.Errorf("run %s, in flight at the kill, last started its activity as attempt %d on %q; want a retry on the new worker", id, attempt, identity)
		}
	}
	t.Logf("%d activities in flight at the kill, each retried on the new worker", len(inFlight))
}
