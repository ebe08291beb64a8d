package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"google.golang.org/protobuf/proto"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// newInterceptors is the chain every RPC passes, unary or streaming, outermost first, with
// rules as the access rules.
func newInterceptors(o Options, rules map[string]Rule, users *accounts.Service, keys *serviceaccounts.Service) ([]connect.Interceptor, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	auth := &authenticator{tokens: o.Auth.Tokens, revoked: o.Auth.Revocations, accounts: users, keys: keys, rules: rules, log: o.Logger}
	// The address budget comes before authentication, so bad tokens are paid for before
	// they are verified; the user budget after it (see limitClients).
	interceptors := []connect.Interceptor{
		observe(o.Logger),
		boundDeadlines(o.Resilience.RequestTimeout, o.Resilience.RequestTimeoutMax),
		limitClients(o.Limiter, o.RateLimits),
		authenticate(auth),
		limitUsers(o.Limiter, o.RateLimits),
		validateRequests(validator),
	}
	if o.Reads != nil {
		interceptors = append(interceptors, readYourWrites(o.Reads, o.Logger))
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
	return interceptors, nil
}

// exportDegradedCounters publishes at /metrics how often the rate limiter and the cache
// could not reach Redis and fell back (the limiter to its fail policy, the cache to
// PostgreSQL): tutorhub_ratelimit_degraded_total and tutorhub_cache_degraded_total.
func exportDegradedCounters(o Options) error {
	if o.Telemetry == nil {
		return nil
	}
	if o.Limiter != nil {
		if err := o.Telemetry.CountFunc("tutorhub.ratelimit.degraded",
			"Rate-limit checks that could not reach Redis and fell back to the fail policy.",
			o.Limiter.DegradedCount); err != nil {
			return err
		}
	}
	if o.Reads != nil {
		if err := o.Reads.RegisterMetrics(o.Telemetry.Meter); err != nil {
			return err
		}
	}
	if o.Cache != nil {
		if err := o.Telemetry.CountFunc("tutorhub.cache.degraded",
			"Cache operations that could not reach Redis and fell back to the database.",
			func() int64 { return o.Cache.Stats().RedisErrors }); err != nil {
			return err
		}
	}
	return nil
}

// observe records the procedure and final code for the access log line, and translates
// handler errors into the API's errors (server/errors.go), for unary and streaming RPCs
// alike. It is the outermost interceptor.
func observe(log *slog.Logger) connect.Interceptor {
	o := observer{log}
	return aroundCall(func(ctx context.Context, spec connect.Spec, _ http.Header, next func(context.Context) error) error {
		return o.finish(ctx, spec.Procedure, next(ctx))
	})
}

// aroundCall is an interceptor made of one function that runs around every call, unary or
// streaming (a stream once, when it opens): it sees the call's procedure and request headers
// and decides whether, and with which context, the call goes on by calling next.
type aroundCall func(ctx context.Context, spec connect.Spec, header http.Header, next func(context.Context) error) error

func (f aroundCall) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		var res connect.AnyResponse
		err := f(ctx, req.Spec(), req.Header(), func(ctx context.Context) error {
			var err error
			res, err = next(ctx, req)
			return err
		})
		return res, err
	}
}

func (f aroundCall) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (f aroundCall) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return f(ctx, conn.Spec(), conn.RequestHeader(), func(ctx context.Context) error {
			return next(ctx, conn)
		})
	}
}

type observer struct{ log *slog.Logger }

// finish translates err and records the outcome for the access log line.
func (o observer) finish(ctx context.Context, procedure string, err error) error {
	err = toConnectError(ctx, o.log, procedure, err)
	if ri := infoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.procedure = procedure
		ri.code = "ok"
		if err != nil {
			ri.code = connect.CodeOf(err).String()
		}
		ri.mu.Unlock()
	}
	return err
}

// validateRequests checks every request message against its protovalidate rules before the
// handler sees it: the request of a unary RPC, and each message a stream receives.
func validateRequests(v protovalidate.Validator) connect.Interceptor { return validator{v} }

type validator struct{ v protovalidate.Validator }

func (i validator) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := i.check(req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i validator) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i validator) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, validatingConn{StreamingHandlerConn: conn, v: i})
	}
}

func (i validator) check(m any) error {
	if msg, ok := m.(proto.Message); ok {
		if err := i.v.Validate(msg); err != nil {
			return validationError(err)
		}
	}
	return nil
}

// validatingConn refuses a received message that breaks its rules; the handler returns
// that error and the stream ends with InvalidArgument.
type validatingConn struct {
	connect.StreamingHandlerConn
	v validator
}

func (c validatingConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	return c.v.check(m)
}

// RateLimits are the per-client budgets the API enforces.
type RateLimits struct {
	Enabled       bool
	Anonymous     ratelimit.Rate // per client IP (IPv6: per network of IPv6Prefix bits)
	Authenticated ratelimit.Rate // per user
	// IPv6Prefix is the prefix length IPv6 clients are keyed by (32 to 128); 0 means
	// ratelimit.DefaultIPv6Prefix.
	IPv6Prefix int
}

// The request budgets are spent in two steps around authentication, so that a flood of
// bad access tokens is paid for by the client's address and valid users are charged once:
//
//   - limitClients runs before authentication. A request without a token spends one event
//     of the client's address budget (Anonymous). A request with a token spends nothing yet,
//     but is refused at once while that address budget is spent, before its token is
//     verified; if authentication then refuses it, it spends one event of the address
//     budget after all.
//   - limitUsers runs after authentication and spends one event of the caller's own
//     budget (Authenticated), or, for a service account, its key's own budget (the
//     account's requests per minute). A signed-in user is never charged to the address, so users
//     behind one NAT do not share a budget, and an anonymous request is charged once.
//
// A stream is one event, spent when it opens.

// limitClients is the address budget, before authentication.
func limitClients(l *ratelimit.Limiter, limits RateLimits) connect.Interceptor {
	i := clientLimiter{l: l, limits: limits}
	return aroundCall(func(ctx context.Context, _ connect.Spec, header http.Header, next func(context.Context) error) error {
		return i.guard(ctx, header.Get("Authorization") != "", next)
	})
}

// limitUsers is the per-user budget, after authentication.
func limitUsers(l *ratelimit.Limiter, limits RateLimits) connect.Interceptor {
	i := userLimiter{l: l, limits: limits}
	return aroundCall(func(ctx context.Context, _ connect.Spec, _ http.Header, next func(context.Context) error) error {
		if err := i.spend(ctx); err != nil {
			return err
		}
		return next(ctx)
	})
}

type clientLimiter struct {
	l      *ratelimit.Limiter
	limits RateLimits
}

// authPassedKey marks, in a request's context, an *atomic.Bool that limitUsers sets: only a
// request authentication let through reaches it.
type authPassedKey struct{}

func (i clientLimiter) guard(ctx context.Context, hasToken bool, next func(context.Context) error) error {
	if !i.limits.Enabled {
		return next(ctx)
	}
	key := "ip:" + ratelimit.ClientKey(clientIP(ctx), i.limits.IPv6Prefix)
	if !hasToken {
		if err := decide(i.l.Allow(ctx, key, i.limits.Anonymous)); err != nil {
			return err
		}
		return next(ctx)
	}
	if err := decide(i.l.Peek(ctx, key, i.limits.Anonymous)); err != nil {
		return err
	}
	passed := new(atomic.Bool)
	err := next(context.WithValue(ctx, authPassedKey{}, passed))
	if !passed.Load() {
		// Authentication refused the token: the address pays for it. The refusal is the
		// answer whatever this says.
		_, _ = i.l.Allow(context.WithoutCancel(ctx), key, i.limits.Anonymous)
	}
	return err
}

type userLimiter struct {
	l      *ratelimit.Limiter
	limits RateLimits
}

func (i userLimiter) spend(ctx context.Context) error {
	if sa := ServiceAccountFrom(ctx); sa != nil {
		if passed, ok := ctx.Value(authPassedKey{}).(*atomic.Bool); ok {
			passed.Store(true)
		}
		if !i.limits.Enabled {
			return nil
		}
		// Each key has a budget of its own, sized by its account's requests per minute.
		return decide(i.l.Allow(ctx, "sakey:"+sa.KeyID.String(), ratelimit.Rate{Limit: sa.RequestsPerMinute, Period: time.Minute}))
	}
	c := CallerFrom(ctx)
	// A public RPC runs with a refused token as anonymous: the address still pays for it.
	if passed, ok := ctx.Value(authPassedKey{}).(*atomic.Bool); ok && c != nil {
		passed.Store(true)
	}
	if !i.limits.Enabled || c == nil {
		return nil
	}
	return decide(i.l.Allow(ctx, "user:"+c.UserID, i.limits.Authenticated))
}

// decide turns a limiter's answer into the request's error: nil when allowed.
func decide(d ratelimit.Decision, err error) error {
	if err != nil {
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "rate limiter unavailable; retry shortly", RetryAfterSeconds: breakerRetry(err)}
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	return nil
}

// rateLimited is the error for a spent budget, with the seconds to wait.
func rateLimited(d ratelimit.Decision) error {
	return &tutorhub.Error{
		Code:              tutorhub.ERATELIMIT,
		Message:           "too many requests; retry later",
		RetryAfterSeconds: int(math.Ceil(d.RetryAfter.Seconds())),
	}
}

// Caller is the authenticated principal of a request.
type Caller struct {
	UserID    string
	SessionID string
	Email     string
	Roles     []string
	// EmailVerified is the access token's email_verified claim: as of the token's minting.
	EmailVerified bool
}

// HasRole reports whether the caller holds role.
func (c *Caller) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

type callerKey struct{}

// WithCaller returns ctx carrying the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the request's authenticated caller, or nil for anonymous requests.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// recoverHandler turns a handler panic into a bare Internal error; the panic value and stack
// go to the log, never to the client.
func recoverHandler(log *slog.Logger) connect.HandlerOption {
	return connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
		log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", p)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	})
}
