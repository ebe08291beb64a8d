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
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/broadcast"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/serviceaccounts"
	"github.com/tutorhub/tutorhub/uploads"
)

func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	migrateFirst := fs.Bool("migrate", false, "apply pending migrations before serving")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	tel, log, pool, closeProcess, err := startProcess(ctx, "tutorhub", cfg, stdout)
	if err != nil {
		return err
	}
	defer closeProcess()

	migrator, closeMigrator, err := openMigrator(ctx, cfg, pool)
	if err != nil {
		return err
	}
	defer closeMigrator()
	if err := ensureMigrated(ctx, migrator, *migrateFirst || cfg.MigrateOnStart, log); err != nil {
		return err
	}

	breakers, err := newBreakers(cfg, log, tel)
	if err != nil {
		return err
	}
	rdb, err := openRedis(cfg.Redis, breakers.Breaker(breakerRedis))
	if err != nil {
		return err
	}
	defer rdb.Close()

	tokens := pagetoken.NewCodec(cfg.Cursor.Secret)
	engine, err := searchEngine(ctx, cfg, pool, tokens, breakers.Breaker(breakerSearch))
	if err != nil {
		return err
	}
	reads, stopReads, err := replicaRouter(ctx, cfg, pool, rdb, log)
	if err != nil {
		return err
	}
	defer stopReads()
	if pg, ok := engine.(*search.Postgres); ok && reads != nil {
		engine = pg.WithReads(reads)
	}

	// Pings run on demand (cached, one at a time); the migration state was checked above and
	// is refreshed in the background without the migration lock, never per request.
	checks := []server.Check{
		{Name: "postgres", Check: pool.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		{Name: "migrations", Every: migrationCheckInterval, Check: func(ctx context.Context) error {
			pending, err := migrator.HasPending(ctx)
			if err != nil {
				return err
			}
			if pending {
				return errors.New("migrations pending")
			}
			return nil
		}},
	}
	if cfg.Search.Engine == config.SearchEngineMeilisearch {
		checks = append(checks, server.Check{Name: "search", Check: engine.Health})
	}
	health := server.NewHealth(checks, server.ServiceNames...)

	auth, err := authOptions(cfg, rdb, breakers)
	if err != nil {
		return err
	}
	keys, err := serviceAccounts(ctx, pool, rdb, cfg.Redis.KeyPrefix, log)
	if err != nil {
		return err
	}
	// Last uses noted since the last batch are written on the way out.
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := keys.FlushUses(fctx); err != nil {
			log.Warn("recording service account key use failed", "error", err.Error())
		}
	}()
	unsubscribe, err := notifications.NewSigner(cfg.Notifications.UnsubscribeSecret)
	if err != nil {
		return err
	}
	// The hub listens for new inbox items (of every replica's workers) until the process
	// stops; the drain below stops it first, so open streams end cleanly (UNAVAILABLE: the
	// client reconnects elsewhere) instead of holding the shutdown up.
	hub := notifications.NewHub(pool, notifications.New(pool, notifications.Options{}),
		notifications.HubOptions{MaxPerUser: cfg.Notifications.StreamsPerUser, Logger: log, ListenURL: cfg.Database.DirectURL})
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); hub.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()
	// One payments service both charges bookings and applies Stripe's webhooks.
	charger := newCharger(pool, cfg, log, nil)
	var testCard *payments.TestCard
	if cfg.Payments.TestMode {
		// Configuration refuses test mode with a live key and in production.
		log.Warn("payments test mode is on: PayBookingWithTestCard confirms bookings with Stripe's test card (development and tests only)")
		testCard = &payments.TestCard{
			Payments:  charger,
			Webhook:   payments.WebhookKeys{Secrets: cfg.Payments.WebhookSecrets, Tolerance: cfg.Payments.WebhookTolerance},
			ReturnURL: strings.TrimSuffix(cfg.HTTP.PublicURL, "/") + "/bookings",
			// Stripe answers the PaymentIntent's real status; stripe-mock a canned one.
			CheckStatus: strings.HasPrefix(cfg.Payments.StripeAPIURL, "https://api.stripe.com"),
		}
	}
	handlers, err := server.NewHandlers(server.Options{
		ServiceAccounts:      keys,
		Uploads:              uploadOptions(cfg, log, breakers.Breaker(breakerS3)),
		StorageWebhookSecret: cfg.Uploads.WebhookSecret,
		StripeWebhook: server.StripeWebhook{
			Payments: charger,
			Secrets:  cfg.Payments.WebhookSecrets, Tolerance: cfg.Payments.WebhookTolerance,
		},
		Auth:    auth,
		Logger:  log,
		DB:      pool,
		Health:  health,
		Limiter: ratelimit.New(rdb, cfg.Redis.KeyPrefix, cfg.RateLimit.FailOpen, log),
		RateLimits: server.RateLimits{
			Enabled:       cfg.RateLimit.Enabled,
			Anonymous:     rate(cfg.RateLimit.Anonymous),
			Authenticated: rate(cfg.RateLimit.Authenticated),
			IPv6Prefix:    cfg.RateLimit.IPv6Prefix,
		},
		PageTokens:     tokens,
		Search:         engine,
		Reads:          reads,
		Bookings:       server.BookingOptions{Charger: charger, TestCard: testCard},
		Cache:          cache.New(rdb, cache.Options{Prefix: cfg.Redis.KeyPrefix + "cache:", Logger: log}),
		Tutors:         server.TutorOptions{AllowUnverifiedEmail: !cfg.Tutors.RequireVerifiedEmail},
		Notifications:  server.NotificationOptions{Hub: hub, Heartbeat: cfg.Notifications.Heartbeat, Unsubscribe: unsubscribe},
		CORSOrigins:    cfg.CORS.AllowedOrigins,
		TrustedProxies: cfg.HTTP.TrustedProxies,
		MaxBodyBytes:   cfg.HTTP.MaxBodyBytes,
		HSTS:           cfg.HTTP.TLSCertFile != "" || strings.HasPrefix(cfg.HTTP.PublicURL, "https://"),
		Telemetry:      tel,
		Internal:       cfg.HTTP.InternalAddr != "",
		Resilience: server.Resilience{
			RequestTimeout:    cfg.Resilience.RequestTimeout,
			RequestTimeoutMax: cfg.Resilience.RequestTimeoutMax,
			MaxInFlight:       cfg.Resilience.MaxInFlight,
			LatencyTarget:     cfg.Resilience.LatencyTarget,
			MinInFlight:       cfg.Resilience.MinInFlight,
		},
	})
	if err != nil {
		return err
	}
	health.Start(ctx) // after NewHandlers, which gives it the logger
	return listenAndDrain(ctx, cfg.HTTP, handlers, health, log, hub.Stop)
}

// serviceAccounts verifies service-account keys with a cache of a few seconds, which
// revocations on any replica clear at once through a Redis channel under keyPrefix. The
// subscription ends with ctx; when Redis cannot be subscribed to at start, the cache TTL
// alone bounds how soon a revocation reaches this replica (logged).
func serviceAccounts(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, keyPrefix string, log *slog.Logger) (*serviceaccounts.Service, error) {
	channel := broadcast.New(rdb, keyPrefix+"serviceaccounts:invalidate")
	keys := serviceaccounts.New(pool, serviceaccounts.Options{Logger: log, Invalidations: channel})
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sub, err := channel.Subscribe(sctx)
	if err != nil {
		log.Warn("service account invalidations unavailable; revocations reach this replica within the cache TTL", "error", err.Error())
		return keys, nil
	}
	go sub.Run(ctx, keys.Forget)
	return keys, nil
}

// searchEngine is the tutor search engine the configuration names: the PostgreSQL index in
// pool, or Meilisearch, whose index settings are applied before serving; b, when set, is
// Meilisearch's circuit breaker.
func searchEngine(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, tokens *pagetoken.Codec, b *breaker.Breaker) (search.Engine, error) {
	if cfg.Search.Engine != config.SearchEngineMeilisearch {
		return search.NewPostgres(pool, tokens), nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m, err := search.NewMeilisearch(ctx, search.MeilisearchOptions{URL: cfg.Search.MeiliURL, APIKey: cfg.Search.MeiliAPIKey, Tokens: tokens, Breaker: b})
	if err != nil {
		return nil, fmt.Errorf("search engine: %w", err)
	}
	return m, nil
}

// ensureMigrated applies pending migrations when asked, and otherwise refuses to serve a
// database behind the binary's schema.
func ensureMigrated(ctx context.Context, m *database.Migrator, apply bool, log *slog.Logger) error {
	pending, err := m.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if !apply {
		return fmt.Errorf("the database has %d pending migrations (versions %v): run `tutorhub migrate up`, or start with `tutorhub serve --migrate` (TUTORHUB_MIGRATE_ON_START=true)", len(pending), pending)
	}
	applied, err := m.Up(ctx)
	if err != nil {
		return err
	}
	log.Info("applied migrations", "versions", applied)
	return nil
}

// migrationCheckInterval is how often readiness re-reads the migration state.
const migrationCheckInterval = 30 * time.Second

func rate(r config.Rate) ratelimit.Rate {
	return ratelimit.Rate{Limit: r.Limit, Period: r.Period, Burst: r.Burst}
}

// listenAndDrain serves until ctx ends (SIGINT/SIGTERM), then drains: readiness turns
// not-ready at once, the listeners keep accepting for ReadyDrainDelay so load balancers can
// notice, then stop; in-flight requests get up to ShutdownTimeout to finish. The internal
// listener, when configured, starts and stops with the public one.
func listenAndDrain(ctx context.Context, cfg config.HTTP, handlers server.Handlers, health *server.Health, log *slog.Logger, onShutdown ...func()) error {
	type listener struct {
		name string
		srv  *http.Server
		ln   net.Listener
		tls  bool
	}
	var started atomic.Int64 // requests begun on the public listener
	go returnIdleMemory(ctx, idleMemoryCheck, &started)
	newServer := func(h http.Handler) *http.Server {
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		// HTTP/1.1 and HTTP/2 on one port, with or without TLS: gRPC needs HTTP/2, and h2c
		// serves it in plaintext deployments behind a TLS-terminating proxy.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		// Long-lived streams (WatchNotifications) end when the drain starts, so Shutdown
		// does not wait ShutdownTimeout for them.
		for _, f := range onShutdown {
			srv.RegisterOnShutdown(f)
		}
		return srv
	}

	var listeners []listener
	closeAll := func() {
		for _, l := range listeners {
			_ = l.ln.Close()
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	public := handlers.Public
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		public.ServeHTTP(w, r)
	})
	listeners = append(listeners, listener{name: "api", srv: newServer(counted), ln: ln, tls: cfg.TLSCertFile != ""})
	if handlers.Internal != nil {
		iln, err := net.Listen("tcp", cfg.InternalAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen on %s: %w", cfg.InternalAddr, err)
		}
		// Plaintext: the internal listener is for the host or the cluster network only.
		listeners = append(listeners, listener{name: "internal", srv: newServer(handlers.Internal), ln: iln})
	}

	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		if l.name == "internal" {
			log.Info("serving internal endpoints", "addr", l.ln.Addr().String(), "paths", "/metrics /ready /health grpc.reflection grpc.health")
		} else {
			log.Info("serving", "addr", l.ln.Addr().String(), "tls", l.tls)
		}
		go func() {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			} else {
				err = l.srv.Serve(l.ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				err = fmt.Errorf("serve %s: %w", l.name, err)
			}
			errc <- err
		}()
	}

	stopped := 0
	select {
	case err := <-errc:
		// One listener failed: stop the other too before reporting it.
		stopped = 1
		for _, l := range listeners {
			_ = l.srv.Close()
		}
		for ; stopped < len(listeners); stopped++ {
			<-errc
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining", "ready_drain_delay", cfg.ReadyDrainDelay.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
	health.Drain()
	if cfg.ReadyDrainDelay > 0 {
		time.Sleep(cfg.ReadyDrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shutdownErrs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() {
			if err := l.srv.Shutdown(sctx); err != nil {
				_ = l.srv.Close()
				shutdownErrs <- fmt.Errorf("drain of the %s listener did not finish within %s: %w", l.name, cfg.ShutdownTimeout, err)
				return
			}
			shutdownErrs <- nil
		}()
	}
	var errs []error
	for range listeners {
		errs = append(errs, <-shutdownErrs)
	}
	for range listeners {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("shutdown complete")
	return nil
}

// startProcess is what every long-running subcommand starts with: telemetry under the
// service name, the JSON (or text) logger with trace ids, the configuration's warnings
// logged, and the database pool. closeProcess closes the pool and flushes telemetry.
func startProcess(ctx context.Context, service string, cfg *config.Config, stdout io.Writer) (tel *telemetry.Telemetry, log *slog.Logger, pool *pgxpool.Pool, closeProcess func(), err error) {
	tel, err = telemetry.Setup(ctx, service, version)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}
	log = logging.New(stdout, cfg.Log.Level, cfg.Log.Format, telemetry.LogAttrs)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	setMemoryLimit(cfg.MemoryLimitBytes, os.Getenv("GOMEMLIMIT") != "", log)
	pool, err = database.Open(ctx, cfg.Database.URL, database.PoolOptions{
		MaxConns:        cfg.Database.MaxConns,
		MinConns:        cfg.Database.MinConns,
		MaxConnLifetime: cfg.Database.MaxConnLifetime,
		MaxConnIdleTime: cfg.Database.MaxConnIdleTime,
		AcquireTimeout:  cfg.Resilience.DatabaseAcquireTimeout,
	})
	if err != nil {
		shutdown()
		return nil, nil, nil, nil, err
	}
	return tel, log, pool, func() { pool.Close(); shutdown() }, nil
}

// replicaRouter routes public reads to the replica TUTORHUB_DATABASE_REPLICA_URL names (nil
// without one), checking it in the background until stop is called.
func replicaRouter(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, rdb redis.UniversalClient, log *slog.Logger) (*database.Router, func(), error) {
	if cfg.Database.ReplicaURL == "" {
		return nil, func() {}, nil
	}
	replica, err := database.OpenReplica(cfg.Database.ReplicaURL, database.PoolOptions{
		MaxConns:        cfg.Database.MaxConns,
		MaxConnLifetime: cfg.Database.MaxConnLifetime,
		MaxConnIdleTime: cfg.Database.MaxConnIdleTime,
	})
	if err != nil {
		return nil, nil, err
	}
	r := database.NewRouter(pool, replica, database.RouterOptions{
		MaxLag: cfg.Database.ReplicaMaxLag, CheckInterval: cfg.Database.ReplicaCheckInterval,
		Redis: rdb, KeyPrefix: cfg.Redis.KeyPrefix, Logger: log,
	})
	// The first check runs before serving, so a healthy replica serves from the first read.
	r.Check(ctx)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	return r, func() { cancel(); <-done; replica.Close() }, nil
}

// openMigrator returns the migrator over pool, or, when the pool goes through a transaction
// pooler (TUTORHUB_DATABASE_DIRECT_URL is set), over a small pool of its own on the direct
// URL: the migration lock is a session advisory lock.
func openMigrator(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool) (*database.Migrator, func(), error) {
	if cfg.Database.DirectURL == "" {
		m, err := database.NewMigrator(pool)
		if err != nil {
			return nil, nil, err
		}
		return m, func() { m.Close() }, nil
	}
	direct, err := database.Open(ctx, cfg.Database.DirectURL, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return nil, nil, err
	}
	m, err := database.NewMigrator(direct)
	if err != nil {
		direct.Close()
		return nil, nil, err
	}
	return m, func() { m.Close(); direct.Close() }, nil
}

// uploadOptions are UploadService's storage and URL lifetimes. Presigning needs no network, so
// the API starts whether or not the storage answers; without credentials UploadService
// answers Unavailable and the rest of the API serves. b, when set, is the storage's circuit
// breaker.
func uploadOptions(cfg *config.Config, log *slog.Logger, b *breaker.Breaker) uploads.Options {
	o := uploads.Options{
		QuarantineBucket: cfg.Storage.QuarantineBucket, CleanBucket: cfg.Storage.CleanBucket,
		PutURLTTL: cfg.Uploads.PutURLTTL, GetURLTTL: cfg.Uploads.GetURLTTL,
	}
	store, err := objectstore.New(cfg.Storage, objectstore.WithBreaker(b))
	if err != nil {
		log.Warn("uploads are disabled", slog.String("error", err.Error()))
		return o
	}
	o.Store = store
	return o
}

// setMemoryLimit sets the runtime's soft memory limit from the configuration, unless
// GOMEMLIMIT set it already: under many connections the heap would otherwise grow to twice
// its live size before a collection, and hold on to it.
func setMemoryLimit(limit int64, fromEnv bool, log *slog.Logger) {
	if fromEnv || limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}

// idleMemoryCheck is how often returnIdleMemory looks whether requests arrived.
const idleMemoryCheck = 3 * time.Second

// returnIdleMemory hands the heap's freed pages back to the OS once no request began on the
// public listener for a whole idleMemoryCheck after some did: a burst of connections leaves
// garbage that, with no allocation at rest, no collection would reclaim for minutes. It runs
// once per idle period and never on the request path.
func returnIdleMemory(ctx context.Context, every time.Duration, started *atomic.Int64) {
	t := time.NewTicker(every)
	defer t.Stop()
	var seen int64
	returned := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := started.Load(); n != seen {
			seen, returned = n, false
			continue
		}
		if !returned {
			debug.FreeOSMemory()
			returned = true
		}
	}
}
