package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// stack is one test's database, Temporal client and task queues, with a worker serving the
// test's search queue so the started workflows run.
type stack struct {
	pool   *pgxpool.Pool
	tc     client.Client
	prefix string
}

func newStack(t *testing.T) stack {
	t.Helper()
	pool := testenv.Postgres(t)
	tc, queue := testenv.Temporal(t)
	s := stack{pool: pool, tc: tc, prefix: queue + "/"}
	w := worker.New(tc, s.prefix+workflows.QueueSearch, worker.Options{})
	registerSearch(w, pool)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return s
}

// registerSearch registers the search queue's workflows and activities, indexing into the
// PostgreSQL engine of pool, so the runs the relay starts complete.
func registerSearch(w worker.Worker, pool *pgxpool.Pool) {
	workflows.RegisterSearch(w)
	activities.RegisterSearch(w, &activities.SearchActivities{
		Tutors: tutors.New(pool, tutors.Options{}),
		Engine: search.NewPostgres(pool, pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))),
	})
}

func (s stack) relay(t *testing.T, opts outbox.Options) *outbox.Relay {
	t.Helper()
	opts.QueuePrefix = s.prefix
	opts.ListenURL = testenv.ListenURL(s.pool)
	r, err := outbox.New(s.pool, s.tc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// event is an outbox row as a test wrote it.
type event struct {
	id, tutor uuid.UUID
	typ       string
}

// insertEvent writes an outbox row the way the domain does, with payload as given (nil: a
// valid tutor payload), and returns it.
func insertEvent(t *testing.T, pool *pgxpool.Pool, typ string, payload []byte) event {
	t.Helper()
	ctx := context.Background()
	tutor := uuid.New()
	if payload == nil {
		var err error
		payload, err = json.Marshal(tutors.EventPayload{Schema: tutors.EventSchema, TutorID: tutor, UserID: uuid.New(), Version: 1})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := queries.New(pool).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: tutors.Aggregate, AggregateID: tutor, EventType: typ, Payload: string(payload),
	}); err != nil {
		t.Fatal(err)
	}
	ev := event{tutor: tutor, typ: typ}
	if err := pool.QueryRow(ctx, "SELECT event_id FROM outbox WHERE aggregate_id = $1", tutor).Scan(&ev.id); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e event) workflowID() string {
	return fmt.Sprintf("%s/%s/%s", workflows.IndexTutorName, e.tutor, e.id)
}

// row is what the relay recorded about an event.
type row struct {
	dispatched bool
	workflowID string
	attempts   int
	due        bool
	lastError  string
	parkReason string
}

func readRow(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) row {
	t.Helper()
	var r row
	err := pool.QueryRow(context.Background(), `
		SELECT processed_at IS NOT NULL, coalesce(workflow_id, ''), attempts,
		       coalesce(next_attempt_at <= now(), true), coalesce(last_error, ''), coalesce(park_reason, '')
		FROM outbox WHERE event_id = $1`, id).
		Scan(&r.dispatched, &r.workflowID, &r.attempts, &r.due, &r.lastError, &r.parkReason)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pending(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM outbox WHERE processed_at IS NULL AND parked_at IS NULL").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs the relay until the test ends.
func run(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestTwoRelaysStartEachWorkflowExactlyOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 40
	events := make([]event, n)
	for i := range events {
		events[i] = insertEvent(t, s.pool, tutors.EventUpdated, nil)
	}
	// Small batches, so the two relays claim side by side.
	opts := outbox.Options{BatchSize: 3, PollInterval: 50 * time.Millisecond}
	a, b := s.relay(t, opts), s.relay(t, opts)
	run(t, a)
	run(t, b)
	eventually(t, 60*time.Second, "every event is dispatched", func() bool { return pending(t, s.pool) == 0 })

	sa, sb := a.Stats(), b.Stats()
	if got := sa.Started + sb.Started; got != n {
		t.Errorf("the relays started %d workflows (%d + %d), want %d", got, sa.Started, sb.Started, n)
	}
	if sa.AlreadyStarted+sb.AlreadyStarted+sa.Deferred+sb.Deferred+sa.Parked+sb.Parked != 0 {
		t.Errorf("stats %+v and %+v: want no repeated, deferred or parked dispatch", sa, sb)
	}
	ctx := context.Background()
	for _, ev := range events {
		r := readRow(t, s.pool, ev.id)
		if r.workflowID != ev.workflowID() {
			t.Errorf("event %s: recorded workflow id %q, want %q", ev.id, r.workflowID, ev.workflowID())
		}
		if _, err := s.tc.DescribeWorkflowExecution(ctx, ev.workflowID(), ""); err != nil {
			t.Errorf("workflow %s: %v", ev.workflowID(), err)
		}
	}
	// Temporal's own count of runs on the test's queue: one per event, none twice.
	query := fmt.Sprintf("TaskQueue = '%s%s'", s.prefix, workflows.QueueSearch)
	eventually(t, 30*time.Second, "Temporal lists one run per event", func() bool {
		resp, err := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && resp.GetCount() == n
	})
}

func TestRepeatedDispatchIsAnsweredAlreadyStarted(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ev := insertEvent(t, s.pool, tutors.EventUpdated, nil)
	r := s.relay(t, outbox.Options{})
	ctx := context.Background()
	if _, err := r.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := s.tc.DescribeWorkflowExecution(ctx, ev.workflowID(), "")
	if err != nil {
		t.Fatal(err)
	}
	// A relay that crashed after the start and before marking the row leaves it pending.
	if _, err := s.pool.Exec(ctx, "UPDATE outbox SET processed_at = NULL WHERE event_id = $1", ev.id); err != nil {
		t.Fatal(err)
	}
	// The run may have completed by now (REJECT_DUPLICATE refuses a new one) or not (the open
	// run's id conflicts): either way no second run starts.
	if _, err := r.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats(); got.Started != 1 || got.AlreadyStarted != 1 {
		t.Errorf("stats = %+v, want 1 started and 1 already started", got)
	}
	if !readRow(t, s.pool, ev.id).dispatched {
		t.Error("the repeated event is not marked dispatched")
	}
	again, err := s.tc.DescribeWorkflowExecution(ctx, ev.workflowID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.GetWorkflowExecutionInfo().GetExecution().GetRunId(), again.GetWorkflowExecutionInfo().GetExecution().GetRunId(); a != b {
		t.Errorf("the event has two runs: %s and %s", a, b)
	}
}

func TestUndispatchableEventsAreParkedWithoutBlockingTheRest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	unroutable := insertEvent(t, s.pool, "tutor.teleported", nil)
	malformed := insertEvent(t, s.pool, tutors.EventUpdated, []byte(`{"schema": 99}`))
	good := insertEvent(t, s.pool, tutors.EventUpdated, nil)
	r := s.relay(t, outbox.Options{})
	if _, err := r.DispatchBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		ev     event
		reason string
	}{
		{"an event type without a route", unroutable, `unroutable: no workflow handles event type "tutor.teleported"`},
		{"a payload of an unknown schema", malformed, "malformed: payload schema 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readRow(t, s.pool, tc.ev.id)
			if !strings.Contains(got.parkReason, tc.reason) || got.dispatched {
				t.Errorf("row = %+v, want parked with a reason containing %q", got, tc.reason)
			}
		})
	}
	if got := readRow(t, s.pool, good.id); !got.dispatched || got.parkReason != "" {
		t.Errorf("the valid event behind them: %+v, want dispatched", got)
	}
	if got := r.Stats(); got.Parked != 2 || got.Started != 1 {
		t.Errorf("stats = %+v, want 2 parked and 1 started", got)
	}
	if n, err := r.DispatchBatch(context.Background()); err != nil || n != 0 {
		t.Errorf("DispatchBatch after parking = %d, %v; want nothing left to claim", n, err)
	}
}

func TestFailedStartIsRetriedAfterBackoff(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ev := insertEvent(t, s.pool, tutors.EventCreated, nil)
	behind := insertEvent(t, s.pool, tutors.EventUpdated, nil)
	// A Temporal that does not answer: every start fails.
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: testenv.TemporalNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	broken, err := outbox.New(s.pool, down, outbox.Options{QueuePrefix: s.prefix, StartTimeout: time.Second, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n, err := broken.DispatchBatch(ctx); err != nil || n != 1 {
		t.Fatalf("DispatchBatch with Temporal down = %d, %v; want it to stop after the first failed start", n, err)
	}
	got := readRow(t, s.pool, ev.id)
	if got.dispatched || got.parkReason != "" || got.attempts != 1 || got.due || got.lastError == "" {
		t.Fatalf("after a failed start: %+v; want pending, not parked, 1 attempt, due later, the error kept", got)
	}
	if got := readRow(t, s.pool, behind.id); got.attempts != 0 || !got.due || got.dispatched {
		t.Fatalf("the event behind it: %+v; want untried and still due", got)
	}
	healthy := s.relay(t, outbox.Options{})
	if n, err := healthy.DispatchBatch(ctx); err != nil || n != 1 || !readRow(t, s.pool, behind.id).dispatched {
		t.Fatalf("DispatchBatch during the backoff = %d, %v; want only the event behind dispatched", n, err)
	}
	if readRow(t, s.pool, ev.id).dispatched {
		t.Fatal("the failed event was retried before its backoff ended")
	}
	if _, err := s.pool.Exec(ctx, "UPDATE outbox SET next_attempt_at = now() WHERE event_id = $1", ev.id); err != nil {
		t.Fatal(err)
	}
	if _, err := healthy.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readRow(t, s.pool, ev.id); !got.dispatched || got.lastError != "" {
		t.Errorf("after the backoff: %+v; want dispatched and the error cleared", got)
	}
}

func TestNotifyWakesTheRelay(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// No poll within the test's time: once the relay listens, only NOTIFY brings events in.
	r := s.relay(t, outbox.Options{PollInterval: time.Hour})
	run(t, r)
	eventually(t, 30*time.Second, "the relay listens on its own connection", func() bool {
		var n int
		err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query = 'LISTEN outbox'`).Scan(&n)
		return err == nil && n == 1
	})
	ev := insertEvent(t, s.pool, tutors.EventDeleted, nil)
	eventually(t, 30*time.Second, "the new event is dispatched without a poll", func() bool {
		return readRow(t, s.pool, ev.id).dispatched
	})
}

func TestMetricsShowBacklogAndDispatches(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	reader := sdkmetric.NewManualReader()
	r := s.relay(t, outbox.Options{Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	// lag is the relay lag histogram's one data point (of tutor.updated), when recorded.
	var lag *metricdata.HistogramDataPoint[float64]
	collect := func() map[string]float64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Histogram[float64]:
					if m.Name == "tutorhub.outbox.relay_lag" && len(d.DataPoints) == 1 {
						lag = &d.DataPoints[0]
					}
				case metricdata.Gauge[int64]:
					got[m.Name] = float64(d.DataPoints[0].Value)
				case metricdata.Gauge[float64]:
					got[m.Name] = d.DataPoints[0].Value
				case metricdata.Sum[int64]:
					got[m.Name] = float64(d.DataPoints[0].Value)
				}
			}
		}
		return got
	}
	for range 3 {
		insertEvent(t, s.pool, tutors.EventUpdated, nil)
	}
	insertEvent(t, s.pool, "tutor.teleported", nil)
	before := collect()
	if before["tutorhub.outbox.backlog"] != 4 || before["tutorhub.outbox.oldest_age"] <= 0 {
		t.Errorf("before dispatch: backlog %v, oldest age %v; want 4 and a positive age", before["tutorhub.outbox.backlog"], before["tutorhub.outbox.oldest_age"])
	}
	if lag != nil {
		t.Errorf("relay lag recorded before any dispatch: %+v", lag)
	}
	if _, err := r.DispatchBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := collect()
	// The three dispatched events, not the parked one, each at least its age at dispatch.
	if lag == nil {
		t.Fatal("no relay lag recorded after dispatch")
	}
	typ, _ := lag.Attributes.Value("event_type")
	if least, ok := lag.Min.Value(); lag.Count != 3 || typ.AsString() != tutors.EventUpdated || !ok || least <= 0 {
		t.Errorf("relay lag after dispatch: %+v; want 3 positive samples of %s", lag, tutors.EventUpdated)
	}
	for name, want := range map[string]float64{
		"tutorhub.outbox.backlog": 0, "tutorhub.outbox.oldest_age": 0, "tutorhub.outbox.dispatched": 3,
		"tutorhub.outbox.parked": 1, "tutorhub.outbox.parked_events": 1, "tutorhub.outbox.deferred": 0,
	} {
		if got, ok := after[name]; !ok || got != want {
			t.Errorf("after dispatch: %s = %v (reported: %v), want %v", name, got, ok, want)
		}
	}
}

// TestDomainWritesBecomeRunsFoundByTutorID follows real domain writes: a tutor created and
// deleted through package tutors leaves two outbox events, and the relay turns them into two
// IndexTutor runs that an operator finds by the TutorId search attribute.
func TestDomainWritesBecomeRunsFoundByTutorID(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	user := uuid.New()
	if err := queries.New(s.pool).EnsureUser(ctx, queries.EnsureUserParams{ID: user, Email: user.String() + "@example.com", DisplayName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	svc := tutors.New(s.pool, tutors.Options{})
	actor := tutors.Actor{UserID: user, EmailVerified: true}
	tutor, err := svc.Create(ctx, actor, tutors.Profile{Headline: "Mathematics, patiently", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, actor, tutor.ID); err != nil {
		t.Fatal(err)
	}
	r := s.relay(t, outbox.Options{})
	if _, err := r.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats(); got.Started != 2 || got.Parked != 0 {
		t.Fatalf("stats = %+v, want the created and deleted events started", got)
	}
	query := fmt.Sprintf("TutorId = '%s' AND TaskQueue = '%s%s'", tutor.ID, s.prefix, workflows.QueueSearch)
	eventually(t, 30*time.Second, "Temporal finds two runs by TutorId", func() bool {
		resp, err := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && resp.GetCount() == 2
	})
	for _, typ := range []string{tutors.EventCreated, tutors.EventDeleted} {
		q := fmt.Sprintf("TutorId = '%s' AND EventType = '%s'", tutor.ID, typ)
		resp, err := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil || resp.GetCount() != 1 {
			t.Errorf("runs with %s: %d, %v; want 1", q, resp.GetCount(), err)
		}
	}
}

// TestOneTraceFromTheWriteToTheActivity follows a tutor write made inside a request's span:
// the outbox row keeps the span's traceparent, the relay's dispatch span is that span's
// child, and the SDK's OpenTelemetry interceptor carries the trace through the start's header
// into the workflow run and its activity, so one trace shows write -> outbox -> workflow ->
// activity. An event written outside any span still gets a dispatch trace of its own.
func TestOneTraceFromTheWriteToTheActivity(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	_, queue := testenv.Temporal(t)
	var rec tracetest.SpanRecorder
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(&rec))
	ctx := context.Background()
	tc, err := temporalclient.Dial(ctx, config.Temporal{Address: testenv.TemporalAddress(), Namespace: testenv.TemporalNamespace()}, temporalclient.Options{Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	prefix := queue + "/"
	w := worker.New(tc, prefix+workflows.QueueSearch, worker.Options{})
	registerSearch(w, pool)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// The request: a tutor created inside its span, as the API's edge middleware opens one.
	user := uuid.New()
	if err := queries.New(pool).EnsureUser(ctx, queries.EnsureUserParams{ID: user, Email: user.String() + "@example.com", DisplayName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	reqCtx, request := tp.Tracer("test").Start(ctx, "POST /api/v1/tutors")
	tutor, err := tutors.New(pool, tutors.Options{}).Create(reqCtx, tutors.Actor{UserID: user, EmailVerified: true},
		tutors.Profile{Headline: "Mathematics, patiently", TimeZone: "Europe/Berlin"})
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := pool.QueryRow(ctx, "SELECT coalesce(traceparent, '') FROM outbox WHERE aggregate_id = $1", tutor.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("00-%s-%s-01", request.SpanContext().TraceID(), request.SpanContext().SpanID()); stored != want {
		t.Fatalf("the outbox row's traceparent = %q, want the request span's %q", stored, want)
	}
	insertEvent(t, pool, tutors.EventUpdated, nil) // written outside any span

	r, err := outbox.New(pool, tc, outbox.Options{QueuePrefix: prefix, Tracer: tp, ListenURL: testenv.ListenURL(pool)})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.DispatchBatch(ctx); err != nil || n != 2 {
		t.Fatalf("DispatchBatch = %d, %v; want both events dispatched", n, err)
	}
	var workflowID string
	if err := pool.QueryRow(ctx, "SELECT workflow_id FROM outbox WHERE aggregate_id = $1", tutor.ID).Scan(&workflowID); err != nil {
		t.Fatal(err)
	}
	if err := tc.GetWorkflow(ctx, workflowID, "").Get(ctx, nil); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	// spans returns the ended spans named name, in the order they ended.
	spans := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == name {
				out = append(out, s)
			}
		}
		return out
	}
	trace := request.SpanContext().TraceID()
	var dispatch, other sdktrace.ReadOnlySpan
	for _, s := range spans("outbox.dispatch") {
		if s.SpanContext().TraceID() == trace {
			dispatch = s
		} else {
			other = s
		}
	}
	if dispatch == nil {
		t.Fatalf("no outbox.dispatch span in the request's trace %s", trace)
	}
	if got := dispatch.Parent().SpanID(); got != request.SpanContext().SpanID() {
		t.Errorf("the dispatch span's parent is %s, want the request's span %s", got, request.SpanContext().SpanID())
	}
	if other == nil || other.Parent().IsValid() {
		t.Errorf("the event written outside a span: dispatch span %v; want a root span of its own trace", other)
	}
	inTrace := func(name string) bool {
		for _, s := range spans(name) {
			if s.SpanContext().TraceID() == trace {
				return true
			}
		}
		return false
	}
	for _, name := range []string{
		"StartWorkflow:" + workflows.IndexTutorName,
		"RunWorkflow:" + workflows.IndexTutorName,
		"StartActivity:" + activities.IndexTutorDocumentName,
		"RunActivity:" + activities.IndexTutorDocumentName,
	} {
		eventually(t, 10*time.Second, name+" ends in the request's trace", func() bool { return inTrace(name) })
	}
}

// TestAnEventWithSeveralRoutesStartsEachRunOnce: a tutor's publication is indexed and
// announced to its owner; the row records both runs, and a repeated dispatch starts neither
// again.
func TestAnEventWithSeveralRoutesStartsEachRunOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ev := insertEvent(t, s.pool, tutors.EventPublished, nil)
	r := s.relay(t, outbox.Options{})
	ctx := context.Background()
	notifyID := "notify/" + ev.id.String()
	// Nothing serves the test's notifications queue: end the announcement's run when done.
	t.Cleanup(func() { _ = s.tc.TerminateWorkflow(context.Background(), notifyID, "", "test done") })
	for range 2 {
		if _, err := r.DispatchBatch(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, "UPDATE outbox SET processed_at = NULL WHERE event_id = $1", ev.id); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Stats(); got.Started != 1 || got.AlreadyStarted != 1 {
		t.Errorf("stats = %+v, want the event started once (both runs) and found already started once", got)
	}
	for _, id := range []string{ev.workflowID(), notifyID} {
		if _, err := s.tc.DescribeWorkflowExecution(ctx, id, ""); err != nil {
			t.Errorf("run %s: %v", id, err)
		}
	}
	if got, want := readRow(t, s.pool, ev.id).workflowID, ev.workflowID(); got != want {
		t.Errorf("recorded workflow id %q, want the first route's %q", got, want)
	}
	d, err := s.tc.DescribeWorkflowExecution(ctx, notifyID, "")
	if err != nil {
		t.Fatal(err)
	}
	if tq := d.GetWorkflowExecutionInfo().GetTaskQueue(); tq != s.prefix+workflows.QueueNotifications {
		t.Errorf("NotifyFanout runs on %q, want the notifications queue", tq)
	}
}
