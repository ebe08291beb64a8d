package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/net/http2"

	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testAPI is a real API server on a loopback port, backed by a fresh database and a private
// Redis key prefix.
type testAPI struct {
	URL    string
	DB     *pgxpool.Pool
	Logs   *syncBuffer
	Health *server.Health
	// Handler is the production handler chain (server.New) the server runs.
	Handler http.Handler
}

type apiOption func(*server.Options)

func withRateLimits(l server.RateLimits) apiOption {
	return func(o *server.Options) { o.RateLimits = l }
}

func withCORS(origins ...string) apiOption {
	return func(o *server.Options) { o.CORSOrigins = origins }
}

func withTrustedProxies(p ...netip.Prefix) apiOption {
	return func(o *server.Options) { o.TrustedProxies = p }
}

func newTestAPI(t testing.TB, opts ...apiOption) *testAPI {
	t.Helper()
	db := testenv.Postgres(t)
	rdb, prefix := testenv.Redis(t)
	logs := &syncBuffer{}
	registerLog(logs)
	log := logging.New(logs, slog.LevelDebug, "json", nil)
	health := server.NewHealth([]server.Check{
		{Name: "postgres", Check: db.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}, server.ServiceNames...)
	o := server.Options{
		Logger:       log,
		DB:           db,
		Health:       health,
		Limiter:      ratelimit.New(rdb, prefix, true, log),
		RateLimits:   server.RateLimits{Enabled: true, Anonymous: ratelimit.Rate{Limit: 10000, Period: time.Minute}, Authenticated: ratelimit.Rate{Limit: 10000, Period: time.Minute}},
		PageTokens:   pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef")),
		Cache:        cache.New(rdb, cache.Options{Prefix: prefix + "cache:", Logger: log}),
		MaxBodyBytes: 64 << 10,
		Auth:         testAuthOptions(t, rdb, prefix),
	}
	for _, opt := range opts {
		opt(&o)
	}
	h, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return &testAPI{URL: srv.URL, DB: db, Logs: logs, Health: health, Handler: h}
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do against a plaintext port.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// do sends a plain HTTP request and returns the status, headers and body.
func do(t *testing.T, method, url string, body string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, b)
	}
	return m
}

// containsViolation reports whether a JSON error body carries a buf.validate.Violations
// detail naming field.
func containsViolation(m map[string]any, field string) bool {
	details, _ := m["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		if dm["type"] != "buf.validate.Violations" || dm["value"] == "" {
			continue
		}
		debug, _ := dm["debug"].(map[string]any)
		vs, _ := debug["violations"].([]any)
		for _, v := range vs {
			b, _ := json.Marshal(v)
			if strings.Contains(string(b), `"fieldName":"`+field+`"`) {
				return true
			}
		}
	}
	return false
}

// deadRedis is a client for a port nothing listens on.
func deadRedis() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
}
