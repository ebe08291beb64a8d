package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// quietLogger is the log of the in-process relay, worker and Temporal client: warnings and
// errors only, so a run of thousands of events does not print a line per event.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// indexTutors puts every seeded tutor (published or not, as the live index holds them) into
// the PostgreSQL search index through the search package: pages of search.MaxBulk read in
// order through the tutors package, each bulk-upserted by one of indexWriters writers, so
// SearchTutors searches the catalogue ListTutors lists.
func indexTutors(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	names, err := subjectNames(ctx, pool)
	if err != nil {
		return 0, err
	}
	svc := tutors.New(pool, tutors.Options{})
	engine := search.NewPostgres(pool, pagetoken.NewCodec([]byte("loadtest page tokens, unused here")))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bulks := make(chan []search.Document)
	var indexed atomic.Int64
	var wg sync.WaitGroup
	for range indexWriters {
		wg.Go(func() {
			for docs := range bulks {
				if err := engine.BulkUpsert(ctx, docs); err != nil {
					cancel(err)
					return
				}
				indexed.Add(int64(len(docs)))
			}
		})
	}
	err = func() error {
		defer close(bulks)
		admin := &tutors.Actor{UserID: uuid.New(), Admin: true}
		filter := tutors.ListFilter{IncludeUnpublished: true, Limit: search.MaxBulk}
		for {
			page, err := svc.List(ctx, admin, filter)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				return nil
			}
			docs := make([]search.Document, 0, len(page))
			for _, t := range page {
				docs = append(docs, search.FromTutor(t, names))
			}
			select {
			case bulks <- docs:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			if len(page) < int(filter.Limit) {
				return nil
			}
			pos := page[len(page)-1].Position()
			filter.After = &pos
		}
	}()
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return int(indexed.Load()), fmt.Errorf("index tutors: %w", err)
	}
	return int(indexed.Load()), nil
}

// indexWriters is how many bulk upserts run at once while indexing: one per core of the
// development machine.
const indexWriters = 2

func subjectNames(ctx context.Context, pool *pgxpool.Pool) (map[uuid.UUID]string, error) {
	rows, err := pool.Query(ctx, `SELECT id, name FROM subjects`)
	if err != nil {
		return nil, fmt.Errorf("subject names: %w", err)
	}
	names := map[uuid.UUID]string{}
	var id uuid.UUID
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		names[id] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("subject names: %w", err)
	}
	return names, nil
}

// searchScenarios search the seeded catalogue the way the public does, at the same
// concurrency as the ListTutors rows: a word of the bios by relevance, a word within a
// subject and a price range by price, and a misspelt word with every facet counted.
func searchScenarios(subjects []string, tutors int) []scenario {
	words := []string{"exams", "patient", "homework", "beginners", "structured", "explanations", "coaching", "practice", "recap", "creative"}
	misspelt := []string{"experiensed", "pateint", "homewrok", "begginers", "strucutred", "explenations", "coachng", "practise", "recapp", "creatve"}
	facets := []tutorhubv1.SearchFacet{
		tutorhubv1.SearchFacet_SEARCH_FACET_SUBJECT, tutorhubv1.SearchFacet_SEARCH_FACET_LEVEL,
		tutorhubv1.SearchFacet_SEARCH_FACET_LANGUAGE, tutorhubv1.SearchFacet_SEARCH_FACET_LESSON_MODE,
		tutorhubv1.SearchFacet_SEARCH_FACET_CURRENCY,
	}
	searchTutors := func(build func(i int) *tutorhubv1.SearchTutorsRequest) func(base string) func(context.Context) error {
		return func(base string) func(context.Context) error {
			c := tutorhubv1connect.NewSearchServiceClient(transport(), base)
			var next atomic.Int64
			return func(ctx context.Context) error {
				_, err := c.SearchTutors(ctx, build(int(next.Add(1))))
				return err
			}
		}
	}
	return []scenario{
		{name: fmt.Sprintf("SearchTutors over %d tutors: a word of the bio, by relevance", tutors), setup: searchTutors(func(i int) *tutorhubv1.SearchTutorsRequest {
			return &tutorhubv1.SearchTutorsRequest{Query: words[i%len(words)], PageSize: pageSize}
		})},
		{name: fmt.Sprintf("SearchTutors over %d tutors: a word + subject + currency + price range, by price", tutors), setup: searchTutors(func(i int) *tutorhubv1.SearchTutorsRequest {
			return &tutorhubv1.SearchTutorsRequest{Query: words[i%len(words)], SubjectId: subjects[i%len(subjects)], Currency: "EUR",
				MinHourlyRateMinor: 2000, MaxHourlyRateMinor: 6000, Sort: tutorhubv1.SearchSort_SEARCH_SORT_PRICE, PageSize: pageSize}
		})},
		{name: fmt.Sprintf("SearchTutors over %d tutors: a misspelt word, every facet counted", tutors), setup: searchTutors(func(i int) *tutorhubv1.SearchTutorsRequest {
			return &tutorhubv1.SearchTutorsRequest{Query: misspelt[i%len(misspelt)], Facets: facets, PageSize: pageSize}
		})},
	}
}

// dialTemporal connects to the Temporal server the tests use (testenv.TemporalAddress and
// TemporalNamespace: the local stack's dev server and its tutorhub namespace by default).
func dialTemporal(ctx context.Context) (client.Client, error) {
	cfg := config.Temporal{Address: testenv.TemporalAddress(), Namespace: testenv.TemporalNamespace()}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tc, err := temporalclient.Dial(dctx, cfg, temporalclient.Options{Logger: quietLogger()})
	if err != nil {
		return nil, fmt.Errorf("%w (start it with deploy/local/up.sh)", err)
	}
	return tc, nil
}

// queuePrefix keeps this run's workflows on task queues of its own, as the tests' do, so no
// other worker on the shared namespace takes them.
func queuePrefix() string {
	return fmt.Sprintf("loadtest-%d-%d/", os.Getpid(), time.Now().UnixNano())
}

// relayResult is the relay's drain of a backlog.
type relayResult struct {
	// Events is the backlog's size; Elapsed the time until the last was dispatched.
	Events  int
	Elapsed time.Duration
	// PerSecond is Events over Elapsed.
	PerSecond float64
	// BatchSize is the relay's batch (its default).
	BatchSize int
	// Parked and Deferred count events not dispatched at the first attempt (want none).
	Parked, Deferred int64
}

// noopIndexTutor stands in for IndexTutor in the relay scenario: the runs complete at once,
// and the namespace is left with no open run.
func noopIndexTutor(workflow.Context, workflows.IndexTutorInput) error { return nil }

// relayThroughput writes a backlog of n tutor events into the outbox at once and times one
// relay, in process with the worker's defaults, until every event is dispatched: started on
// Temporal (IndexTutor's route, on this run's own task queue) and marked in its row. Only then
// does a worker run the started workflows (no-ops), so the figure is the relay's and not
// shared with their execution; the scenario ends when Temporal has completed every run, so
// it leaves no open run behind.
func relayThroughput(ctx context.Context, pool *pgxpool.Pool, tc client.Client, n int) (relayResult, error) {
	prefix := queuePrefix()
	// The scenarios before this one wrote (profile edits, sign-ins) into this run's own database,
	// which no relay serves: their events are set aside, so the backlog is exactly n.
	tag, err := pool.Exec(ctx, `UPDATE outbox SET processed_at = now() WHERE processed_at IS NULL AND parked_at IS NULL`)
	if err != nil {
		return relayResult{}, fmt.Errorf("relay scenario: set aside earlier events: %w", err)
	}
	if tag.RowsAffected() > 0 {
		logf("relay: set aside %d events the earlier scenarios' writes left in the outbox", tag.RowsAffected())
	}
	_, err = pool.Exec(ctx, `
		WITH ids AS (SELECT gen_random_uuid() AS id FROM generate_series(1, $1::int))
		INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
		SELECT $2, id, $3, jsonb_build_object('schema', $4::int, 'tutor_id', id, 'user_id', gen_random_uuid(), 'version', 1, 'published', true)
		FROM ids`, n, tutors.Aggregate, tutors.EventUpdated, tutors.EventSchema)
	if err != nil {
		return relayResult{}, fmt.Errorf("relay scenario: write the backlog: %w", err)
	}
	relay, err := outbox.New(pool, tc, outbox.Options{Logger: quietLogger(), QueuePrefix: prefix})
	if err != nil {
		return relayResult{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- relay.Run(rctx) }()
	// The backlog is counted every relayPollInterval: often enough for a drain of seconds,
	// seldom enough to take nothing from the relay.
	err = pollUntil(ctx, relayPollInterval, 10*time.Minute, func() (bool, error) {
		p, err := pendingEvents(ctx, pool)
		return p == 0, err
	})
	elapsed := time.Since(start)
	cancel()
	err = errors.Join(err, <-done)
	if err != nil {
		return relayResult{}, fmt.Errorf("relay scenario: %w", err)
	}
	st := relay.Stats()
	res := relayResult{Events: n, Elapsed: elapsed, PerSecond: float64(n) / elapsed.Seconds(), BatchSize: int(outboxBatchSize), Parked: st.Parked, Deferred: st.Deferred}
	if st.Started != int64(n) {
		return res, fmt.Errorf("relay scenario: the relay started %d workflows for %d events (stats %+v)", st.Started, n, st)
	}

	queue := prefix + workflows.QueueSearch
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(noopIndexTutor, workflow.RegisterOptions{Name: workflows.IndexTutorName})
	if err := w.Start(); err != nil {
		return res, fmt.Errorf("relay scenario worker: %w", err)
	}
	defer w.Stop()
	logf("relay: %d events dispatched in %s; waiting for their runs to complete", n, elapsed.Round(time.Millisecond))
	query := fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Completed'", queue)
	err = pollUntil(ctx, time.Second, 10*time.Minute, func() (bool, error) {
		c, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && c.GetCount() == int64(n), err
	})
	if err != nil {
		return res, fmt.Errorf("relay scenario: the started runs did not complete: %w", err)
	}
	return res, nil
}

// outboxBatchSize is outbox.Options.BatchSize's default, which the worker runs with.
const outboxBatchSize = 100

func pendingEvents(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE processed_at IS NULL AND parked_at IS NULL`).Scan(&n)
	return n, err
}

// relayPollInterval is how often the relay scenario counts the backlog.
const relayPollInterval = 50 * time.Millisecond

// pollUntil calls done every interval until it reports true, fails, or within passes.
func pollUntil(ctx context.Context, interval, within time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// lagResult is the time from a committed tutor write to the index holding its version.
type lagResult struct {
	// Rate is the writes started per second, for Duration; Writes how many committed.
	Rate     int
	Duration time.Duration
	Writes   int
	// Searchable counts the writes whose version reached the index within LagTimeout; the
	// percentiles are over those.
	Searchable    int
	P50, P99, Max time.Duration
	// PollInterval is how often the index was read; Timeout how long stragglers were awaited.
	PollInterval, Timeout time.Duration
	// Errors counts writes that failed (want none).
	Errors int64
}

// lagPollInterval is how often the lag scenario looks at the index; the lags it measures are
// at most this much late.
const lagPollInterval = 5 * time.Millisecond

// lagTimeout bounds how long after the last write the scenario waits for stragglers.
const lagTimeout = time.Minute

// tutorToWrite is a seeded tutor the lag scenario updates, once.
type tutorToWrite struct {
	id, owner uuid.UUID
	version   int64
}

// writeToSearchable updates rate tutors a second for d through the tutors package (each
// write commits its outbox event with it) while this process runs what `tutorhub worker`
// runs, on task queues of its own: the outbox relay and a search-queue worker with
// IndexTutor and its activities. For each write it polls the PostgreSQL index until the
// document holds the write's version.
func writeToSearchable(ctx context.Context, pool *pgxpool.Pool, tc client.Client, rate int, d time.Duration) (lagResult, error) {
	res := lagResult{Rate: rate, Duration: d, PollInterval: lagPollInterval, Timeout: lagTimeout}
	n := int(float64(rate) * d.Seconds())
	rows, err := pool.Query(ctx, `SELECT id, user_id, version FROM tutors WHERE published AND deleted_at IS NULL ORDER BY md5(id::text) DESC LIMIT $1`, n)
	if err != nil {
		return res, err
	}
	targets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutorToWrite, error) {
		var t tutorToWrite
		return t, r.Scan(&t.id, &t.owner, &t.version)
	})
	if err != nil || len(targets) < n {
		return res, errors.Join(err, fmt.Errorf("lag scenario: %d published tutors to update, want %d", len(targets), n))
	}

	prefix := queuePrefix()
	engine := search.NewPostgres(pool, pagetoken.NewCodec([]byte("loadtest page tokens, unused here")))
	w := worker.New(tc, prefix+workflows.QueueSearch, worker.Options{})
	registerIndexing(w, pool, engine)
	if err := w.Start(); err != nil {
		return res, fmt.Errorf("lag scenario worker: %w", err)
	}
	defer w.Stop()
	relay, err := outbox.New(pool, tc, outbox.Options{Logger: quietLogger(), QueuePrefix: prefix})
	if err != nil {
		return res, err
	}
	rctx, cancelRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()
	defer func() { cancelRelay(); <-relayDone }()

	// The writer commits one update every 1/rate, each in its own goroutine so a slow commit
	// never delays the next; the poller records when each committed version is in the index.
	type write struct {
		version   int64
		committed time.Time
	}
	var (
		mu        sync.Mutex
		waiting   = map[uuid.UUID]write{}
		lags      []time.Duration
		errs      atomic.Int64
		wg        sync.WaitGroup
		writesEnd = make(chan struct{})
	)
	svc := tutors.New(pool, tutors.Options{})
	// On an early return the writer stops starting writes, and the ones in flight finish
	// before the pool may close.
	wctx, stopWrites := context.WithCancel(ctx)
	defer func() { stopWrites(); <-writesEnd }()
	go func() {
		defer close(writesEnd)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i, t := range targets {
			if i > 0 {
				select {
				case <-tick.C:
				case <-wctx.Done():
					wg.Wait()
					return
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				headline := fmt.Sprintf("Load test tutor, write %d", i+1)
				got, err := svc.Update(ctx, tutors.Actor{UserID: t.owner}, t.id, t.version, tutors.Profile{Headline: headline}, []string{"headline"})
				if err != nil {
					errs.Add(1)
					logf("lag scenario: update tutor %s: %v", t.id, err)
					return
				}
				committed := time.Now()
				mu.Lock()
				waiting[t.id] = write{version: got.Version, committed: committed}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}()

	var lastWrite time.Time
	for {
		mu.Lock()
		ids := make([]string, 0, len(waiting))
		for id := range waiting {
			ids = append(ids, id.String())
		}
		mu.Unlock()
		if len(ids) > 0 {
			rows, err := pool.Query(ctx, `SELECT id, version FROM search_documents WHERE id = ANY($1::uuid[])`, ids)
			if err != nil {
				return res, fmt.Errorf("lag scenario: poll the index: %w", err)
			}
			now := time.Now()
			var id uuid.UUID
			var version int64
			_, err = pgx.ForEachRow(rows, []any{&id, &version}, func() error {
				mu.Lock()
				defer mu.Unlock()
				if w, ok := waiting[id]; ok && version >= w.version {
					lags = append(lags, now.Sub(w.committed))
					delete(waiting, id)
				}
				return nil
			})
			if err != nil {
				return res, fmt.Errorf("lag scenario: poll the index: %w", err)
			}
		}
		select {
		case <-writesEnd:
			if lastWrite.IsZero() {
				lastWrite = time.Now()
			}
		default:
		}
		mu.Lock()
		left := len(waiting)
		mu.Unlock()
		if !lastWrite.IsZero() && (left == 0 || time.Since(lastWrite) > lagTimeout) {
			break
		}
		time.Sleep(lagPollInterval)
	}
	res.Errors = errs.Load()
	res.Writes = len(targets) - int(res.Errors)
	// Each committed write started one IndexTutor run; wait for them all before the worker
	// stops, so the run leaves no open workflow behind.
	query := fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Completed'", prefix+workflows.QueueSearch)
	err = pollUntil(ctx, time.Second, lagTimeout, func() (bool, error) {
		c, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && c.GetCount() >= int64(res.Writes), err
	})
	if err != nil {
		logf("lag scenario: not every IndexTutor run completed: %v", err)
	}
	res.Searchable = len(lags)
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) > 0 {
		res.P50, res.P99, res.Max = percentile(lags, 0.50), percentile(lags, 0.99), lags[len(lags)-1]
	}
	return res, nil
}

// percentile is the p-th of sorted durations (nearest rank below).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

// registerIndexing registers what `tutorhub worker` runs on the search queue: IndexTutor and
// its activities, reading tutors from pool and writing into engine.
func registerIndexing(w worker.Worker, pool *pgxpool.Pool, engine search.Engine) {
	workflows.RegisterSearch(w)
	activities.RegisterSearch(w, &activities.SearchActivities{Tutors: tutors.New(pool, tutors.Options{}), Engine: engine})
}

// withPool runs fn with a pool on dbURL, closed afterwards.
func withPool[T any](ctx context.Context, dbURL string, fn func(context.Context, *pgxpool.Pool) (T, error)) (T, error) {
	var zero T
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return zero, err
	}
	defer pool.Close()
	return fn(ctx, pool)
}

// runAsync measures the relay and the write-to-searchable lag into rep.
func runAsync(ctx context.Context, rep *report, dbURL string, o asyncOptions) error {
	tc, err := dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	_, err = withPool(ctx, dbURL, func(ctx context.Context, pool *pgxpool.Pool) (struct{}, error) {
		if o.relayEvents > 0 {
			logf("relay: draining %d outbox events", o.relayEvents)
			r, err := relayThroughput(ctx, pool, tc, o.relayEvents)
			if err != nil {
				return struct{}{}, err
			}
			rep.Relay = &r
		}
		if o.lagRate > 0 {
			logf("write-to-searchable lag: %d writes/s for %s", o.lagRate, o.lagDuration)
			l, err := writeToSearchable(ctx, pool, tc, o.lagRate, o.lagDuration)
			if err != nil {
				return struct{}{}, err
			}
			rep.Lag = &l
		}
		return struct{}{}, nil
	})
	return err
}
