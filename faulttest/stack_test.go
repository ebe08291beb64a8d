package faulttest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// stack is one fault test's world: a database of its own, a private Temporal server and a
// client of it. Workers are started by each test.
type stack struct {
	t        *testing.T
	temporal *temporalServer
	tc       client.Client
	// dbURL reaches the test's database as the harness's (superuser) role.
	dbURL  string
	pool   *pgxpool.Pool
	tutors *tutors.Service
}

func newStack(t *testing.T) *stack {
	t.Helper()
	needTemporalCLI(t)
	s := &stack{t: t, dbURL: testenv.DatabaseURL(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := database.Open(ctx, s.dbURL, database.PoolOptions{MaxConns: 6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.pool = pool
	s.tutors = tutors.New(pool, tutors.Options{})
	// Every effective write to the index (the version guard lets it through) leaves a line,
	// so the check can tell a document written twice at one version, or moved backwards.
	if _, err := pool.Exec(ctx, `
		CREATE TABLE fault_index_writes (
			seq       bigserial PRIMARY KEY,
			id        uuid NOT NULL,
			version   bigint NOT NULL,
			deleted   boolean NOT NULL,
			published boolean NOT NULL
		);
		CREATE FUNCTION fault_log_index_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
		BEGIN
			INSERT INTO fault_index_writes (id, version, deleted, published) VALUES (NEW.id, NEW.version, NEW.deleted, NEW.published);
			RETURN NULL;
		END $$;
		CREATE TRIGGER fault_log_index_write AFTER INSERT OR UPDATE ON search_documents
			FOR EACH ROW EXECUTE FUNCTION fault_log_index_write();`); err != nil {
		t.Fatalf("index write log: %v", err)
	}
	s.temporal = startTemporal(t)
	s.tc = s.temporal.client()
	return s
}

// workerEnv is the environment of a worker on this stack, connecting as the harness's role.
func (s *stack) workerEnv(extra ...string) []string {
	return workerEnv(s.dbURL, append(s.temporal.env(), extra...)...)
}

// limitedRole creates a login role that may read and write every table of the test's
// database but is no superuser, so a test can revoke its privileges; it returns the role's
// name and the database URL that connects as it. The role is dropped when the test ends.
func (s *stack) limitedRole() (string, string) {
	s.t.Helper()
	ctx := context.Background()
	role := "faulttest_" + testenv.RandomID()
	password := testenv.RandomID() + testenv.RandomID()
	ident := pgx.Identifier{role}.Sanitize()
	for _, stmt := range []string{
		"CREATE ROLE " + ident + " LOGIN PASSWORD '" + password + "'",
		"GRANT USAGE ON SCHEMA public TO " + ident,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + ident,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO " + ident,
	} {
		if _, err := s.pool.Exec(ctx, stmt); err != nil {
			s.t.Fatalf("%s: %v", stmt, err)
		}
	}
	s.t.Cleanup(func() {
		ctx := context.Background()
		// Its privileges in the test's database go first; the role is cluster-wide.
		if _, err := s.pool.Exec(ctx, "DROP OWNED BY "+ident); err != nil {
			s.t.Errorf("drop owned by %s: %v", role, err)
		}
		conn, err := pgx.Connect(ctx, testenv.AdminDatabaseURL())
		if err != nil {
			s.t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
			s.t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	return role, u.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count runs a query answering one integer.
func (s *stack) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// pending is the number of outbox events waiting for dispatch.
func (s *stack) pending() int {
	return s.count("SELECT count(*) FROM outbox WHERE processed_at IS NULL AND parked_at IS NULL")
}

// dispatched is the number of outbox events marked dispatched.
func (s *stack) dispatched() int {
	return s.count("SELECT count(*) FROM outbox WHERE processed_at IS NOT NULL")
}

// indexWrites is the number of effective writes to the index so far.
func (s *stack) indexWrites() int {
	return s.count("SELECT count(*) FROM fault_index_writes")
}

// retriedActivity reports whether an open run has an activity that failed with an error
// containing msg and is waiting for or running a later attempt.
func (s *stack) retriedActivity(msg string) bool {
	s.t.Helper()
	ctx := context.Background()
	resp, err := s.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000, Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return false
	}
	// Newest first: while writes go on, the newest runs have not failed yet, the oldest have.
	runs := resp.GetExecutions()
	for i := len(runs) - 1; i >= 0; i-- {
		d, err := s.tc.DescribeWorkflowExecution(ctx, runs[i].GetExecution().GetWorkflowId(), runs[i].GetExecution().GetRunId())
		if err != nil {
			continue
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetAttempt() > 1 && strings.Contains(a.GetLastFailure().GetMessage(), msg) {
				return true
			}
		}
	}
	return false
}

// openRuns describes up to 5 open runs and their pending activities, for a failure message.
func (s *stack) openRuns() string {
	ctx := context.Background()
	resp, err := s.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 5, Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range resp.GetExecutions() {
		fmt.Fprintf(&b, "\n  %s", e.GetExecution().GetWorkflowId())
		d, err := s.tc.DescribeWorkflowExecution(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
		if err != nil {
			fmt.Fprintf(&b, ": %v", err)
			continue
		}
		for _, a := range d.GetPendingActivities() {
			fmt.Fprintf(&b, ": %s %s attempt %d, last failure %q", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), a.GetLastFailure().GetMessage())
		}
	}
	return b.String()
}

// startedActivities returns the open IndexTutor runs whose activity a worker has started and
// not yet finished (the notices of published tutors run beside them, unaffected by the
// index's faults).
func (s *stack) startedActivities() []string {
	s.t.Helper()
	ctx := context.Background()
	resp, err := s.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000,
		Query: "ExecutionStatus = 'Running' AND WorkflowType = '" + workflows.IndexTutorName + "'"})
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range resp.GetExecutions() {
		d, err := s.tc.DescribeWorkflowExecution(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
		if err != nil {
			continue
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				ids = append(ids, e.GetExecution().GetWorkflowId())
			}
		}
	}
	return ids
}

// lastActivityStart returns the attempt number and the worker identity of the last started
// activity of a closed run.
func (s *stack) lastActivityStart(workflowID string) (attempt int32, identity string) {
	s.t.Helper()
	iter := s.tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			s.t.Fatalf("history of %s: %v", workflowID, err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			attempt, identity = a.GetAttempt(), a.GetIdentity()
		}
	}
	return attempt, identity
}

// writer changes tutors through package tutors, one change per tick, until stopped: each
// change commits with its outbox event, exactly as the API's writes do.
type writer struct {
	s      *stack
	live   []tutorRef
	rng    *rand.Rand
	writes atomic.Int64
	stopc  chan struct{}
	done   chan struct{}
}

type tutorRef struct {
	id        uuid.UUID
	owner     tutors.Actor
	version   int64
	published bool
}

var mathematics = uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436")

// startWriter creates n tutors (every other one published) and then makes one change every
// period: mostly bio updates, some publish or unpublish toggles, and now and then a tutor
// deleted and replaced by a new one.
func (s *stack) startWriter(n int, every time.Duration) *writer {
	s.t.Helper()
	w := &writer{s: s, rng: rand.New(rand.NewPCG(uint64(n), uint64(every))), stopc: make(chan struct{}), done: make(chan struct{})}
	ctx := context.Background()
	for i := range n {
		ref, err := w.create(ctx, i%2 == 0)
		if err != nil {
			s.t.Fatal(err)
		}
		w.live = append(w.live, ref)
	}
	go w.run(every)
	s.t.Cleanup(w.stop)
	return w
}

func (w *writer) create(ctx context.Context, publish bool) (tutorRef, error) {
	user := uuid.New()
	if err := queries.New(w.s.pool).EnsureUser(ctx, queries.EnsureUserParams{ID: user, Email: user.String() + "@example.com", DisplayName: "Tutor " + user.String()[:8]}); err != nil {
		return tutorRef{}, fmt.Errorf("user: %w", err)
	}
	owner := tutors.Actor{UserID: user, EmailVerified: true}
	tu, err := w.s.tutors.Create(ctx, owner, tutors.Profile{
		Headline: "Patient maths tutor", Bio: "Algebra and geometry, first version.", HourlyRateMinor: 4500, Currency: "EUR",
		Subjects:  []tutors.Subject{{SubjectID: mathematics, Levels: []string{"secondary"}}},
		Languages: []string{"en-GB"}, LessonModes: []string{"online"}, TimeZone: "Europe/Berlin",
		Availability: []tutors.Slot{{Day: 1, Start: 540, End: 600}},
	})
	if err != nil {
		return tutorRef{}, fmt.Errorf("create tutor: %w", err)
	}
	if publish {
		if tu, err = w.s.tutors.Publish(ctx, owner, tu.ID); err != nil {
			return tutorRef{}, fmt.Errorf("publish tutor: %w", err)
		}
	}
	return tutorRef{id: tu.ID, owner: owner, version: tu.Version, published: tu.Published}, nil
}

func (w *writer) run(every time.Duration) {
	defer close(w.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-w.stopc:
			return
		case <-tick.C:
		}
		if err := w.change(context.Background()); err != nil {
			w.s.t.Errorf("writer: %v", err)
			return
		}
		w.writes.Add(1)
	}
}

// change makes one change to a tutor picked at random.
func (w *writer) change(ctx context.Context) error {
	k := w.rng.IntN(len(w.live))
	ref := &w.live[k]
	switch op := w.rng.IntN(20); {
	case op == 0:
		if err := w.s.tutors.Delete(ctx, ref.owner, ref.id); err != nil {
			return fmt.Errorf("delete %s: %w", ref.id, err)
		}
		next, err := w.create(ctx, w.rng.IntN(2) == 0)
		if err != nil {
			return err
		}
		*ref = next
	case op < 4:
		toggle := w.s.tutors.Publish
		if ref.published {
			toggle = w.s.tutors.Unpublish
		}
		tu, err := toggle(ctx, ref.owner, ref.id)
		if err != nil {
			return fmt.Errorf("toggle %s: %w", ref.id, err)
		}
		ref.version, ref.published = tu.Version, tu.Published
	default:
		bio := fmt.Sprintf("Algebra and geometry, change %d.", w.writes.Load()+1)
		tu, err := w.s.tutors.Update(ctx, ref.owner, ref.id, ref.version, tutors.Profile{Bio: bio}, []string{"bio"})
		if err != nil {
			return fmt.Errorf("update %s: %w", ref.id, err)
		}
		ref.version = tu.Version
	}
	return nil
}

// stop ends the writer and waits for its last change to commit; it may be called again.
func (w *writer) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
}

// waitWrites waits until the writer made n more changes than when asked.
func (w *writer) waitWrites(n int64, within time.Duration) {
	w.s.t.Helper()
	target := w.writes.Load() + n
	eventually(w.s.t, within, fmt.Sprintf("the writer makes %d more changes", n), func() bool { return w.writes.Load() >= target })
}

// checkExactlyOnce waits until every outbox event is dispatched and every run has closed,
// then counts: one completed run per event under its derived workflow id (and one
// NotifyFanout run per event that notifies someone) and no other run;
// one document per tutor at the tutor's current version and visibility; no document version
// written twice or after a newer one. It returns the number of events.
func (s *stack) checkExactlyOnce(within time.Duration) int {
	t := s.t
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	eventually(t, within, "every outbox event is dispatched or parked", func() bool { return s.pending() == 0 })
	if n := s.count("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"); n != 0 {
		t.Errorf("%d events were parked", n)
	}

	type event struct {
		id, tutor  uuid.UUID
		typ, runID string
	}
	rows, err := s.pool.Query(ctx, "SELECT event_id, aggregate_id, event_type, coalesce(workflow_id, '') FROM outbox ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (event, error) {
		var e event
		return e, r.Scan(&e.id, &e.tutor, &e.typ, &e.runID)
	})
	if err != nil {
		t.Fatal(err)
	}

	// Temporal's visibility store trails the runs a little: wait until it lists them all.
	closed := func() bool {
		all, err1 := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{})
		open, err2 := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "ExecutionStatus = 'Running'"})
		return err1 == nil && err2 == nil && all.GetCount() >= int64(len(events)) && open.GetCount() == 0
	}
	for deadline := time.Now().Add(within); !closed(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Temporal does not list %d closed runs within %s; open runs: %s", len(events), within, s.openRuns())
		}
	}
	settled := time.Since(start)
	runs := map[string][]enumspb.WorkflowExecutionStatus{}
	var token []byte
	for {
		resp, err := s.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000, NextPageToken: token})
		if err != nil {
			t.Fatalf("list workflows: %v", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			runs[id] = append(runs[id], e.GetStatus())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	for _, e := range events {
		want := fmt.Sprintf("%s/%s/%s", workflows.IndexTutorName, e.tutor, e.id)
		if e.runID != want {
			t.Errorf("event %s (%s) recorded workflow id %q, want %q", e.id, e.typ, e.runID, want)
		}
		got := runs[want]
		if len(got) != 1 || got[0] != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Errorf("event %s (%s): runs %v, want exactly one, completed", e.id, e.typ, got)
		}
		delete(runs, want)
		// A publication also announces itself to the tutor (NotifyFanout), once.
		if notifications.Notifies(e.typ) {
			notify := "notify/" + e.id.String()
			if got := runs[notify]; len(got) != 1 || got[0] != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				t.Errorf("event %s (%s): notice runs %v, want exactly one, completed", e.id, e.typ, got)
			}
			delete(runs, notify)
		}
	}
	if len(runs) != 0 {
		t.Errorf("%d runs belong to no event: %v", len(runs), runs)
	}

	// The index against the tutors table: one document per tutor, at its version, visible
	// exactly when the tutor is published and not deleted, with its current bio.
	rows, err = s.pool.Query(ctx, `
		SELECT t.id, t.version, t.published AND t.deleted_at IS NULL, t.bio,
		       coalesce(d.version, 0), coalesce(d.published AND NOT d.deleted, false), coalesce(d.bio, '')
		FROM tutors t LEFT JOIN search_documents d USING (id) ORDER BY t.id`)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct {
		id                  uuid.UUID
		version, docVersion int64
		visible, docVisible bool
		bio, docBio         string
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		return p, r.Scan(&p.id, &p.version, &p.visible, &p.bio, &p.docVersion, &p.docVisible, &p.docBio)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if p.docVersion != p.version || p.docVisible != p.visible || (p.visible && p.docBio != p.bio) {
			t.Errorf("tutor %s at version %d (visible %v, bio %q) has document version %d (visible %v, bio %q)",
				p.id, p.version, p.visible, p.bio, p.docVersion, p.docVisible, p.docBio)
		}
	}
	if docs := s.count("SELECT count(*) FROM search_documents"); docs != len(pairs) {
		t.Errorf("the index holds %d documents for %d tutors", docs, len(pairs))
	}
	if n := s.count("SELECT count(*) FROM (SELECT 1 FROM fault_index_writes GROUP BY id, version HAVING count(*) > 1) twice"); n != 0 {
		t.Errorf("%d document versions were written more than once", n)
	}
	if n := s.count(`SELECT count(*) FROM (
		SELECT version <= lag(version) OVER (PARTITION BY id ORDER BY seq) AS backwards FROM fault_index_writes) w
		WHERE backwards`); n != 0 {
		t.Errorf("%d writes moved a document to an older or equal version", n)
	}
	t.Logf("%d events, each with one completed run (all closed %s after the writes stopped); %d tutors, each with its document; %d effective index writes",
		len(events), settled.Round(time.Second), len(pairs), s.indexWrites())
	return len(events)
}
