// Package server is tutorhub's API edge: one handler type per protobuf service, the
// interceptors and HTTP middleware every request passes, and the mux that serves Connect,
// gRPC, gRPC-Web and REST (/api/v1, transcoded by vanguard) on one port.
package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"connectrpc.com/vanguard"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/gen/openapi"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/serviceaccounts"
	"github.com/tutorhub/tutorhub/subjects"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/uploads"
	"github.com/tutorhub/tutorhub/web"
)

// Options are the API's dependencies and edge policies.
type Options struct {
	Logger     *slog.Logger
	DB         *pgxpool.Pool
	Health     *Health
	Limiter    *ratelimit.Limiter
	RateLimits RateLimits
	PageTokens *pagetoken.Codec
	// Auth is authentication: Kratos, access-token verification, lockout, captcha, limits.
	Auth AuthOptions
	// Cache holds hot reads (tutor profiles) in Redis; nil reads PostgreSQL every time.
	Cache *cache.Cache
	// Tutors are the policies of tutor profiles.
	Tutors TutorOptions
	// ServiceAccounts verifies service-account keys and manages accounts; nil uses one over
	// DB with the default cache TTL (5 s). The wiring keeps it to flush last-use times on
	// shutdown.
	ServiceAccounts *serviceaccounts.Service
	// Notifications configures NotificationService and the unsubscribe page.
	Notifications NotificationOptions
	// Uploads are the storage and URL lifetimes of UploadService; a zero value (no store)
	// answers Unavailable to the calls that need storage.
	Uploads uploads.Options
	// StorageWebhookSecret turns on StorageWebhookPath, where the storage's bucket
	// notifications complete uploads, for callers sending it; empty leaves it off.
	StorageWebhookSecret []byte
	// Bookings are BookingService's dependencies.
	Bookings BookingOptions
	// StripeWebhook turns on StripeWebhookPath when it has a service and secrets.
	StripeWebhook StripeWebhook
	// Search is the tutor search engine SearchService reads; nil searches the PostgreSQL
	// index in DB (search.NewPostgres), signing page tokens with PageTokens. Subject filters
	// are checked against the catalogue in DB either way.
	Search search.Engine
	// Reads serves public reads that may be slightly stale (uncached tutor profiles, tutor
	// lists, PostgreSQL search) from a streaming replica, with read-your-writes for signed-in
	// callers (server/replica.go); nil reads DB.
	Reads *database.Router

	CORSOrigins    []string
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	// HSTS sends Strict-Transport-Security on requests that arrived over TLS.
	HSTS bool
	// Pages is the built web client served at /; nil serves the one embedded in the binary.
	Pages fs.FS
	// Telemetry traces every request and serves /metrics; nil disables both.
	Telemetry *telemetry.Telemetry
	// Internal moves /metrics and gRPC reflection off the public handler onto an internal
	// one (see NewHandlers), which also serves /health, /ready and grpc.health.v1.
	Internal bool
	// Resilience is the request deadlines and the in-flight limit; the zero value sets
	// neither.
	Resilience Resilience
}

// CompressMinBytes is the smallest response body the API compresses (when the client
// accepts gzip); smaller ones go as they are.
const CompressMinBytes = 4096

// Handlers are the API's HTTP handlers.
type Handlers struct {
	// Public serves the API, the web client, /health, /ready and grpc.health.v1, and also
	// /metrics and gRPC reflection unless Options.Internal is set.
	Public http.Handler
	// Internal, set only with Options.Internal, serves /metrics, gRPC reflection, /health,
	// /ready and grpc.health.v1, for a listener kept off the public ingress.
	Internal http.Handler
}

// BookingOptions are BookingService's dependencies.
type BookingOptions struct {
	// Charger gives the student of a booking awaiting payment the charge's client secret;
	// nil shows none.
	Charger payments.Charger
	// TestCard takes test payments (PayBookingWithTestCard, development and tests only);
	// nil answers that RPC FAILED_PRECONDITION.
	TestCard *payments.TestCard
}

// TutorOptions are the policies of tutor profiles.
type TutorOptions struct {
	// AllowUnverifiedEmail lets callers whose email is not verified create a tutor profile;
	// the zero value requires a verified email.
	AllowUnverifiedEmail bool
}

// ServiceNames lists the protobuf services the API serves (for reflection and health).
var ServiceNames = []string{
	tutorhubv1connect.SubjectServiceName,
	tutorhubv1connect.AuthServiceName,
	tutorhubv1connect.UserServiceName,
	tutorhubv1connect.AdminServiceName,
	tutorhubv1connect.TutorServiceName,
	tutorhubv1connect.SearchServiceName,
	tutorhubv1connect.ServiceAccountServiceName,
	tutorhubv1connect.NotificationServiceName,
	tutorhubv1connect.UploadServiceName,
	tutorhubv1connect.BookingServiceName,
}

// New assembles the API's HTTP handler, serving everything on one handler (Options.Internal
// is ignored).
func New(o Options) (http.Handler, error) {
	o.Internal = false
	h, err := NewHandlers(o)
	if err != nil {
		return nil, err
	}
	return h.Public, nil
}

// NewHandlers assembles the API's public handler and, with Options.Internal, its internal one.
func NewHandlers(o Options) (Handlers, error) {
	if o.Auth.Kratos == nil || o.Auth.Tokens == nil || o.Auth.Revocations == nil {
		return Handlers{}, errors.New("auth: Kratos client, access-token verifier and revocations are required")
	}
	if len(o.Auth.CSRFKey) < 32 {
		return Handlers{}, errors.New("auth: a CSRF key of at least 32 bytes is required")
	}
	users := accounts.New(o.DB, accounts.Options{Lockout: o.Auth.Lockout, Cache: o.Cache, DisplayNameChanged: tutors.RecordOwnerChanged})
	tutorOpts := tutors.Options{Cache: o.Cache, AllowUnverifiedEmail: o.Tutors.AllowUnverifiedEmail}
	if o.Reads != nil {
		tutorOpts.Reads = o.Reads
	}
	profiles := tutors.New(o.DB, tutorOpts)
	keys := o.ServiceAccounts
	if keys == nil {
		keys = serviceaccounts.New(o.DB, serviceaccounts.Options{Logger: o.Logger})
	}
	interceptors, err := newInterceptors(o, AccessRules, users, keys)
	if err != nil {
		return Handlers{}, err
	}
	if err := exportDegradedCounters(o); err != nil {
		return Handlers{}, err
	}
	handlerOpts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		recoverHandler(o.Logger),
		// The read limit applies to each message after decompression; the bounded
		// decompressor also stops inflating there instead of measuring the excess.
		connect.WithReadMaxBytes(int(o.MaxBodyBytes)),
		connect.WithCompression("gzip", newBoundedGzip(o.MaxBodyBytes), gzipCompressor),
		// Only responses worth it are compressed: one that fits in TCP's first flight
		// arrives no sooner for being smaller, and a gzip writer's reset alone cost more CPU
		// than a cached read's whole handler (docs/benchmarks.md, "Where the time goes").
		connect.WithCompressMinBytes(CompressMinBytes),
	}

	mux := http.NewServeMux()
	var services []*vanguard.Service
	mount := func(path string, h http.Handler) {
		mux.Handle(path, h)
		services = append(services, vanguard.NewService(path, h))
	}
	mount(tutorhubv1connect.NewSubjectServiceHandler(NewSubjectServer(subjects.New(o.DB), o.PageTokens), handlerOpts...))
	mount(tutorhubv1connect.NewAuthServiceHandler(NewAuthServer(o.DB, users, o.Limiter, o.Auth, o.Logger), handlerOpts...))
	mount(tutorhubv1connect.NewUserServiceHandler(NewUserServer(users, profiles), handlerOpts...))
	admin := NewAdminServer(users, outbox.NewParked(o.DB), o.PageTokens)
	// The admin listings only read payments' tables: a service without a provider will do.
	if admin.payments = o.StripeWebhook.Payments; admin.payments == nil {
		admin.payments = payments.New(o.DB, payments.Options{})
	}
	mount(tutorhubv1connect.NewAdminServiceHandler(admin, handlerOpts...))
	bookingSvc := bookings.New(o.DB, bookings.Options{Charger: o.Bookings.Charger, Reviewed: profiles.Invalidate})
	tutorSrv := NewTutorServer(profiles, o.PageTokens)
	mount(tutorhubv1connect.NewTutorServiceHandler(tutorSrv, handlerOpts...))
	uploadSvc := uploads.New(o.DB, o.Uploads)
	mount(tutorhubv1connect.NewUploadServiceHandler(NewUploadServer(uploadSvc), handlerOpts...))
	if len(o.StorageWebhookSecret) > 0 {
		mux.Handle(StorageWebhookPath, storageWebhookHandler(uploadSvc, o.StorageWebhookSecret, o.Logger))
	}
	if o.StripeWebhook.Payments != nil && len(o.StripeWebhook.Secrets) > 0 {
		mux.Handle(StripeWebhookPath, stripeWebhookHandler(o.StripeWebhook, o.Logger))
	}
	engine := o.Search
	if engine == nil {
		pg := search.NewPostgres(o.DB, o.PageTokens)
		if o.Reads != nil {
			pg = pg.WithReads(o.Reads)
		}
		engine = pg
	}
	mount(tutorhubv1connect.NewServiceAccountServiceHandler(NewServiceAccountServer(keys, o.PageTokens), handlerOpts...))
	mount(tutorhubv1connect.NewSearchServiceHandler(NewSearchServer(search.KnownSubjects(engine, o.DB)), handlerOpts...))
	notes := notifications.New(o.DB, notifications.Options{Unsubscribe: o.Notifications.Unsubscribe})
	notePath, noteHandler := tutorhubv1connect.NewNotificationServiceHandler(NewNotificationServer(notes, o.PageTokens, o.Notifications), handlerOpts...)
	mount(notePath, longLived(noteHandler, tutorhubv1connect.NotificationServiceWatchNotificationsProcedure))
	mux.Handle(notifications.UnsubscribePath, unsubscribeHandler(notes, o.Logger))
	mount(tutorhubv1connect.NewBookingServiceHandler(NewBookingServer(bookingSvc, o.PageTokens, o.Bookings.TestCard), handlerOpts...))

	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, connect.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	// REST lives under /api/v1 only, so a Connect POST without Connect-Protocol-Version is
	// never mistaken for a REST call.
	rest, err := vanguard.NewTranscoder(services, vanguard.WithUnknownHandler(notFound))
	if err != nil {
		return Handlers{}, fmt.Errorf("rest transcoder: %w", err)
	}
	mux.Handle("/api/v1/", restRequests(o.MaxBodyBytes, restErrors(rest)))

	docs, err := newAPIDocs(openapi.Document)
	if err != nil {
		return Handlers{}, err
	}
	mux.HandleFunc("GET /api/v1/openapi.json", docs.serveSpec)
	mux.HandleFunc("GET /docs", docs.servePage)
	mux.HandleFunc("GET /docs/style.css", docs.serveStyle)

	// Operational endpoints: on the public mux, or, with Internal, reflection and metrics
	// only on a mux of their own (health and readiness on both: load balancers and probes
	// reach the public port).
	o.Health.setLogger(o.Logger)
	ops := mux
	var internal *http.ServeMux
	if o.Internal {
		internal = http.NewServeMux()
		ops = internal
		internal.Handle(grpchealth.NewHandler(o.Health.grpc))
		internal.HandleFunc("GET /health", o.Health.serveLive)
		internal.HandleFunc("GET /ready", o.Health.serveReady)
		// Go's profiler, for reading where a served binary's time and memory go (the load
		// tool samples it under load); on the internal listener only, never the public one.
		internal.HandleFunc("GET /debug/pprof/", pprof.Index)
		internal.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		internal.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		internal.Handle("/", notFound)
	}
	reflector := grpcreflect.NewStaticReflector(append(ServiceNames, grpchealth.HealthV1ServiceName)...)
	reflectV1, reflectV1Handler := grpcreflect.NewHandlerV1(reflector)
	reflectV1Alpha, reflectV1AlphaHandler := grpcreflect.NewHandlerV1Alpha(reflector)
	ops.Handle(reflectV1, reflectV1Handler)
	ops.Handle(reflectV1Alpha, reflectV1AlphaHandler)
	if o.Telemetry != nil {
		ops.Handle("GET /metrics", o.Telemetry.MetricsHandler())
	}
	if o.Internal {
		// Named here so the web client's catch-all never answers for them either.
		for _, p := range []string{"/metrics", "/debug/pprof/", reflectV1, reflectV1Alpha} {
			mux.Handle(p, notFound)
		}
	}
	mux.Handle(grpchealth.NewHandler(o.Health.grpc))
	mux.HandleFunc("GET /.well-known/jwks.json", serveJWKS(o.Auth.Tokens))
	mux.HandleFunc("GET /health", o.Health.serveLive)
	mux.HandleFunc("GET /ready", o.Health.serveReady)
	pageFiles := o.Pages
	if pageFiles == nil {
		pageFiles = web.Dist()
	}
	csp := PageCSP
	if o.Uploads.Store != nil {
		csp = PageCSPWith(o.Uploads.Store.BrowserSources())
	}
	site, err := newPages(pageFiles, notFound, csp)
	if err != nil {
		return Handlers{}, fmt.Errorf("web client: %w", err)
	}
	mux.Handle("/", site)

	e := &edge{log: o.Logger, trustedProxies: o.TrustedProxies, maxBodyBytes: o.MaxBodyBytes, hsts: o.HSTS}
	if o.Telemetry != nil {
		e.tracer = o.Telemetry.Tracer.Tracer("github.com/tutorhub/tutorhub/server")
	}
	shed := newShedder(o.Resilience)
	if o.Telemetry != nil && shed != nil {
		if err := o.Telemetry.CountFunc("tutorhub.shed.refused", "Requests refused at once because the instance was at its in-flight limit.", shed.Refused); err != nil {
			return Handlers{}, err
		}
		if err := o.Telemetry.GaugeFunc("tutorhub.shed.limit", "Requests the instance admits at once now (adaptive with TUTORHUB_LATENCY_TARGET).", shed.Limit); err != nil {
			return Handlers{}, err
		}
		if err := o.Telemetry.GaugeFunc("tutorhub.shed.in_flight", "Requests in flight now, as the load shedder counts them.", shed.InFlight); err != nil {
			return Handlers{}, err
		}
	}
	h := Handlers{Public: requestStacks(e.wrap(withCORS(o.CORSOrigins, shed.wrap(mux))))}
	if internal != nil {
		h.Internal = e.wrap(internal)
	}
	return h, nil
}
