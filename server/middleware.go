package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tutorhub/tutorhub/internal/logging"
)

// requestIDPattern is what a client-supplied X-Request-Id must look like to be kept: short,
// printable, and safe to put in a log line or a header.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$`)

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestInfo collects, during a request, what the access log line reports.
type requestInfo struct {
	mu        sync.Mutex
	procedure string
	code      string
	clientIP  netip.Addr
	userID    string
	// serviceAccountID and keyPrefix name a service-account caller.
	serviceAccountID, keyPrefix string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// clientIP returns the caller's address as the edge resolved it (X-Forwarded-For is
// believed only from a trusted proxy).
func clientIP(ctx context.Context) netip.Addr {
	if ri := infoFrom(ctx); ri != nil {
		return ri.clientIP
	}
	return netip.Addr{}
}

// statusRecorder remembers the status and size a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush keeps streaming responses streaming through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// edge wraps the whole mux: request id, client address, access log, panic recovery, security
// headers and the body limit, in that order from the outside in.
type edge struct {
	log            *slog.Logger
	tracer         trace.Tracer // nil: no spans
	trustedProxies []netip.Prefix
	maxBodyBytes   int64
	hsts           bool
}

func (e *edge) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Captured now: the REST transcoder rewrites the request's URL in place.
		method, path := r.Method, r.URL.Path
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &requestInfo{clientIP: e.resolveClientIP(r)}
		rec := &statusRecorder{ResponseWriter: w}
		ctx := logging.WithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, requestInfoKey{}, ri)
		if e.tracer != nil {
			// One server span per HTTP request, continuing the caller's trace, so every log
			// line of the request (the access line included) carries its trace id.
			var span trace.Span
			ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
			ctx, span = e.tracer.Start(ctx, method+" "+routeName(path), trace.WithSpanKind(trace.SpanKindServer))
			defer func() {
				span.SetAttributes(attribute.Int("http.response.status_code", rec.status), attribute.String("http.request.method", method))
				if rec.status >= 500 {
					span.SetStatus(otelcodes.Error, http.StatusText(rec.status))
				}
				span.End()
			}()
		}
		r = r.WithContext(ctx)

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared by identity, as net/http does
					panic(p)
				}
				e.log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeJSONError(rec, connect.CodeInternal, "internal error")
				}
			}
			ri.mu.Lock()
			attrs := []slog.Attr{
				slog.String("method", method),
				slog.String("path", path),
				slog.Int("status", rec.status),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("peer", ri.clientIP.String()),
				slog.String("protocol", r.Proto),
				slog.Int64("bytes", rec.bytes),
			}
			if ri.procedure != "" {
				attrs = append(attrs, slog.String("procedure", ri.procedure), slog.String("code", ri.code))
			}
			if ri.userID != "" {
				attrs = append(attrs, slog.String("user_id", ri.userID))
			}
			if ri.serviceAccountID != "" {
				attrs = append(attrs, slog.String("service_account_id", ri.serviceAccountID), slog.String("key_prefix", ri.keyPrefix))
			}
			ri.mu.Unlock()
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			e.log.LogAttrs(ctx, level, "request", attrs...)
		}()

		h := rec.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if h.Get("Content-Security-Policy") == "" {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		if e.hsts && (r.TLS != nil || (e.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}

		// Refuse a declared oversize body before reading any of it; cap the rest as it is read.
		if r.ContentLength > e.maxBodyBytes {
			writeJSONErrorStatus(rec, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted, "request body too large")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, e.maxBodyBytes)
		}
		next.ServeHTTP(rec, r)
	})
}

func (e *edge) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range e.trustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// resolveClientIP is the remote address, or, behind trusted proxies, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy.
func (e *edge) resolveClientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	remote = remote.Unmap()
	if !e.fromTrustedProxy(r) {
		return remote
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return remote
		}
		a = a.Unmap()
		trusted := false
		for _, p := range e.trustedProxies {
			if p.Contains(a) {
				trusted = true
				break
			}
		}
		if !trusted {
			return a
		}
	}
	return remote
}

// withCORS allows the configured origins to call every protocol the server speaks,
// including Connect's and gRPC-Web's headers, and to read the error details header.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   connectcors.AllowedMethods(),
		AllowedHeaders:   append(connectcors.AllowedHeaders(), "Authorization", "X-Request-Id"),
		ExposedHeaders:   append(connectcors.ExposedHeaders(), "X-Request-Id", "Retry-After"),
		AllowCredentials: true,
		MaxAge:           7200,
	})
	return c.Handler(next)
}

// isMaxBytesError reports whether err came from the body limit.
func isMaxBytesError(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// routeName is a low-cardinality span name for a path: RPC paths as they are, REST and page
// paths cut to their first segments, so ids do not explode the span-name space.
func routeName(path string) string {
	if strings.Count(path, "/") == 2 && strings.Contains(path, ".") {
		return path // /package.Service/Method
	}
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return "/" + strings.Join(parts, "/")
}

// requestStacks serves each HTTP/1 request on a goroutine of its own, which ends with the
// request. net/http otherwise runs the handler on the connection's goroutine, whose stack
// grows to what the whole chain needs (tens of KiB: edge, transcoder, interceptors, the
// handler, its clients) and stays that size while the keep-alive connection waits for its
// next request, until collections shrink it. With a thousand idle connections that was most
// of the process's stacks; now an idle connection holds net/http's own small stack, and
// request-sized stacks exist only for the requests in flight. HTTP/2 already serves each
// stream on a goroutine of its own. A panic the chain lets through (http.ErrAbortHandler)
// is raised again on the connection's goroutine, where net/http handles it.
func requestStacks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			next.ServeHTTP(w, r)
			return
		}
		done := make(chan any, 1)
		go func() {
			panicked := true
			defer func() {
				if !panicked {
					done <- nil
					return
				}
				done <- recover()
			}()
			next.ServeHTTP(w, r)
			panicked = false
		}()
		if p := <-done; p != nil {
			panic(p)
		}
	})
}
