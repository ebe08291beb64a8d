// Package outbox moves outbox events to Temporal: the relay claims events that domain writes
// recorded in their own transactions and starts, for each, the workflows its type is routed
// to (workflows.RoutesFor: a processing workflow such as IndexTutor, and NotifyFanout when
// the event notifies someone). The row is marked dispatched, with the first route's workflow
// id, once every run is started.
//
// Guarantees:
//   - Every event is dispatched at least once and its workflow runs at most once: the workflow
//     id derives from the event id and the start refuses a second run of that id
//     (WorkflowIDReusePolicy REJECT_DUPLICATE), so a start repeated after a crash, or by a
//     second relay, is answered "already started" and only marks the row.
//   - Several relays at once never claim the same event (FOR UPDATE SKIP LOCKED).
//   - A failed start (Temporal unreachable, overloaded) is retried with capped exponential
//     backoff per event; the batch stops there, and the events behind it are tried at the
//     next poll, so an outage costs one start timeout per poll, not one per event. A start
//     refused by the Temporal client's open circuit breaker (temporalclient.Options.Breaker)
//     costs no wait and no attempt: the event stays due for the first poll after recovery.
//   - An event that can never be dispatched (no route for its type, a malformed payload, a start
//     the server rejects as invalid) is parked with its reason and never blocks the rest.
//   - Each dispatch is traced as a child of the span that wrote the event (its stored W3C
//     traceparent), and the SDK's interceptor continues that trace into the workflow and its
//     activities: one trace shows request -> outbox -> workflow -> activity.
//   - The relay wakes on NOTIFY outbox, and polls as well, so a lost notification or a dropped
//     listening connection delays an event by at most the poll interval.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/workflows"
)

// Options tune a Relay; zero fields take the defaults named on each.
type Options struct {
	// Logger receives the relay's log lines (default: slog.Default()).
	Logger *slog.Logger
	// BatchSize is how many events one transaction claims (default 100).
	BatchSize int32
	// PollInterval is how often the relay looks for events without a notification
	// (default 5s).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the delay before an event whose start failed is tried
	// again; it doubles per attempt (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// StartTimeout bounds one workflow start (default 10s).
	StartTimeout time.Duration
	// QueuePrefix is put before every route's task queue; tests use it to keep their
	// workflows on queues of their own. Empty in production.
	QueuePrefix string
	// ListenURL is the database the LISTEN connection opens, when the pool goes through a
	// transaction-pooling proxy (PgBouncer) that cannot hold a session; empty connects like
	// the pool.
	ListenURL string
	// Tracer traces each dispatch as a span that the workflow's own spans continue (default:
	// the OpenTelemetry global provider).
	Tracer trace.TracerProvider
	// Meter, when set, receives the relay's metrics: events dispatched, found already
	// dispatched, deferred and parked, the backlog's size and oldest age, and the lag from an
	// event's creation to its dispatch.
	Meter metric.MeterProvider
	// Route routes an event type to its workflow. Tests use it to stand for a release that
	// routes a type the running one parks. Set, it replaces Routes with its one route.
	Route func(eventType string) (workflows.Route, bool)
	// Routes routes an event type to every workflow it starts (default: workflows.RoutesFor;
	// none parks the event).
	Routes func(eventType string) []workflows.Route
}

// Stats counts what a relay did since it was created.
type Stats struct {
	// Started counts events this relay dispatched by starting their workflow (for an event
	// with several routes, at least one of them).
	Started int64
	// AlreadyStarted counts events whose workflows had all been started before (by this or
	// another relay), which were only marked dispatched.
	AlreadyStarted int64
	// Deferred counts failed starts, each retried later.
	Deferred int64
	// Parked counts events taken out of the queue as undispatchable.
	Parked int64
}

// Relay dispatches outbox events to Temporal workflows. Its methods are safe for concurrent
// use, and any number of relays may run against one database.
type Relay struct {
	pool     *pgxpool.Pool
	temporal client.Client
	opts     Options
	log      *slog.Logger
	tracer   trace.Tracer

	started, alreadyStarted, deferred, parked atomic.Int64
	metrics                                   *relayMetrics
}

// New returns a relay reading pool's outbox and starting workflows through temporal.
func New(pool *pgxpool.Pool, temporal client.Client, opts Options) (*Relay, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Minute, opts.MinBackoff)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.Tracer == nil {
		opts.Tracer = otel.GetTracerProvider()
	}
	switch {
	case opts.Route != nil:
		route := opts.Route
		opts.Routes = func(t string) []workflows.Route {
			if r, ok := route(t); ok {
				return []workflows.Route{r}
			}
			return nil
		}
	case opts.Routes == nil:
		opts.Routes = workflows.RoutesFor
	}
	r := &Relay{
		pool: pool, temporal: temporal, opts: opts,
		log:    opts.Logger.With("component", "outbox_relay"),
		tracer: opts.Tracer.Tracer("github.com/tutorhub/tutorhub/outbox"),
	}
	if opts.Meter != nil {
		m, err := newRelayMetrics(opts.Meter.Meter("github.com/tutorhub/tutorhub/outbox"), r)
		if err != nil {
			return nil, err
		}
		r.metrics = m
	}
	return r, nil
}

// Stats returns the relay's counts so far.
func (r *Relay) Stats() Stats {
	return Stats{Started: r.started.Load(), AlreadyStarted: r.alreadyStarted.Load(), Deferred: r.deferred.Load(), Parked: r.parked.Load()}
}

// Run dispatches events until ctx ends, then returns nil once the batch in hand is settled.
// Database errors are logged and retried; they never end Run.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		r.listen(ctx, wake)
	}()
	defer func() { <-listening }()
	r.log.Info("outbox relay started", "poll_interval", r.opts.PollInterval.String(), "batch_size", r.opts.BatchSize)
	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	for {
		for ctx.Err() == nil {
			n, err := r.DispatchBatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.log.ErrorContext(ctx, "outbox relay: dispatch failed; retrying at the next poll", "error", err)
				}
				break
			}
			if n < int(r.opts.BatchSize) {
				break
			}
		}
		select {
		case <-ctx.Done():
			r.log.Info("outbox relay stopped")
			return nil
		case <-wake:
		case <-poll.C:
		}
	}
}

// DispatchBatch claims up to BatchSize due events in one transaction and settles them
// (dispatched, deferred or parked), returning how many it settled. It stops at the first
// failed start, and when ctx ends: the events settled so far are committed and the rest stay
// pending and due. Fewer than BatchSize means there is nothing more to do before the next
// wake-up or poll.
func (r *Relay) DispatchBatch(ctx context.Context) (int, error) {
	// The claimed rows are settled and committed even when ctx ends during the batch: a
	// started workflow's row is then marked now rather than found "already started" later.
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.StartTimeout+30*time.Second)
	defer cancel()
	tx, err := r.pool.Begin(dbctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(dbctx) //nolint:errcheck // a no-op after Commit
	q := queries.New(tx)
	rows, err := q.ClaimOutboxEvents(dbctx, r.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claim outbox events: %w", err)
	}
	settled := 0
	var dispatched []queries.ClaimOutboxEventsRow
	for _, row := range rows {
		if ctx.Err() != nil {
			break // unsettled rows stay pending, unlocked at commit
		}
		failed, err := r.settle(ctx, dbctx, q, row, &dispatched)
		if err != nil {
			return 0, err
		}
		settled++
		if failed {
			// Temporal is likely down for every event: leave the rest of the batch due, rather
			// than hold its locks through one start timeout per event.
			break
		}
	}
	if err := tx.Commit(dbctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	for _, row := range dispatched {
		r.metrics.dispatched(dbctx, row.EventType, row.CreatedAt)
	}
	return settled, nil
}

// settle dispatches one claimed event and records the outcome in its row, adding the row to
// dispatched when it is marked dispatched; failed reports a start that failed and was
// deferred. It returns an error only when the row could not be
// written.
func (r *Relay) settle(ctx, dbctx context.Context, q *queries.Queries, row queries.ClaimOutboxEventsRow, dispatched *[]queries.ClaimOutboxEventsRow) (failed bool, err error) {
	ev := workflows.Event{ID: row.EventID, AggregateType: row.AggregateType, AggregateID: row.AggregateID, Type: row.EventType, Payload: []byte(row.Payload), CreatedAt: row.CreatedAt}
	// The dispatch continues the trace of the request that wrote the event (when it recorded
	// one); Temporal's interceptor carries it on to the workflow and its activities.
	ctx = telemetry.ContextWithTraceParent(ctx, row.Traceparent)
	ctx, span := r.tracer.Start(ctx, "outbox.dispatch", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("outbox.event_id", ev.ID.String()), attribute.String("outbox.event_type", ev.Type),
		attribute.Int64("outbox.seq", row.Seq), attribute.Int("outbox.attempts", int(row.Attempts))))
	defer span.End()
	log := r.log.With("event_id", ev.ID.String(), "event_type", ev.Type, "seq", row.Seq)

	routes := r.opts.Routes(ev.Type)
	if len(routes) == 0 {
		return false, r.park(ctx, dbctx, q, row, span, log, fmt.Sprintf("unroutable: no workflow handles event type %q", ev.Type))
	}
	inputs := make([]any, len(routes))
	for i, route := range routes {
		input, err := route.Input(ev)
		if err != nil {
			return false, r.park(ctx, dbctx, q, row, span, log, "malformed: "+err.Error())
		}
		inputs[i] = input
	}
	// An event with several routes starts each run in order; a failed start defers the
	// event, and the runs already started are found "already started" on the next attempt.
	ids := make([]string, len(routes))
	anyNew := false
	for i, route := range routes {
		ids[i] = route.WorkflowID(ev)
		res, err := r.start(ctx, dbctx, q, row, span, log, route, ids[i], ev, inputs[i])
		switch {
		case err != nil:
			return res == startDeferred, err
		case res == startNew:
			anyNew = true
		case res == startDeferred:
			return true, nil
		case res == startParked:
			return false, nil
		}
	}
	// The counters count events: started when this relay started any of its runs, already
	// started when every run had been started before.
	if anyNew {
		r.started.Add(1)
	} else {
		r.alreadyStarted.Add(1)
	}
	// The row keeps the first route's run; the others' ids derive from the event id alone
	// (NotifyFanout's is "notify/<event id>").
	if err := q.MarkOutboxDispatched(dbctx, queries.MarkOutboxDispatchedParams{Seq: row.Seq, WorkflowID: ids[0]}); err != nil {
		return false, fmt.Errorf("mark outbox event %d dispatched: %w", row.Seq, err)
	}
	*dispatched = append(*dispatched, row)
	return false, nil
}

// Outcomes of one start.
type startResult int

const (
	// startNew: the run was started now.
	startNew startResult = iota
	// startAlready: the run had been started before.
	startAlready
	// startDeferred: the start failed (or the relay is shutting down); the row stays due.
	startDeferred
	// startParked: Temporal rejected the start as invalid; the row is parked.
	startParked
)

// start starts one route's run of ev, and on a start that fails defers (or parks) the
// event's row.
func (r *Relay) start(ctx, dbctx context.Context, q *queries.Queries, row queries.ClaimOutboxEventsRow, span trace.Span, log *slog.Logger,
	route workflows.Route, id string, ev workflows.Event, input any) (startResult, error) {
	span.SetAttributes(attribute.String("temporal.workflow_id", id))
	sctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	_, err := r.temporal.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             r.opts.QueuePrefix + route.Queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// A run of this id that is still open is also "already started", never a second run.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.SearchAttributes(ev),
	}, route.Workflow, input)
	cancel()
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	var invalid *serviceerror.InvalidArgument
	switch {
	case err == nil:
		log.InfoContext(ctx, "outbox event dispatched", "workflow_id", id)
		return startNew, nil
	case errors.As(err, &already):
		log.InfoContext(ctx, "outbox event was already dispatched", "workflow_id", id)
		return startAlready, nil
	case errors.As(err, &invalid):
		return startParked, r.park(ctx, dbctx, q, row, span, log, "rejected by Temporal: "+err.Error())
	case ctx.Err() != nil:
		// Shutting down mid-start: the row stays due, and the next relay finds out whether the
		// start went through ("already started") without charging the event an attempt.
		return startDeferred, nil
	case errors.Is(err, breaker.ErrOpen):
		// Temporal is known to be down and nothing was sent: the row stays due, without an
		// attempt charged, so it goes out at the first poll after Temporal is back rather
		// than after a backoff that grew through the outage.
		r.deferred.Add(1)
		log.DebugContext(ctx, "outbox event left for later: Temporal's circuit breaker is open", "error", err)
		return startDeferred, nil
	default:
		delay := r.backoff(row.Attempts)
		r.deferred.Add(1)
		span.RecordError(err)
		span.SetStatus(codes.Error, "start failed")
		log.WarnContext(ctx, "outbox event dispatch failed; retrying later", "error", err, "attempts", row.Attempts+1, "retry_in", delay.String())
		if err := q.DeferOutboxEvent(dbctx, queries.DeferOutboxEventParams{Seq: row.Seq, DelayMs: delay.Milliseconds(), LastError: truncate(err.Error(), 2000)}); err != nil {
			return startDeferred, fmt.Errorf("defer outbox event %d: %w", row.Seq, err)
		}
		return startDeferred, nil
	}
}

func (r *Relay) park(ctx, dbctx context.Context, q *queries.Queries, row queries.ClaimOutboxEventsRow, span trace.Span, log *slog.Logger, reason string) error {
	reason = truncate(reason, 2000)
	r.parked.Add(1)
	span.SetStatus(codes.Error, "parked")
	log.ErrorContext(ctx, "outbox event parked", "reason", reason)
	if err := q.ParkOutboxEvent(dbctx, queries.ParkOutboxEventParams{Seq: row.Seq, Reason: reason}); err != nil {
		return fmt.Errorf("park outbox event %d: %w", row.Seq, err)
	}
	return nil
}

// backoff is the delay after the given number of earlier failed attempts: MinBackoff doubled
// per attempt, at most MaxBackoff, less up to a fifth at random so relays do not retry in step.
func (r *Relay) backoff(attempts int32) time.Duration {
	d := r.opts.MaxBackoff
	if attempts < 30 {
		d = min(r.opts.MinBackoff<<attempts, r.opts.MaxBackoff)
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// listen sends on wake after each NOTIFY outbox, on a connection of its own (the pool's
// connections stay free of session state). A lost connection is reopened after a pause;
// meanwhile the poll keeps events moving.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for pause := r.opts.MinBackoff; ; pause = min(pause*2, time.Minute) {
		err := r.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "outbox relay: LISTEN connection lost; polling until it is back", "error", err, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	cfg := r.pool.Config().ConnConfig.Copy()
	if r.opts.ListenURL != "" {
		var err error
		if cfg, err = pgx.ParseConfig(r.opts.ListenURL); err != nil {
			return fmt.Errorf("listen url: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := conn.Exec(ctx, "LISTEN outbox"); err != nil {
		return err
	}
	// Events written while no one listened are picked up now, not at the next poll.
	notify(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		notify(wake)
	}
}

func notify(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
