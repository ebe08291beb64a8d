package server

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
)

// observe records the procedure and final code for the access log line, and translates
// handler errors into the API's errors (server/errors.go). It is the outermost interceptor.
func observe(log *slog.Logger) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			procedure := req.Spec().Procedure
			res, err := next(ctx, req)
			err = toConnectError(ctx, log, procedure, err)
			if ri := infoFrom(ctx); ri != nil {
				ri.mu.Lock()
				ri.procedure = procedure
				ri.code = "ok"
				if err != nil {
					ri.code = connect.CodeOf(err).String()
				}
				ri.mu.Unlock()
			}
			return res, err
		}
	}
}

// validateRequests checks every request message against its protovalidate rules before the
// handler sees it.
func validateRequests(v protovalidate.Validator) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if msg, ok := req.Any().(proto.Message); ok {
				if err := v.Validate(msg); err != nil {
					return nil, validationError(err)
				}
			}
			return next(ctx, req)
		}
	}
}

// RateLimits are the per-client budgets the API enforces.
type RateLimits struct {
	Enabled       bool
	Anonymous     ratelimit.Rate // per client IP
	Authenticated ratelimit.Rate // per user
}

// limitRequests spends one event of the caller's budget per request: per user once
// authenticated, per client IP before.
func limitRequests(l *ratelimit.Limiter, limits RateLimits) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if !limits.Enabled {
				return next(ctx, req)
			}
			key, rate := "ip:"+clientIP(ctx).String(), limits.Anonymous
			if c := CallerFrom(ctx); c != nil {
				key, rate = "user:"+c.UserID, limits.Authenticated
			}
			d, err := l.Allow(ctx, key, rate)
			if err != nil {
				return nil, &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "rate limiter unavailable"}
			}
			if !d.Allowed {
				return nil, rateLimited(d)
			}
			return next(ctx, req)
		}
	}
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
