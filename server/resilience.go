package server

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/breaker"
)

// Resilience bounds what one request may cost the instance (docs/resilience.md).
type Resilience struct {
	// RequestTimeout is the deadline of an RPC whose client sent none; 0 leaves such RPCs
	// unbounded.
	RequestTimeout time.Duration
	// RequestTimeoutMax caps the deadline a client asks for (Connect-Timeout-Ms,
	// grpc-timeout); 0 is no cap.
	RequestTimeoutMax time.Duration
	// MaxInFlight is how many requests the instance serves at once; the next is refused at
	// once (ResourceExhausted, or 503 on REST and plain HTTP, with Retry-After). Health,
	// readiness, gRPC health and notification streams are not counted. 0 is no limit.
	MaxInFlight int
	// LatencyTarget, when set, makes the in-flight limit adaptive: it starts at MinInFlight,
	// shrinks when more than 1 % of the admitted requests take longer than this, and grows
	// while they are fast and the limit is what holds requests back, up to MaxInFlight.
	LatencyTarget time.Duration
	// MinInFlight is the adaptive limit's floor and starting point (default 8).
	MinInFlight int
}

// boundDeadlines gives every unary RPC a deadline: the client's (connect-go has already
// applied Connect-Timeout-Ms or grpc-timeout to ctx) capped at max, or def when the client
// sent none. Every outbound call the handler makes inherits it, so nothing the request
// started outlives it. Streams keep their own lifetime (heartbeats, drain on shutdown).
func boundDeadlines(def, maxTimeout time.Duration) connect.Interceptor {
	return aroundCall(func(ctx context.Context, spec connect.Spec, _ http.Header, next func(context.Context) error) error {
		if spec.StreamType != connect.StreamTypeUnary {
			return next(ctx)
		}
		limit := time.Duration(0)
		if dl, ok := ctx.Deadline(); !ok {
			limit = def
		} else if maxTimeout > 0 && time.Until(dl) > maxTimeout {
			limit = maxTimeout
		}
		if limit <= 0 {
			return next(ctx)
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		return next(ctx)
	})
}

// breakerRetry is the whole seconds until err's circuit breaker probes again; 0 when err
// is no breaker's refusal.
func breakerRetry(err error) int {
	var open *breaker.OpenError
	if !errors.As(err, &open) {
		return 0
	}
	return max(1, int(math.Ceil(open.RetryAfter.Seconds())))
}

// shedder refuses requests beyond a number in flight, at once and without queueing: a queue
// would only add its wait to every request's latency while the instance is saturated, and
// clients with Retry-After go elsewhere or come back. The number is fixed (MaxInFlight), or,
// with a latency target, adapted to what the instance sustains (see adaptiveLimit).
type shedder struct {
	inFlight atomic.Int64
	limit    atomic.Int64
	errors   *connect.ErrorWriter
	refused  atomic.Int64
	adapt    *adaptiveLimit // nil: the limit is fixed
}

// shedRetryAfter is the Retry-After of a refusal: by then most requests in flight have ended.
const shedRetryAfter = 1

func newShedder(r Resilience) *shedder {
	if r.MaxInFlight <= 0 {
		return nil
	}
	s := &shedder{errors: connect.NewErrorWriter()}
	s.limit.Store(int64(r.MaxInFlight))
	if r.LatencyTarget > 0 {
		s.adapt = newAdaptiveLimit(r.LatencyTarget, r.MinInFlight, r.MaxInFlight, time.Now)
		s.limit.Store(s.adapt.limit())
	}
	return s
}

// neverShed reports whether path is exempt: probes must see the instance's real state
// rather than a refusal, and a notification stream lives for minutes with its own limit.
func neverShed(path string) bool {
	switch path {
	case "/health", "/ready", "/metrics", tutorhubv1connect.NotificationServiceWatchNotificationsProcedure:
		return true
	}
	return strings.HasPrefix(path, "/"+grpchealth.HealthV1ServiceName+"/")
}

func (s *shedder) wrap(next http.Handler) http.Handler {
	if s == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if neverShed(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		n := s.inFlight.Add(1)
		if n > s.limit.Load() {
			s.inFlight.Add(-1)
			s.refused.Add(1)
			s.refuse(w, r)
			return
		}
		if s.adapt == nil {
			defer s.inFlight.Add(-1)
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		defer func() {
			s.inFlight.Add(-1)
			if l, changed := s.adapt.observe(time.Since(start), n); changed {
				s.limit.Store(l)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// InFlight is the number of requests in flight now (those never shed excepted).
func (s *shedder) InFlight() int64 {
	if s == nil {
		return 0
	}
	return s.inFlight.Load()
}

// Limit is the number of requests the instance admits at once now.
func (s *shedder) Limit() int64 {
	if s == nil {
		return 0
	}
	return s.limit.Load()
}

// refuse answers a request the instance has no room for: ResourceExhausted with RetryInfo
// to Connect, gRPC and gRPC-Web clients, 503 to REST and everything else, both with
// Retry-After.
func (s *shedder) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", strconv.Itoa(shedRetryAfter))
	if !strings.HasPrefix(r.URL.Path, "/api/") && s.errors.IsSupported(r) {
		_ = s.errors.Write(w, r, overloaded())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"code":"unavailable","message":"server overloaded; retry later"}` + "\n"))
}

// overloaded is the answer to a request the instance cannot serve now (shed, or no
// database connection within the acquire timeout): ResourceExhausted with RetryInfo and
// Retry-After.
func overloaded() *connect.Error {
	err := connect.NewError(connect.CodeResourceExhausted, errors.New("server overloaded; retry later"))
	if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(shedRetryAfter * time.Second)}); derr == nil {
		err.AddDetail(d)
	}
	err.Meta().Set("Retry-After", strconv.Itoa(shedRetryAfter))
	return err
}

// Refused is how many requests were shed since start.
func (s *shedder) Refused() int64 {
	if s == nil {
		return 0
	}
	return s.refused.Load()
}

// dependencyDown reports whether err says a dependency could not be reached (its breaker
// is open, or no connection could be made to it), which the client may retry, rather than
// a fault of the request or of the code.
func dependencyDown(err error) bool {
	if errors.Is(err, breaker.ErrOpen) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The connection failed before the query was sent, or was lost while it ran.
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
