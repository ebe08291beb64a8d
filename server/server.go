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
	"net/netip"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"connectrpc.com/otelconnect"
	"connectrpc.com/vanguard"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/gen/openapi"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/subjects"
	"github.com/tutorhub/tutorhub/tutors"
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

	CORSOrigins    []string
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	// HSTS sends Strict-Transport-Security on requests that arrived over TLS.
	HSTS bool
	// Pages is the built web client served at /; nil serves the one embedded in the binary.
	Pages fs.FS
	// Telemetry traces every request and serves /metrics; nil disables both.
	Telemetry *telemetry.Telemetry
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
}

// New assembles the API's HTTP handler.
func New(o Options) (http.Handler, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	if o.Auth.Kratos == nil || o.Auth.Tokens == nil {
		return nil, errors.New("auth: Kratos client and access-token verifier are required")
	}
	users := accounts.New(o.DB, accounts.Options{Lockout: o.Auth.Lockout, Cache: o.Cache, DisplayNameChanged: tutors.RecordOwnerChanged})
	profiles := tutors.New(o.DB, tutors.Options{Cache: o.Cache, AllowUnverifiedEmail: o.Tutors.AllowUnverifiedEmail})
	auth := &authenticator{tokens: o.Auth.Tokens, accounts: users, rules: AccessRules, log: o.Logger}
	interceptors := []connect.Interceptor{
		observe(o.Logger),
		authenticate(auth),
		limitRequests(o.Limiter, o.RateLimits),
		validateRequests(validator),
	}
	if o.Telemetry != nil {
		// RPC metrics only: the edge's span already traces the request, so handler logs
		// and the access line share one trace id.
		otelInterceptor, err := otelconnect.NewInterceptor(
			otelconnect.WithMeterProvider(o.Telemetry.Meter),
			otelconnect.WithoutTracing(),
		)
		if err != nil {
			return nil, fmt.Errorf("otel interceptor: %w", err)
		}
		interceptors = append([]connect.Interceptor{otelInterceptor}, interceptors...)
	}
	handlerOpts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		recoverHandler(o.Logger),
		connect.WithReadMaxBytes(int(o.MaxBodyBytes)),
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
	mount(tutorhubv1connect.NewAdminServiceHandler(NewAdminServer(users, o.PageTokens), handlerOpts...))
	mount(tutorhubv1connect.NewTutorServiceHandler(NewTutorServer(profiles, o.PageTokens), handlerOpts...))

	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, connect.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	// REST lives under /api/v1 only, so a Connect POST without Connect-Protocol-Version is
	// never mistaken for a REST call.
	rest, err := vanguard.NewTranscoder(services, vanguard.WithUnknownHandler(notFound))
	if err != nil {
		return nil, fmt.Errorf("rest transcoder: %w", err)
	}
	mux.Handle("/api/v1/", restErrors(rest))

	docs, err := newAPIDocs(openapi.Document)
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /api/v1/openapi.json", docs.serveSpec)
	mux.HandleFunc("GET /docs", docs.servePage)
	mux.HandleFunc("GET /docs/style.css", docs.serveStyle)

	reflector := grpcreflect.NewStaticReflector(append(ServiceNames, grpchealth.HealthV1ServiceName)...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(o.Health.grpc))
	mux.HandleFunc("GET /.well-known/jwks.json", serveJWKS(o.Auth.Tokens))
	if o.Telemetry != nil {
		mux.Handle("GET /metrics", o.Telemetry.MetricsHandler())
	}
	mux.HandleFunc("GET /health", o.Health.serveLive)
	mux.HandleFunc("GET /ready", o.Health.serveReady)
	pageFiles := o.Pages
	if pageFiles == nil {
		pageFiles = web.Dist()
	}
	site, err := newPages(pageFiles, notFound)
	if err != nil {
		return nil, fmt.Errorf("web client: %w", err)
	}
	mux.Handle("/", site)

	e := &edge{log: o.Logger, trustedProxies: o.TrustedProxies, maxBodyBytes: o.MaxBodyBytes, hsts: o.HSTS}
	if o.Telemetry != nil {
		e.tracer = o.Telemetry.Tracer.Tracer("github.com/tutorhub/tutorhub/server")
	}
	return e.wrap(withCORS(o.CORSOrigins, mux)), nil
}
