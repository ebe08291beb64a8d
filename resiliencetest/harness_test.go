package resiliencetest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// Redis waits in these tests: any read that waits on Redis costs at least redisWait, so a
// bound well below it tells "no wait" from "a wait" however slow the machine.
const (
	redisWait = time.Second
	// redisOpenFor is long enough that no probe falls inside a test's degraded phase.
	redisOpenFor = 3 * time.Second
	// noWait bounds a request that must not wait on a failed dependency.
	noWait = redisWait / 2
)

// setup says which dependencies a test API reaches through its proxies.
type setup struct {
	redis, pg *testenv.Fault
	kratos    *testenv.Fault
	// kratosTimeout bounds each Kratos call (default 10s).
	kratosTimeout  time.Duration
	maxInFlight    int
	requestTimeout time.Duration
	// latencyTarget makes the in-flight limit adaptive, from minInFlight up to maxInFlight.
	latencyTarget time.Duration
	minInFlight   int
	// metrics serves /metrics on the API's URL.
	metrics bool
	// noCache reads PostgreSQL every time.
	noCache bool
	// poolSize (default 8) and acquireTimeout (default none) size the API's pool.
	poolSize       int32
	acquireTimeout time.Duration
}

type api struct {
	URL      string
	DB       *pgxpool.Pool // direct, not through the proxy: the test's own view
	Pool     *pgxpool.Pool // the API's own
	Cache    *cache.Cache
	Breakers *breaker.Group
	Logs     *syncBuffer
	// key signs the access tokens the API accepts (token).
	key *ecdsa.PrivateKey
}

func newAPI(t *testing.T, s setup) *api {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := testenv.DatabaseURL(t)
	direct, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	apiURL := dbURL
	if s.pg != nil {
		apiURL = s.pg.URL(dbURL)
	}
	size := s.poolSize
	if size == 0 {
		size = 8
	}
	pool, err := database.Open(ctx, apiURL, database.PoolOptions{MaxConns: size, AcquireTimeout: s.acquireTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	_, prefix := testenv.Redis(t) // the shared Redis's keys of this test are removed at the end
	opts, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	if s.redis != nil {
		opts.Addr = s.redis.Addr
	}
	logs := &syncBuffer{}
	log := logging.New(logs, slog.LevelDebug, "json", nil)
	breakers := breaker.NewGroup(breaker.Options{Failures: 3, OpenFor: redisOpenFor, MaxOpenFor: redisOpenFor}, log)
	rdb := breaker.NewRedis(opts, breaker.RedisTimeouts{Dial: redisWait, Command: redisWait}, breakers.Breaker("redis"))
	t.Cleanup(func() { _ = rdb.Close() })
	var c *cache.Cache
	if !s.noCache {
		c = cache.New(rdb, cache.Options{Prefix: prefix + "cache:", Logger: log, Timeout: redisWait})
	}
	health := server.NewHealth([]server.Check{{Name: "postgres", Check: pool.Ping}}, server.ServiceNames...)
	jwks, key := writeJWKS(t)
	verifier, err := accesstoken.NewVerifier(accesstoken.Options{
		JWKSPath: jwks, Issuer: testIssuer, Audience: "tutorhub", MaxLifetime: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	roomy := ratelimit.Rate{Limit: 100000, Period: time.Minute}
	kratosURL, kratosTimeout := testenv.KratosPublicURL(), 10*time.Second
	if s.kratos != nil {
		kratosURL = s.kratos.URL(kratosURL)
	}
	if s.kratosTimeout > 0 {
		kratosTimeout = s.kratosTimeout
	}
	var tel *telemetry.Telemetry
	if s.metrics {
		if tel, err = telemetry.Setup(ctx, "tutorhub-resiliencetest", "test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	}
	h, err := server.New(server.Options{
		Logger:     log,
		Telemetry:  tel,
		DB:         pool,
		Health:     health,
		Limiter:    ratelimit.New(rdb, prefix, true, log),
		RateLimits: server.RateLimits{Enabled: true, Anonymous: roomy, Authenticated: roomy},
		PageTokens: pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef")),
		Cache:      c,
		Auth: server.AuthOptions{
			Kratos:           kratos.New(kratos.Options{PublicURL: kratosURL, AdminURL: testenv.KratosAdminURL(), Timeout: kratosTimeout, Breaker: breakers.Breaker("kratos")}),
			TokenizeTemplate: "access_token",
			// Far enough away that no test meets it (a zero policy locks at once).
			Lockout:     server.LockoutPolicy{Threshold: 1000, Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour},
			Tokens:      verifier,
			Revocations: accesstoken.NewRevocations(rdb, prefix, 11*time.Minute, nil),
			CSRFKey:     server.DeriveKey([]byte("test-cursor-secret-0123456789abcdef"), "tutorhub csrf key v1"),
			Limits:      server.AuthRateLimits{Enabled: true, IP: roomy, Account: roomy, Global: roomy, Recovery: roomy, RecoveryAccount: roomy},
			PublicURL:   "http://tutorhub.test",
		},
		MaxBodyBytes: 64 << 10,
		Resilience: server.Resilience{
			RequestTimeout:    s.requestTimeout,
			RequestTimeoutMax: time.Minute,
			MaxInFlight:       s.maxInFlight,
			LatencyTarget:     s.latencyTarget,
			MinInFlight:       s.minInFlight,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return &api{URL: srv.URL, DB: direct, Pool: pool, Cache: c, Breakers: breakers, Logs: logs, key: key}
}

// testIssuer is the issuer of the access tokens the test APIs accept.
const testIssuer = "http://kratos.test/"

// writeJWKS writes the public key set of a fresh key and returns its path and the key.
func writeJWKS(t *testing.T) (string, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.public.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// token is an access token of userID (email verified) that the API accepts for five minutes.
func (a *api) token(t *testing.T, userID string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: a.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := struct {
		jwt.Claims
		SessionID     string `json:"sid"`
		EmailVerified bool   `json:"email_verified"`
	}{
		Claims: jwt.Claims{Issuer: testIssuer, Subject: userID, Audience: jwt.Audience{"tutorhub"},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))},
		SessionID: uuid.NewString(), EmailVerified: true,
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bearer sends token as every call's access token.
func bearer(token string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}))
}

// newUser stores a user straight in the database and returns its id.
func (a *api) newUser(t *testing.T, name string) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := a.DB.Exec(context.Background(), `INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)`,
		id, testenv.RandomID()+"@example.test", name); err != nil {
		t.Fatal(err)
	}
	return id
}

// eventually polls cond until it holds or within fails the test.
// state, when set, describes the world for the failure message.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			if state != nil {
				what += " (" + state() + ")"
			}
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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

// h2c is a client speaking HTTP/2 without TLS, as gRPC clients do on a plaintext port.
func h2c() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}
