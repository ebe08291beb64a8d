package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/clamd"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/uploads"
	"github.com/tutorhub/tutorhub/workflows"
)

// queueRegistrations says what runs on each task queue: its workflows, and its activities
// over the clients in workerDeps. A queue of workflows.Queues that is missing here has
// nothing to run yet, and a worker refuses to serve it.
var queueRegistrations = map[string]func(worker.Worker, *workerDeps){
	workflows.QueueSearch: func(w worker.Worker, d *workerDeps) {
		workflows.RegisterSearch(w)
		activities.RegisterSearch(w, d.search)
	},
	workflows.QueueNotifications: func(w worker.Worker, d *workerDeps) {
		workflows.RegisterNotify(w)
		activities.RegisterNotify(w, d.notify)
	},
	workflows.QueueUploads: func(w worker.Worker, d *workerDeps) {
		workflows.RegisterUploads(w)
		activities.RegisterUploads(w, d.uploads)
	},
	workflows.QueueBookings: func(w worker.Worker, d *workerDeps) {
		workflows.RegisterBookings(w)
		activities.RegisterBookings(w, d.bookings)
	},
	workflows.QueuePayments: func(w worker.Worker, d *workerDeps) {
		workflows.RegisterPayments(w)
		activities.RegisterPayments(w, d.payments)
	},
}

// workerDeps are the activity structs of the queues a worker serves (nil for the others).
type workerDeps struct {
	search  *activities.SearchActivities
	notify  *activities.NotifyActivities
	uploads *activities.UploadActivities
	// bookings drives BookingLifecycle over the bookings service and the payment provider.
	bookings *activities.BookingActivities
	// payments needs the Temporal client (it signals bookings): set in workerCmd after the dial.
	// It and bookings share one payments service.
	payments *activities.PaymentActivities
	// activitySlots caps the activities one SDK worker runs at once (0: the SDK's default).
	activitySlots int
}

// newWorkerDeps builds the clients of the queues served: the search queue indexes into the
// configured engine (TUTORHUB_SEARCH_ENGINE), reading tutors from pool. breakers, when set,
// guards the search engine, SMTP and S3 (an open breaker fails the activity at once, and
// Temporal retries it later). pay is the payments service of the bookings and payments
// queues (nil when neither is served).
func newWorkerDeps(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, queues []string, breakers *breaker.Group, pay *payments.Service) (*workerDeps, error) {
	// An indexing activity holds one pooled connection (the tutor's indexing lock) while it
	// takes a second one for the engine: with more activities at once than half the pool,
	// they could all hold one and wait for another until their timeouts (a stall the fault
	// tests in faulttest hit). At most half the pool's worth leaves each its second one.
	d := &workerDeps{activitySlots: max(1, int(cfg.Database.MaxConns)/2)}
	if slices.Contains(queues, workflows.QueueSearch) {
		engine, err := searchEngine(ctx, cfg, pool, pagetoken.NewCodec(cfg.Cursor.Secret), guardOf(breakers, breakerSearch))
		if err != nil {
			return nil, err
		}
		d.search = &activities.SearchActivities{Tutors: tutors.New(pool, tutors.Options{}), Engine: engine}
	}
	if slices.Contains(queues, workflows.QueueNotifications) {
		sender, err := mail.New(cfg.SMTP.URL, cfg.SMTP.From, mail.WithBreaker(guardOf(breakers, breakerSMTP)))
		if err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		signer, err := notifications.NewSigner(cfg.Notifications.UnsubscribeSecret)
		if err != nil {
			return nil, err
		}
		d.notify = &activities.NotifyActivities{Notifications: notifications.New(pool, notifications.Options{
			Mailer: notifyMailer{sender}, Unsubscribe: signer, PublicURL: cfg.HTTP.PublicURL,
		})}
	}
	if slices.Contains(queues, workflows.QueueBookings) {
		d.bookings = &activities.BookingActivities{Bookings: bookings.New(pool, bookings.Options{}), Charger: pay}
	}
	if slices.Contains(queues, workflows.QueueUploads) {
		store, err := objectstore.New(cfg.Storage, objectstore.WithBreaker(guardOf(breakers, breakerS3)))
		if err != nil {
			return nil, err
		}
		// The buckets exist before the first scan; the storage must answer for this worker to start.
		for _, b := range []string{cfg.Storage.QuarantineBucket, cfg.Storage.CleanBucket} {
			bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := store.EnsureBucket(bctx, b)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("uploads queue: %w", err)
			}
		}
		// Browsers PUT into quarantine from the web client's pages, served at the public URL.
		origin, err := webOrigin(cfg.HTTP.PublicURL)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = store.AllowBrowserUploads(cctx, cfg.Storage.QuarantineBucket, []string{origin})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("uploads queue: %w", err)
		}
		// A new avatar drops the API's cached public reads that show the old one (the same
		// Redis cache as `tutorhub serve`; Redis down only delays that by the cache's TTL).
		rdb, err := openRedis(cfg.Redis, guardOf(breakers, breakerRedis))
		if err != nil {
			return nil, err
		}
		d.uploads = &activities.UploadActivities{
			Uploads: uploads.New(pool, uploads.Options{
				Store: store, QuarantineBucket: cfg.Storage.QuarantineBucket, CleanBucket: cfg.Storage.CleanBucket,
				PutURLTTL: cfg.Uploads.PutURLTTL, GetURLTTL: cfg.Uploads.GetURLTTL,
				Cache:         cache.New(rdb, cache.Options{Prefix: cfg.Redis.KeyPrefix + "cache:"}),
				AvatarChanged: tutors.RecordOwnerChanged,
			}),
			Store:            store,
			Clamd:            &clamd.Client{Address: cfg.Clamd.Address, Timeout: cfg.Clamd.Timeout, MaxSize: uploads.MaxUploadSize()},
			QuarantineBucket: cfg.Storage.QuarantineBucket,
			AbandonAfter:     cfg.Uploads.AbandonAfter,
		}
	}
	if slices.Contains(queues, workflows.QueuePayments) {
		d.payments = &activities.PaymentActivities{Payments: pay}
	}
	return d, nil
}

// paymentOptions are the payments service's provider settings and platform fee.
func paymentOptions(cfg *config.Config, log *slog.Logger) payments.Options {
	return payments.Options{
		StripeAPIURL: cfg.Payments.StripeAPIURL, StripeSecretKey: cfg.Payments.StripeSecretKey,
		PlatformFeeBPS: cfg.Payments.PlatformFeeBPS, Logger: log,
	}
}

// notifyMailer sends notification mail through the SMTP relay, each send bounded by the
// activity's deadline.
type notifyMailer struct{ s *mail.Sender }

func (m notifyMailer) Send(ctx context.Context, n notifications.Mail) error {
	return m.s.SendMessage(ctx, mail.Message{To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, MessageID: n.MessageID, Headers: n.Headers})
}

// workerStopTimeout is how long in-flight activities get to finish when the worker stops;
// those still running are then abandoned to Temporal, which retries them elsewhere.
const workerStopTimeout = 30 * time.Second

// workerCmd serves Temporal task queues and runs the outbox relay until SIGINT or SIGTERM,
// then stops taking work and drains what is in flight.
func workerCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	queuesFlag := fs.String("queues", workflows.QueueSearch+","+workflows.QueueNotifications+","+workflows.QueueBookings+","+workflows.QueuePayments, "comma-separated task queues to serve: "+strings.Join(workflows.Queues, ", "))
	relay := fs.Bool("relay", true, "run the outbox relay in this process")
	prefix := fs.String("queue-prefix", "", "put this before every task queue name, to keep stacks that share one namespace apart")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tutorhub worker: unexpected argument %q\n", fs.Arg(0))
		return exitCode(2)
	}
	queues, err := parseQueues(*queuesFlag)
	if err != nil {
		fmt.Fprintf(stderr, "tutorhub worker: --queues: %v\n", err)
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	tel, log, pool, closeProcess, err := startProcess(ctx, "tutorhub-worker", cfg, stdout)
	if err != nil {
		return err
	}
	defer closeProcess()
	migrator, closeMigrator, err := openMigrator(ctx, cfg, pool)
	if err != nil {
		return err
	}
	// The worker never migrates: the API's deploy does. It refuses a schema behind its code.
	err = ensureMigrated(ctx, migrator, false, log)
	closeMigrator()
	if err != nil {
		return err
	}

	breakers, err := newBreakers(cfg, log, tel)
	if err != nil {
		return err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	// The relay's workflow starts and the payment activities' signals pass Temporal's
	// breaker: while Temporal is down the outbox keeps its events, at no wait per poll.
	tc, err := temporalclient.Dial(dialCtx, cfg.Temporal, temporalclient.Options{Logger: log, Tracer: tel.Tracer, Meter: tel.Meter, Breaker: breakers.Breaker(breakerTemporal)})
	cancel()
	if err != nil {
		return err
	}
	defer tc.Close()

	ln, err := net.Listen("tcp", cfg.Worker.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Worker.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	metricsErr := make(chan error, 1)
	go func() { metricsErr <- metricsSrv.Serve(ln) }()
	log.Info("serving worker metrics", "addr", ln.Addr().String(), "paths", "/metrics /health")

	var pay *payments.Service
	if slices.Contains(queues, workflows.QueueBookings) || slices.Contains(queues, workflows.QueuePayments) {
		var meter metric.Meter
		if tel.Meter != nil {
			meter = tel.Meter.Meter("github.com/tutorhub/tutorhub/payments")
		}
		pay = newCharger(pool, cfg, log, meter)
	}
	deps, err := newWorkerDeps(ctx, cfg, pool, queues, breakers, pay)
	if err != nil {
		_ = metricsSrv.Close()
		return err
	}
	if deps.payments != nil {
		deps.payments.Temporal = tc
	}
	workers, err := startWorkers(tc, queues, *prefix, deps, log)
	if err != nil {
		_ = metricsSrv.Close()
		return err
	}
	if slices.Contains(queues, workflows.QueueUploads) {
		if err := ensureExpirySchedule(ctx, tc, *prefix); err != nil {
			stopWorkers(workers)
			_ = metricsSrv.Close()
			return err
		}
	}

	if slices.Contains(queues, workflows.QueuePayments) {
		if err := ensureReconcileSchedule(ctx, tc, *prefix, cfg.Payments); err != nil {
			stopWorkers(workers)
			_ = metricsSrv.Close()
			return err
		}
	}

	relayDone := make(chan error, 1)
	if *relay {
		r, err := outbox.New(pool, tc, outbox.Options{Logger: log, QueuePrefix: *prefix, Meter: tel.Meter, ListenURL: cfg.Database.DirectURL})
		if err != nil {
			stopWorkers(workers)
			_ = metricsSrv.Close()
			return err
		}
		go func() { relayDone <- r.Run(ctx) }()
	} else {
		relayDone <- nil
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-metricsErr:
		runErr = fmt.Errorf("worker metrics listener: %w", err)
	}
	log.Info("shutting down: draining in-flight work", "stop_timeout", workerStopTimeout.String())
	// The relay settles the batch in hand; the workers stop polling and wait for running
	// activities up to workerStopTimeout.
	if runErr != nil {
		// ctx is still live: the relay only stops with it, so this path waits for none.
		stopWorkers(workers)
		_ = metricsSrv.Close()
		return runErr
	}
	relayErr := <-relayDone
	stopWorkers(workers)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(relayErr, metricsSrv.Shutdown(sctx))
	if err == nil {
		log.Info("shutdown complete")
	}
	return err
}

// parseQueues reads --queues: known queue names, each once, that have something to run.
func parseQueues(s string) ([]string, error) {
	var queues []string
	for q := range strings.SplitSeq(s, ",") {
		q = strings.TrimSpace(q)
		switch {
		case q == "":
			return nil, errors.New("empty queue name")
		case !slices.Contains(workflows.Queues, q):
			return nil, fmt.Errorf("unknown queue %q (known: %s)", q, strings.Join(workflows.Queues, ", "))
		case queueRegistrations[q] == nil:
			return nil, fmt.Errorf("queue %q has nothing to run yet", q)
		case slices.Contains(queues, q):
			return nil, fmt.Errorf("queue %q is listed twice", q)
		}
		queues = append(queues, q)
	}
	return queues, nil
}

// startWorkers starts one SDK worker per queue; on failure it stops those already started.
func startWorkers(tc client.Client, queues []string, prefix string, deps *workerDeps, log *slog.Logger) ([]worker.Worker, error) {
	var started []worker.Worker
	for _, q := range queues {
		w := worker.New(tc, prefix+q, worker.Options{WorkerStopTimeout: workerStopTimeout, MaxConcurrentActivityExecutionSize: deps.activitySlots})
		queueRegistrations[q](w, deps)
		if err := w.Start(); err != nil {
			stopWorkers(started)
			return nil, fmt.Errorf("start worker for task queue %s: %w", prefix+q, err)
		}
		log.Info("serving task queue", "task_queue", prefix+q)
		started = append(started, w)
	}
	return started, nil
}

// stopWorkers stops the workers at once; each waits for its in-flight activities.
func stopWorkers(ws []worker.Worker) {
	done := make(chan struct{})
	for _, w := range ws {
		go func() { w.Stop(); done <- struct{}{} }()
	}
	for range ws {
		<-done
	}
}

// ensureExpirySchedule creates, unless it exists, the hourly schedule of
// ExpireAbandonedUploads on the uploads queue (several workers may race: the loser finds it
// existing). A queue prefix prefixes the schedule's id too, so stacks that share a namespace
// each expire their own uploads.
func ensureExpirySchedule(ctx context.Context, tc client.Client, prefix string) error {
	id := prefix + workflows.ExpireAbandonedUploadsScheduleID
	_, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{
			ID: id, Workflow: workflows.ExpireAbandonedUploadsName, TaskQueue: prefix + workflows.QueueUploads,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	return nil
}

// ensureReconcileSchedule creates, unless it exists, the schedule of Reconcile on the
// payments queue, every cfg.ReconcileEvery over cfg.ReconcileWindow (like ensureExpirySchedule).
func ensureReconcileSchedule(ctx context.Context, tc client.Client, prefix string, cfg config.Payments) error {
	id := prefix + workflows.ReconcileScheduleID
	_, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.ReconcileEvery}}},
		Action: &client.ScheduleWorkflowAction{
			ID: id, Workflow: workflows.ReconcileName, TaskQueue: prefix + workflows.QueuePayments,
			Args: []any{workflows.ReconcileInput{Window: cfg.ReconcileWindow}},
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	return nil
}

// webOrigin is the origin (scheme://host[:port]) of the public URL the web client is served at.
func webOrigin(publicURL string) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("public URL %q has no origin", publicURL)
	}
	return u.Scheme + "://" + u.Host, nil
}
