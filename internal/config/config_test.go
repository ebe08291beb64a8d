package config_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
)

// A cursor secret long enough for production.
const prodCursorSecret = "prod-cursor-secret-0123456789abcdef0123456789"

func load(env ...string) (*config.Config, error) { return config.Load(env) }

func mustLoad(t *testing.T, env ...string) *config.Config {
	t.Helper()
	c, err := load(env...)
	if err != nil {
		t.Fatalf("Load(%q): %v", env, err)
	}
	return c
}

func mustFail(t *testing.T, env ...string) *config.Error {
	t.Helper()
	c, err := load(env...)
	if err == nil {
		t.Fatalf("Load(%q) = %+v, want an error", env, c)
	}
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load error is %T, want *config.Error: %v", err, err)
	}
	return cerr
}

func problemFor(e *config.Error, key string) (config.Problem, bool) {
	for _, p := range e.Problems {
		if p.Key == key {
			return p, true
		}
	}
	return config.Problem{}, false
}

func wantProblem(t *testing.T, e *config.Error, key, reasonPart string) {
	t.Helper()
	for _, p := range e.Problems {
		if p.Key == key && strings.Contains(p.Reason, reasonPart) {
			return
		}
	}
	t.Errorf("no problem for %s containing %q; got:\n%v", key, reasonPart, e)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t)
	rate := func(n int, p time.Duration) config.Rate { return config.Rate{Limit: n, Period: p, Burst: n} }
	tests := []struct {
		name      string
		got, want any
	}{
		{"Env", c.Env, config.EnvDevelopment},
		{"HTTP.Addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"HTTP.ReadHeaderTimeout", c.HTTP.ReadHeaderTimeout, 5 * time.Second},
		{"HTTP.ReadTimeout", c.HTTP.ReadTimeout, 30 * time.Second},
		{"HTTP.WriteTimeout", c.HTTP.WriteTimeout, 30 * time.Second},
		{"HTTP.IdleTimeout", c.HTTP.IdleTimeout, 120 * time.Second},
		{"HTTP.ShutdownTimeout", c.HTTP.ShutdownTimeout, 25 * time.Second},
		{"HTTP.ReadyDrainDelay", c.HTTP.ReadyDrainDelay, time.Duration(0)},
		{"HTTP.MaxBodyBytes", c.HTTP.MaxBodyBytes, int64(1 << 20)},
		{"MemoryLimitBytes", c.MemoryLimitBytes, int64(100 << 20)},
		{"HTTP.TLSCertFile", c.HTTP.TLSCertFile, ""},
		{"HTTP.TLSKeyFile", c.HTTP.TLSKeyFile, ""},
		{"HTTP.TrustedProxies", len(c.HTTP.TrustedProxies), 0},
		{"HTTP.PublicURL", c.HTTP.PublicURL, "http://127.0.0.1:8080"},
		{"Database.URL", c.Database.URL, "postgres://postgres@127.0.0.1:5432/tutorhub?sslmode=disable"},
		{"Database.MaxConns", c.Database.MaxConns, int32(10)},
		{"Database.MinConns", c.Database.MinConns, int32(0)},
		{"Database.MaxConnLifetime", c.Database.MaxConnLifetime, 30 * time.Minute},
		{"Database.MaxConnIdleTime", c.Database.MaxConnIdleTime, 5 * time.Minute},
		{"Redis.URL", c.Redis.URL, "redis://127.0.0.1:6379/0"},
		{"Redis.KeyPrefix", c.Redis.KeyPrefix, "tutorhub:"},
		{"Log.Level", c.Log.Level, slog.LevelInfo},
		{"Log.Format", c.Log.Format, "json"},
		{"CORS.AllowedOrigins", len(c.CORS.AllowedOrigins), 0},
		{"RateLimit.Enabled", c.RateLimit.Enabled, true},
		{"RateLimit.Anonymous", c.RateLimit.Anonymous, rate(120, time.Minute)},
		{"RateLimit.Authenticated", c.RateLimit.Authenticated, rate(600, time.Minute)},
		{"RateLimit.Auth", c.RateLimit.Auth, rate(20, time.Minute)},
		{"RateLimit.AuthAccount", c.RateLimit.AuthAccount, rate(10, time.Minute)},
		{"RateLimit.AuthGlobal", c.RateLimit.AuthGlobal, rate(600, time.Minute)},
		{"RateLimit.Recovery", c.RateLimit.Recovery, rate(30, time.Hour)},
		{"RateLimit.RecoveryAccount", c.RateLimit.RecoveryAccount, rate(5, time.Hour)},
		{"RateLimit.IPv6Prefix", c.RateLimit.IPv6Prefix, 64},
		{"RateLimit.FailOpen", c.RateLimit.FailOpen, true},
		{"Cursor.Secret is a development key of at least 32 bytes", len(c.Cursor.Secret) >= 32, true},
		{"Kratos.PublicURL", c.Kratos.PublicURL, "http://127.0.0.1:4433"},
		{"Kratos.AdminURL", c.Kratos.AdminURL, "http://127.0.0.1:4434"},
		{"Kratos.Timeout", c.Kratos.Timeout, 5 * time.Second},
		{"Auth.AccessTokenJWKSURL", c.Auth.AccessTokenJWKSURL, ".data/kratos/jwks.public.json"},
		{"Auth.TokenIssuer", c.Auth.TokenIssuer, "http://127.0.0.1:4433"},
		{"Auth.TokenAudience", c.Auth.TokenAudience, "tutorhub"},
		{"Auth.TokenLifetime", c.Auth.TokenLifetime, 10 * time.Minute},
		{"Auth.TokenizeTemplate", c.Auth.TokenizeTemplate, "access_token"},
		{"Auth.CookieSecure", c.Auth.CookieSecure, false},
		{"Auth.LockoutThreshold", c.Auth.LockoutThreshold, 5},
		{"Auth.LockoutWindow", c.Auth.LockoutWindow, 15 * time.Minute},
		{"Auth.LockoutBase", c.Auth.LockoutBase, time.Minute},
		{"Auth.LockoutMax", c.Auth.LockoutMax, time.Hour},
		{"Auth.CaptchaProvider", c.Auth.CaptchaProvider, ""},
		{"Auth.CaptchaSecret", c.Auth.CaptchaSecret, ""},
		{"Auth.CaptchaAfterFailures", c.Auth.CaptchaAfterFailures, 3},
		{"Auth.CaptchaOnRegister", c.Auth.CaptchaOnRegister, false},
		{"Tutors.RequireVerifiedEmail", c.Tutors.RequireVerifiedEmail, true},
		{"Auth.UniformResponse", c.Auth.UniformResponse, 500 * time.Millisecond},
		{"SMTP.URL", c.SMTP.URL, "smtp://127.0.0.1:1025"},
		{"SMTP.From", c.SMTP.From, "tutorhub <no-reply@tutorhub.local>"},
		{"Temporal.Address", c.Temporal.Address, "127.0.0.1:7233"},
		{"Temporal.Namespace", c.Temporal.Namespace, "tutorhub"},
		{"Temporal.TLS", c.Temporal.TLS(), false},
		{"Temporal.APIKey", c.Temporal.APIKey, ""},
		{"Worker.MetricsAddr", c.Worker.MetricsAddr, "127.0.0.1:9091"},
		{"MigrateOnStart", c.MigrateOnStart, false},
		{"Search.Engine", c.Search.Engine, "postgres"},
		{"Search.MeiliURL", c.Search.MeiliURL, ""},
		{"Search.MeiliAPIKey", c.Search.MeiliAPIKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("development cursor key is announced in Warnings", func(t *testing.T) {
		if !slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.Contains(w, "TUTORHUB_CURSOR_SECRET") }) {
			t.Errorf("Warnings() = %q, want a line about TUTORHUB_CURSOR_SECRET", c.Warnings())
		}
	})
}

// badValues holds at least one rejected value per key; extra sets other
// variables the case needs.
func badValues(t *testing.T) []struct {
	key, value string
	extra      []string
} {
	dir := t.TempDir()
	pem := writeFile(t, "tls.pem", "not really PEM")
	return []struct {
		key, value string
		extra      []string
	}{
		{"TUTORHUB_ENV", "staging", nil},
		{"TUTORHUB_HTTP_ADDR", "localhost", nil},
		{"TUTORHUB_HTTP_ADDR", "127.0.0.1:99999", nil},
		{"TUTORHUB_HTTP_ADDR", "bad host!:80", nil},
		{"TUTORHUB_HTTP_INTERNAL_ADDR", "9090", nil},
		{"TUTORHUB_HTTP_INTERNAL_ADDR", "127.0.0.1:8080", nil}, // the API's default address
		{"TUTORHUB_HTTP_READ_HEADER_TIMEOUT", "5", nil},
		{"TUTORHUB_HTTP_READ_HEADER_TIMEOUT", "0s", nil},
		{"TUTORHUB_HTTP_READ_HEADER_TIMEOUT", "1m", []string{"TUTORHUB_HTTP_READ_TIMEOUT=30s"}},
		{"TUTORHUB_HTTP_READ_TIMEOUT", "abc", nil},
		{"TUTORHUB_HTTP_WRITE_TIMEOUT", "0", nil},
		{"TUTORHUB_HTTP_IDLE_TIMEOUT", "-5s", nil},
		{"TUTORHUB_HTTP_SHUTDOWN_TIMEOUT", "soon", nil},
		{"TUTORHUB_HTTP_READY_DRAIN_DELAY", "-1s", nil},
		{"TUTORHUB_HTTP_MAX_BODY_BYTES", "1023", nil},
		{"TUTORHUB_HTTP_MAX_BODY_BYTES", "67108865", nil},
		{"TUTORHUB_HTTP_MAX_BODY_BYTES", "1MiB", nil},
		{"TUTORHUB_MEMORY_LIMIT_BYTES", "16777215", nil},
		{"TUTORHUB_MEMORY_LIMIT_BYTES", "-1", nil},
		{"TUTORHUB_MEMORY_LIMIT_BYTES", "128MiB", nil},
		{"TUTORHUB_HTTP_TLS_CERT_FILE", filepath.Join(dir, "missing.pem"), []string{"TUTORHUB_HTTP_TLS_KEY_FILE=" + pem}},
		{"TUTORHUB_HTTP_TLS_CERT_FILE", "", []string{"TUTORHUB_HTTP_TLS_KEY_FILE=" + pem}},
		{"TUTORHUB_HTTP_TLS_KEY_FILE", dir, []string{"TUTORHUB_HTTP_TLS_CERT_FILE=" + pem}},
		{"TUTORHUB_HTTP_TLS_KEY_FILE", "", []string{"TUTORHUB_HTTP_TLS_CERT_FILE=" + pem}},
		{"TUTORHUB_HTTP_TRUSTED_PROXIES", "10.0.0.1/8", nil},
		{"TUTORHUB_HTTP_TRUSTED_PROXIES", "not-an-ip", nil},
		{"TUTORHUB_HTTP_TRUSTED_PROXIES", "10.0.0.0/8,,192.168.0.1", nil},
		{"TUTORHUB_HTTP_TRUSTED_PROXIES", "fe80::1%eth0", nil},
		{"TUTORHUB_HTTP_PUBLIC_URL", "ftp://api.example.com", nil},
		{"TUTORHUB_HTTP_PUBLIC_URL", "/api", nil},
		{"TUTORHUB_HTTP_PUBLIC_URL", "https://user:pw@api.example.com", nil},
		{"TUTORHUB_HTTP_PUBLIC_URL", "https://api.example.com/?q=1", nil},
		{"TUTORHUB_DATABASE_URL", "postgres://u:hunter2@db:notaport/x", nil},
		{"TUTORHUB_DATABASE_URL", "", nil},
		{"TUTORHUB_DATABASE_MAX_CONNS", "0", nil},
		{"TUTORHUB_DATABASE_MAX_CONNS", "1001", nil},
		{"TUTORHUB_DATABASE_MIN_CONNS", "-1", nil},
		{"TUTORHUB_DATABASE_MIN_CONNS", "20", []string{"TUTORHUB_DATABASE_MAX_CONNS=10"}},
		{"TUTORHUB_DATABASE_DIRECT_URL", "postgres://u:hunter2@db:notaport/x", nil},
		{"TUTORHUB_DATABASE_REPLICA_URL", "postgres://u:hunter2@db:notaport/x", nil},
		{"TUTORHUB_DATABASE_REPLICA_MAX_LAG", "0s", nil},
		{"TUTORHUB_DATABASE_REPLICA_CHECK_INTERVAL", "-1s", nil},
		{"TUTORHUB_DATABASE_MAX_CONN_LIFETIME", "0s", nil},
		{"TUTORHUB_DATABASE_MAX_CONN_IDLE_TIME", "x", nil},
		{"TUTORHUB_REDIS_URL", "http://:hunter2@cache:6379", nil},
		{"TUTORHUB_REDIS_URL", "", nil},
		{"TUTORHUB_REDIS_KEY_PREFIX", "tutor hub:", nil},
		{"TUTORHUB_REDIS_KEY_PREFIX", "tutorhub*", nil},
		{"TUTORHUB_LOG_LEVEL", "verbose", nil},
		{"TUTORHUB_LOG_FORMAT", "xml", nil},
		{"TUTORHUB_CORS_ALLOWED_ORIGINS", "https://app.example.com/path", nil},
		{"TUTORHUB_CORS_ALLOWED_ORIGINS", "app.example.com", nil},
		{"TUTORHUB_CORS_ALLOWED_ORIGINS", "https://*.example.com", nil},
		{"TUTORHUB_CORS_ALLOWED_ORIGINS", "*,https://app.example.com", nil},
		{"TUTORHUB_RATE_LIMIT_ENABLED", "yes", nil},
		{"TUTORHUB_RATE_LIMIT_ANONYMOUS", "0/1m", nil},
		{"TUTORHUB_RATE_LIMIT_AUTHENTICATED", "10/500ms", nil},
		{"TUTORHUB_RATE_LIMIT_AUTH", "10/1m:0", nil},
		{"TUTORHUB_RATE_LIMIT_AUTH_ACCOUNT", "10", nil},
		{"TUTORHUB_RATE_LIMIT_AUTH_GLOBAL", "ten/1m", nil},
		{"TUTORHUB_RATE_LIMIT_FAIL_OPEN", "maybe", nil},
		{"TUTORHUB_RATE_LIMIT_RECOVERY", "5/0s", nil},
		{"TUTORHUB_RATE_LIMIT_RECOVERY_ACCOUNT", "-1/1h", nil},
		{"TUTORHUB_RATE_LIMIT_IPV6_PREFIX", "31", nil},
		{"TUTORHUB_RATE_LIMIT_IPV6_PREFIX", "129", nil},
		{"TUTORHUB_CURSOR_SECRET", "too-short-secret", nil},
		{"TUTORHUB_NOTIFICATIONS_UNSUBSCRIBE_SECRET", "too-short-secret", nil},
		{"TUTORHUB_NOTIFICATIONS_STREAMS_PER_USER", "0", nil},
		{"TUTORHUB_NOTIFICATIONS_HEARTBEAT", "0s", nil},
		{"TUTORHUB_KRATOS_PUBLIC_URL", "localhost:4433", nil},
		{"TUTORHUB_KRATOS_ADMIN_URL", "http://", nil},
		{"TUTORHUB_KRATOS_TIMEOUT", "0s", nil},
		{"TUTORHUB_AUTH_JWKS_PATH", "", nil},
		{"TUTORHUB_AUTH_TOKENIZE_TEMPLATE", "access token", nil},
		{"TUTORHUB_AUTH_TOKEN_ISSUER", "kratos:4433", nil},
		{"TUTORHUB_AUTH_TOKEN_AUDIENCE", "", nil},
		{"TUTORHUB_AUTH_TOKEN_AUDIENCE", "tutor\x1bhub", nil},
		{"TUTORHUB_AUTH_TOKEN_LIFETIME", "0s", nil},
		{"TUTORHUB_AUTH_COOKIE_SECURE", "on", nil},
		{"TUTORHUB_AUTH_LOCKOUT_THRESHOLD", "0", nil},
		{"TUTORHUB_AUTH_LOCKOUT_WINDOW", "0s", nil},
		{"TUTORHUB_AUTH_LOCKOUT_BASE", "-1m", nil},
		{"TUTORHUB_AUTH_LOCKOUT_MAX", "30s", []string{"TUTORHUB_AUTH_LOCKOUT_BASE=1m"}},
		{"TUTORHUB_AUTH_CAPTCHA_PROVIDER", "recaptcha", nil},
		{"TUTORHUB_AUTH_CAPTCHA_SECRET", "", []string{"TUTORHUB_AUTH_CAPTCHA_PROVIDER=turnstile"}},
		{"TUTORHUB_AUTH_CAPTCHA_AFTER_FAILURES", "-1", nil},
		{"TUTORHUB_AUTH_CAPTCHA_ON_REGISTER", "2", nil},
		{"TUTORHUB_AUTH_UNIFORM_RESPONSE", "-1s", nil},
		{"TUTORHUB_SMTP_URL", "http://127.0.0.1:1025", nil},
		{"TUTORHUB_SMTP_URL", "smtp://", nil},
		{"TUTORHUB_SMTP_FROM", "not an address", nil},
		{"TUTORHUB_MIGRATE_ON_START", "yes", nil},
		{"TUTORHUB_TUTORS_REQUIRE_VERIFIED_EMAIL", "maybe", nil},
		{"TUTORHUB_SEARCH_ENGINE", "elastic", nil},
		{"TUTORHUB_MEILI_URL", "127.0.0.1:7700", nil},
		{"TUTORHUB_MEILI_URL", "", []string{"TUTORHUB_SEARCH_ENGINE=meilisearch"}},
		{"TUTORHUB_MEILI_API_KEY", "a key with spaces", nil},
		{"TUTORHUB_TEMPORAL_ADDRESS", "temporal", nil},
		{"TUTORHUB_TEMPORAL_ADDRESS", "", nil},
		{"TUTORHUB_TEMPORAL_NAMESPACE", "", nil},
		{"TUTORHUB_TEMPORAL_NAMESPACE", "tutor hub", nil},
		{"TUTORHUB_TEMPORAL_NAMESPACE", "-tutorhub", nil},
		{"TUTORHUB_TEMPORAL_NAMESPACE", strings.Repeat("n", 256), nil},
		{"TUTORHUB_TEMPORAL_TLS_CERT_FILE", filepath.Join(dir, "missing.pem"), []string{"TUTORHUB_TEMPORAL_TLS_KEY_FILE=" + pem}},
		{"TUTORHUB_TEMPORAL_TLS_CERT_FILE", "", []string{"TUTORHUB_TEMPORAL_TLS_KEY_FILE=" + pem}},
		{"TUTORHUB_TEMPORAL_TLS_KEY_FILE", "", []string{"TUTORHUB_TEMPORAL_TLS_CERT_FILE=" + pem}},
		{"TUTORHUB_TEMPORAL_TLS_CA_FILE", dir, nil},
		{"TUTORHUB_TEMPORAL_API_KEY", "two words", nil},
		{"TUTORHUB_S3_ENDPOINT", "127.0.0.1:7070", nil},
		{"TUTORHUB_S3_PUBLIC_ENDPOINT", "ftp://files.example.com", nil},
		{"TUTORHUB_S3_REGION", "us east", nil},
		{"TUTORHUB_S3_PATH_STYLE", "sometimes", nil},
		{"TUTORHUB_S3_ACCESS_KEY_ID", "", []string{"TUTORHUB_S3_SECRET_ACCESS_KEY=s3cret"}},
		{"TUTORHUB_S3_SECRET_ACCESS_KEY", "", []string{"TUTORHUB_S3_ACCESS_KEY_ID=key"}},
		{"TUTORHUB_S3_QUARANTINE_BUCKET", "Quarantine", nil},
		{"TUTORHUB_S3_QUARANTINE_BUCKET", "ab", nil},
		{"TUTORHUB_S3_CLEAN_BUCKET", "-clean", nil},
		{"TUTORHUB_S3_CLEAN_BUCKET", "tutorhub-quarantine", nil},
		{"TUTORHUB_CLAMD_ADDRESS", "clamd", nil},
		{"TUTORHUB_CLAMD_TIMEOUT", "0s", nil},
		{"TUTORHUB_UPLOADS_PUT_URL_TTL", "2h", nil},
		{"TUTORHUB_UPLOADS_GET_URL_TTL", "1s", nil},
		{"TUTORHUB_UPLOADS_ABANDON_AFTER", "5m", nil},
		{"TUTORHUB_UPLOADS_WEBHOOK_SECRET", "too-short-secret", nil},
		{"TUTORHUB_STRIPE_API_URL", "ftp://stripe.example", nil},
		{"TUTORHUB_STRIPE_SECRET_KEY", "pk_test_publishable", nil},
		{"TUTORHUB_STRIPE_WEBHOOK_SECRETS", "whsec_0123456789abcdef,not-a-signing-secret", nil},
		{"TUTORHUB_STRIPE_WEBHOOK_TOLERANCE", "2h", nil},
		{"TUTORHUB_PAYMENTS_PLATFORM_FEE_BPS", "10001", nil},
		{"TUTORHUB_PAYMENTS_RECONCILE_EVERY", "1s", nil},
		{"TUTORHUB_PAYMENTS_RECONCILE_WINDOW", "1m", nil},
		{"TUTORHUB_PAYMENTS_TEST_MODE", "maybe", nil},
		{"TUTORHUB_PAYMENTS_TEST_MODE", "true", nil}, // no webhook secret to sign with
		{"TUTORHUB_PAYMENTS_TEST_MODE", "true", []string{"TUTORHUB_STRIPE_SECRET_KEY=sk_live_0123456789", "TUTORHUB_STRIPE_WEBHOOK_SECRETS=whsec_0123456789abcdef"}},
		{"TUTORHUB_PAYMENTS_TEST_MODE", "true", []string{"TUTORHUB_STRIPE_SECRET_KEY=rk_live_0123456789", "TUTORHUB_STRIPE_WEBHOOK_SECRETS=whsec_0123456789abcdef"}},
		{"TUTORHUB_WORKER_METRICS_ADDR", "9091", nil},
		{"TUTORHUB_WORKER_METRICS_ADDR", "127.0.0.1:8080", nil}, // the API's default address
		{"TUTORHUB_WORKER_METRICS_ADDR", "0.0.0.0:9090", []string{"TUTORHUB_HTTP_INTERNAL_ADDR=127.0.0.1:9090"}},
		{"TUTORHUB_REDIS_DIAL_TIMEOUT", "0s", nil},
		{"TUTORHUB_REDIS_TIMEOUT", "1m", nil},
		{"TUTORHUB_BREAKER_FAILURES", "0", nil},
		{"TUTORHUB_BREAKER_OPEN_FOR", "2m", nil},
		{"TUTORHUB_BREAKER_MAX_OPEN_FOR", "1ms", nil},
		{"TUTORHUB_BREAKER_MAX_OPEN_FOR", "2s", []string{"TUTORHUB_BREAKER_OPEN_FOR=5s"}},
		{"TUTORHUB_REQUEST_TIMEOUT", "1ms", nil},
		{"TUTORHUB_REQUEST_TIMEOUT_MAX", "11m", nil},
		{"TUTORHUB_REQUEST_TIMEOUT_MAX", "10s", []string{"TUTORHUB_REQUEST_TIMEOUT=20s"}},
		{"TUTORHUB_MAX_IN_FLIGHT", "-1", nil},
		{"TUTORHUB_LATENCY_TARGET", "1ms", nil},
		{"TUTORHUB_LATENCY_TARGET", "2m", nil},
		{"TUTORHUB_LATENCY_TARGET", "100ms", []string{"TUTORHUB_MAX_IN_FLIGHT=0"}},
		{"TUTORHUB_MIN_IN_FLIGHT", "0", nil},
		{"TUTORHUB_MIN_IN_FLIGHT", "100", []string{"TUTORHUB_LATENCY_TARGET=100ms", "TUTORHUB_MAX_IN_FLIGHT=64"}},
		{"TUTORHUB_DATABASE_ACQUIRE_TIMEOUT", "1ms", nil},
	}
}

func TestLoadRejectsBadValue(t *testing.T) {
	for _, tt := range badValues(t) {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			e := mustFail(t, append([]string{tt.key + "=" + tt.value}, tt.extra...)...)
			if _, ok := problemFor(e, tt.key); !ok {
				t.Errorf("no problem names %s; got:\n%v", tt.key, e)
			}
			if len(e.Problems) != 1 {
				t.Errorf("got %d problems, want only the one about %s:\n%v", len(e.Problems), tt.key, e)
			}
		})
	}
}

func TestEveryKeyHasABadValueCase(t *testing.T) {
	covered := make(map[string]bool)
	for _, tt := range badValues(t) {
		covered[tt.key] = true
	}
	for _, k := range config.Keys() {
		if k != "TUTORHUB_CONFIG_FILE" && !covered[k] {
			t.Errorf("badValues has no case for %s", k)
		}
	}
}

func TestProblemQuotesValueUnlessSecret(t *testing.T) {
	t.Run("non-secret value is quoted", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_HTTP_ADDR=nowhere")
		wantProblem(t, e, "TUTORHUB_HTTP_ADDR", `"nowhere"`)
	})
	secrets := []struct{ key, value string }{
		{"TUTORHUB_DATABASE_URL", "postgres://app:hunter2-secret@db:notaport/x"},
		{"TUTORHUB_REDIS_URL", "http://:hunter2-secret@cache:6379"},
		{"TUTORHUB_CURSOR_SECRET", "hunter2-secret"},
		{"TUTORHUB_TEMPORAL_API_KEY", "hunter2 secret"},
	}
	for _, s := range secrets {
		t.Run("secret "+s.key+" is not quoted", func(t *testing.T) {
			e := mustFail(t, s.key+"="+s.value)
			if _, ok := problemFor(e, s.key); !ok {
				t.Fatalf("no problem names %s:\n%v", s.key, e)
			}
			if strings.Contains(e.Error(), "hunter2") {
				t.Errorf("error leaks the secret:\n%v", e)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	e := mustFail(t,
		"TUTORHUB_LOG_LEVEL=loud",
		"TUTORHUB_HTTP_ADDR=nowhere",
		"TUTORHUB_DATABASE_MAX_CONNS=0",
		"TUTORHUB_RATE_LIMIT_AUTH=fast",
		"TUTORHUB_HTTP_ADRR=127.0.0.1:1",
		"TUTORHUB_CURSOR_SECRET_FILE=/nonexistent/cursor",
	)
	want := []string{
		"TUTORHUB_CURSOR_SECRET_FILE",
		"TUTORHUB_DATABASE_MAX_CONNS",
		"TUTORHUB_HTTP_ADDR",
		"TUTORHUB_HTTP_ADRR",
		"TUTORHUB_LOG_LEVEL",
		"TUTORHUB_RATE_LIMIT_AUTH",
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, p.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("problem keys = %q, want %q (sorted)", got, want)
	}
	t.Run("Error prints one problem per line", func(t *testing.T) {
		lines := strings.Split(e.Error(), "\n")
		if len(lines) != len(want) {
			t.Fatalf("Error() has %d lines, want %d:\n%s", len(lines), len(want), e)
		}
		for i, line := range lines {
			if !strings.HasPrefix(line, want[i]+": ") {
				t.Errorf("line %d = %q, want prefix %q", i, line, want[i]+": ")
			}
		}
	})
}

func TestLoadAcceptsValidValues(t *testing.T) {
	pem := writeFile(t, "tls.pem", "x")
	tests := []struct {
		name string
		env  []string
		got  func(*config.Config) any
		want any
	}{
		{"trusted proxies mix IPs and CIDRs", []string{"TUTORHUB_HTTP_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.7,::1,::ffff:172.16.0.1"},
			func(c *config.Config) any { return c.HTTP.TrustedProxies },
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("172.16.0.1/32")}},
		{"origins are normalized like the Origin header", []string{"TUTORHUB_CORS_ALLOWED_ORIGINS=https://App.Example.com:443, http://localhost:5173/"},
			func(c *config.Config) any { return c.CORS.AllowedOrigins },
			[]string{"https://app.example.com", "http://localhost:5173"}},
		{"star origin is allowed outside production", []string{"TUTORHUB_CORS_ALLOWED_ORIGINS=*"},
			func(c *config.Config) any { return c.CORS.AllowedOrigins }, []string{"*"}},
		{"rate with burst and shorthand period", []string{"TUTORHUB_RATE_LIMIT_AUTH=10/s:20"},
			func(c *config.Config) any { return c.RateLimit.Auth }, config.Rate{Limit: 10, Period: time.Second, Burst: 20}},
		{"log level is case-insensitive", []string{"TUTORHUB_LOG_LEVEL=DEBUG"},
			func(c *config.Config) any { return c.Log.Level }, slog.LevelDebug},
		{"public URL loses trailing slashes", []string{"TUTORHUB_HTTP_PUBLIC_URL=https://api.example.com/v1/"},
			func(c *config.Config) any { return c.HTTP.PublicURL }, "https://api.example.com/v1"},
		{"public URL is derived from a wildcard address", []string{"TUTORHUB_HTTP_ADDR=0.0.0.0:9000"},
			func(c *config.Config) any { return c.HTTP.PublicURL }, "http://localhost:9000"},
		{"public URL is derived from an IPv6 address", []string{"TUTORHUB_HTTP_ADDR=[::1]:9000"},
			func(c *config.Config) any { return c.HTTP.PublicURL }, "http://[::1]:9000"},
		{"public URL is derived as https with TLS", []string{"TUTORHUB_HTTP_ADDR=:8443", "TUTORHUB_HTTP_TLS_CERT_FILE=" + pem, "TUTORHUB_HTTP_TLS_KEY_FILE=" + pem},
			func(c *config.Config) any { return c.HTTP.PublicURL }, "https://localhost:8443"},
		{"memory limit may be off", []string{"TUTORHUB_MEMORY_LIMIT_BYTES=0"},
			func(c *config.Config) any { return c.MemoryLimitBytes }, int64(0)},
		{"drain delay may be zero or more", []string{"TUTORHUB_HTTP_READY_DRAIN_DELAY=5s"},
			func(c *config.Config) any { return c.HTTP.ReadyDrainDelay }, 5 * time.Second},
		{"min conns may equal max conns", []string{"TUTORHUB_DATABASE_MIN_CONNS=4", "TUTORHUB_DATABASE_MAX_CONNS=4"},
			func(c *config.Config) any { return c.Database.MinConns }, int32(4)},
		{"captcha secret satisfies turnstile", []string{"TUTORHUB_AUTH_CAPTCHA_PROVIDER=turnstile", "TUTORHUB_AUTH_CAPTCHA_SECRET=s"},
			func(c *config.Config) any { return c.Auth.CaptchaProvider }, "turnstile"},
		{"meilisearch with its URL", []string{"TUTORHUB_SEARCH_ENGINE=meilisearch", "TUTORHUB_MEILI_URL=http://127.0.0.1:7700/", "TUTORHUB_MEILI_API_KEY=k"},
			func(c *config.Config) any { return c.Search }, config.Search{Engine: "meilisearch", MeiliURL: "http://127.0.0.1:7700", MeiliAPIKey: "k"}},
		{"Temporal mTLS takes a certificate, its key and a CA", []string{"TUTORHUB_TEMPORAL_TLS_CERT_FILE=" + pem, "TUTORHUB_TEMPORAL_TLS_KEY_FILE=" + pem, "TUTORHUB_TEMPORAL_TLS_CA_FILE=" + pem},
			func(c *config.Config) any {
				return []any{c.Temporal.TLSCertFile, c.Temporal.TLSKeyFile, c.Temporal.TLSCAFile, c.Temporal.TLS()}
			}, []any{pem, pem, pem, true}},
		{"a Temporal Cloud API key turns TLS on", []string{"TUTORHUB_TEMPORAL_ADDRESS=tutorhub.a1b2c.tmprl.cloud:7233", "TUTORHUB_TEMPORAL_NAMESPACE=tutorhub.a1b2c", "TUTORHUB_TEMPORAL_API_KEY=eyJhbGciOi.x-y_z"},
			func(c *config.Config) any { return []any{c.Temporal.Address, c.Temporal.Namespace, c.Temporal.TLS()} }, []any{"tutorhub.a1b2c.tmprl.cloud:7233", "tutorhub.a1b2c", true}},
		{"test payments with a test key and a webhook secret", []string{"TUTORHUB_PAYMENTS_TEST_MODE=true", "TUTORHUB_STRIPE_SECRET_KEY=sk_test_0123456789", "TUTORHUB_STRIPE_WEBHOOK_SECRETS=whsec_0123456789abcdef"},
			func(c *config.Config) any { return c.Payments.TestMode }, true},
		{"booleans accept strconv forms", []string{"TUTORHUB_MIGRATE_ON_START=1"},
			func(c *config.Config) any { return c.MigrateOnStart }, true},
		{"variables outside TUTORHUB_ are ignored", []string{"PATH=/bin", "TUTORHUB=x", "tutorhub_http_addr=x", "MALFORMED"},
			func(c *config.Config) any { return c.HTTP.Addr }, "127.0.0.1:8080"},
		{"the last of repeated variables wins", []string{"TUTORHUB_HTTP_ADDR=:1", "TUTORHUB_HTTP_ADDR=:2"},
			func(c *config.Config) any { return c.HTTP.Addr }, ":2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got(mustLoad(t, tt.env...)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	const secret = "postgres://app:file-secret-pw@db.internal:5432/tutorhub"
	t.Run("value is read from KEY_FILE without its trailing newline", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_DATABASE_URL_FILE="+writeFile(t, "db", secret+"\n"))
		if c.Database.URL != secret {
			t.Errorf("Database.URL = %q, want %q", c.Database.URL, secret)
		}
	})
	t.Run("CRLF ending is trimmed too", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_REDIS_KEY_PREFIX_FILE="+writeFile(t, "p", "app:\r\n"))
		if c.Redis.KeyPrefix != "app:" {
			t.Errorf("Redis.KeyPrefix = %q, want %q", c.Redis.KeyPrefix, "app:")
		}
	})
	t.Run("KEY_FILE works for keys that end in _FILE", func(t *testing.T) {
		pem := writeFile(t, "tls.pem", "x")
		c := mustLoad(t,
			"TUTORHUB_HTTP_TLS_CERT_FILE_FILE="+writeFile(t, "certpath", pem+"\n"),
			"TUTORHUB_HTTP_TLS_KEY_FILE="+pem)
		if c.HTTP.TLSCertFile != pem {
			t.Errorf("TLSCertFile = %q, want %q", c.HTTP.TLSCertFile, pem)
		}
	})
	t.Run("KEY and KEY_FILE together are an error", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_DATABASE_URL="+secret, "TUTORHUB_DATABASE_URL_FILE="+writeFile(t, "db", secret))
		wantProblem(t, e, "TUTORHUB_DATABASE_URL", "set only one")
		if strings.Contains(e.Error(), "file-secret-pw") {
			t.Errorf("error leaks the secret:\n%v", e)
		}
	})
	t.Run("missing KEY_FILE names the key", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CURSOR_SECRET_FILE=/nonexistent/cursor")
		wantProblem(t, e, "TUTORHUB_CURSOR_SECRET_FILE", "does not exist")
	})
	t.Run("invalid secret from KEY_FILE does not leak its content", func(t *testing.T) {
		path := writeFile(t, "db", "postgres://app:file-secret-pw@db:notaport/x")
		e := mustFail(t, "TUTORHUB_DATABASE_URL_FILE="+path)
		wantProblem(t, e, "TUTORHUB_DATABASE_URL", path)
		if strings.Contains(e.Error(), "file-secret-pw") {
			t.Errorf("error leaks the file's content:\n%v", e)
		}
	})
	t.Run("TUTORHUB_CONFIG_FILE has no KEY_FILE form", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CONFIG_FILE_FILE=/x")
		wantProblem(t, e, "TUTORHUB_CONFIG_FILE_FILE", "unknown variable")
	})
}

func TestUnknownVariable(t *testing.T) {
	t.Run("a typo is an error with a suggestion", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_HTTP_ADRR=:8080")
		wantProblem(t, e, "TUTORHUB_HTTP_ADRR", "did you mean TUTORHUB_HTTP_ADDR?")
	})
	t.Run("an unrelated name is an error", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_SOMETHING_ELSE=1")
		wantProblem(t, e, "TUTORHUB_SOMETHING_ELSE", "unknown variable")
	})
	t.Run("a name with odd characters stays on one line", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_A\nB=1")
		if strings.Count(e.Error(), "\n") != 0 {
			t.Errorf("Error() spans lines: %q", e.Error())
		}
	})
	t.Run("TUTORHUB_CONFIG_FILE is recognised", func(t *testing.T) {
		mustLoad(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", ""))
	})
}

func TestConfigFile(t *testing.T) {
	const body = `
http_addr: 127.0.0.1:9090
database_max_conns: 20
cors_allowed_origins:
  - https://a.example.com
  - https://b.example.com
rate_limit_auth: 5/1m
log_level: debug
`
	path := writeFile(t, "tutorhub.yaml", body)

	t.Run("file values are applied", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_CONFIG_FILE="+path)
		if c.HTTP.Addr != "127.0.0.1:9090" || c.Database.MaxConns != 20 || c.Log.Level != slog.LevelDebug ||
			!slices.Equal(c.CORS.AllowedOrigins, []string{"https://a.example.com", "https://b.example.com"}) {
			t.Errorf("file values not applied: %+v", c)
		}
	})
	t.Run("environment overrides the file", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_CONFIG_FILE="+path, "TUTORHUB_HTTP_ADDR=127.0.0.1:7070")
		if c.HTTP.Addr != "127.0.0.1:7070" {
			t.Errorf("HTTP.Addr = %q, want the environment's 127.0.0.1:7070", c.HTTP.Addr)
		}
		if c.Database.MaxConns != 20 {
			t.Errorf("Database.MaxConns = %d, want the file's 20", c.Database.MaxConns)
		}
	})
	t.Run("environment KEY_FILE overrides the file", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_CONFIG_FILE="+path, "TUTORHUB_LOG_LEVEL_FILE="+writeFile(t, "lvl", "warn\n"))
		if c.Log.Level != slog.LevelWarn {
			t.Errorf("Log.Level = %v, want warn", c.Log.Level)
		}
	})
	t.Run("derived defaults follow file values", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_CONFIG_FILE="+path)
		if c.HTTP.PublicURL != "http://127.0.0.1:9090" {
			t.Errorf("HTTP.PublicURL = %q, want http://127.0.0.1:9090", c.HTTP.PublicURL)
		}
	})
	t.Run("bad file value names the key and the line", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", "\nhttp_read_timeout: soon\n"))
		wantProblem(t, e, "TUTORHUB_HTTP_READ_TIMEOUT", "line 2")
	})
	t.Run("secret file value is not quoted", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", "redis_url: 'http://:yaml-secret-pw@x'\n"))
		wantProblem(t, e, "TUTORHUB_REDIS_URL", "line 1")
		if strings.Contains(e.Error(), "yaml-secret-pw") {
			t.Errorf("error leaks the secret:\n%v", e)
		}
	})

	bad := []struct{ name, body, reason string }{
		{"unknown key is an error", "http_adr: :1\n", `unknown key "http_adr"; did you mean http_addr?`},
		{"upper-case key is an error", "HTTP_ADDR: :1\n", "did you mean http_addr?"},
		{"config_file cannot be set from the file", "config_file: x\n", "unknown key"},
		{"KEY_FILE form is not a file key", "database_url_file: /x\n", "unknown key"},
		{"repeated key is an error", "http_addr: :1\nhttp_addr: :2\n", "already set"},
		{"a list for a single-valued key is an error", "http_addr: [a, b]\n", "must be a single value"},
		{"a mapping value is an error", "cors_allowed_origins: {a: b}\n", "must be a single value or a list"},
		{"top level must be a mapping", "- a\n- b\n", "must hold a mapping"},
		{"invalid YAML is an error", "http_addr: [\n", "not valid YAML"},
		{"several documents are an error", "http_addr: :1\n---\nhttp_addr: :2\n", "single YAML document"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := mustFail(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", tt.body))
			wantProblem(t, e, "TUTORHUB_CONFIG_FILE", tt.reason)
		})
	}
	t.Run("missing file is an error", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CONFIG_FILE=/nonexistent/tutorhub.yaml")
		wantProblem(t, e, "TUTORHUB_CONFIG_FILE", "does not exist")
	})
	t.Run("empty and null files are accepted", func(t *testing.T) {
		mustLoad(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", "# nothing\n"))
		mustLoad(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", "~\n"))
	})
	t.Run("file problems and environment problems are reported together", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_CONFIG_FILE="+writeFile(t, "c.yaml", "nope: 1\nlog_format: xml\n"), "TUTORHUB_HTTP_ADDR=x")
		for _, k := range []string{"TUTORHUB_CONFIG_FILE", "TUTORHUB_LOG_FORMAT", "TUTORHUB_HTTP_ADDR"} {
			if _, ok := problemFor(e, k); !ok {
				t.Errorf("no problem for %s:\n%v", k, e)
			}
		}
	})
}

func TestProductionRules(t *testing.T) {
	prod := []string{"TUTORHUB_ENV=production", "TUTORHUB_CURSOR_SECRET=" + prodCursorSecret}

	t.Run("cursor secret is required", func(t *testing.T) {
		e := mustFail(t, "TUTORHUB_ENV=production")
		wantProblem(t, e, "TUTORHUB_CURSOR_SECRET", "required")
	})
	t.Run("the development cursor key is refused", func(t *testing.T) {
		dev := mustLoad(t)
		e := mustFail(t, "TUTORHUB_ENV=production", "TUTORHUB_CURSOR_SECRET="+string(dev.Cursor.Secret))
		wantProblem(t, e, "TUTORHUB_CURSOR_SECRET", "development key")
	})
	t.Run("test captcha is refused", func(t *testing.T) {
		e := mustFail(t, append(prod, "TUTORHUB_AUTH_CAPTCHA_PROVIDER=test")...)
		wantProblem(t, e, "TUTORHUB_AUTH_CAPTCHA_PROVIDER", "production")
	})
	t.Run("star CORS origin is refused", func(t *testing.T) {
		e := mustFail(t, append(prod, "TUTORHUB_CORS_ALLOWED_ORIGINS=*")...)
		wantProblem(t, e, "TUTORHUB_CORS_ALLOWED_ORIGINS", "production")
	})
	t.Run("test captcha and star CORS are fine in test", func(t *testing.T) {
		mustLoad(t, "TUTORHUB_ENV=test", "TUTORHUB_AUTH_CAPTCHA_PROVIDER=test", "TUTORHUB_CORS_ALLOWED_ORIGINS=*")
	})
	t.Run("test payments are refused", func(t *testing.T) {
		e := mustFail(t, append(prod, "TUTORHUB_PAYMENTS_TEST_MODE=true", "TUTORHUB_STRIPE_WEBHOOK_SECRETS=whsec_0123456789abcdef")...)
		wantProblem(t, e, "TUTORHUB_PAYMENTS_TEST_MODE", "production")
	})
	t.Run("test payments are off by default", func(t *testing.T) {
		if c := mustLoad(t, prod...); c.Payments.TestMode {
			t.Error("Payments.TestMode = true, want false by default")
		}
	})
	t.Run("secure cookies by default", func(t *testing.T) {
		if c := mustLoad(t, prod...); !c.Auth.CookieSecure {
			t.Error("Auth.CookieSecure = false, want true in production")
		}
	})
	t.Run("insecure cookies are refused", func(t *testing.T) {
		e := mustFail(t, append(prod, "TUTORHUB_AUTH_COOKIE_SECURE=false")...)
		wantProblem(t, e, "TUTORHUB_AUTH_COOKIE_SECURE", "production")
	})
	t.Run("insecure cookies are fine in development", func(t *testing.T) {
		mustLoad(t, "TUTORHUB_AUTH_COOKIE_SECURE=false")
	})
	t.Run("no development key warning", func(t *testing.T) {
		for _, w := range mustLoad(t, prod...).Warnings() {
			if strings.Contains(w, "development key") {
				t.Errorf("unexpected warning %q", w)
			}
		}
	})
	t.Run("the internal listener defaults to loopback port 9090", func(t *testing.T) {
		if c := mustLoad(t, prod...); c.HTTP.InternalAddr != "127.0.0.1:9090" {
			t.Errorf("HTTP.InternalAddr = %q, want 127.0.0.1:9090 in production", c.HTTP.InternalAddr)
		}
	})
	t.Run("the internal listener cannot be turned off", func(t *testing.T) {
		e := mustFail(t, append(prod, "TUTORHUB_HTTP_INTERNAL_ADDR=")...)
		wantProblem(t, e, "TUTORHUB_HTTP_INTERNAL_ADDR", "production")
	})
	t.Run("all production problems at once", func(t *testing.T) {
		dev := mustLoad(t)
		e := mustFail(t, "TUTORHUB_ENV=production", "TUTORHUB_CURSOR_SECRET="+string(dev.Cursor.Secret),
			"TUTORHUB_AUTH_CAPTCHA_PROVIDER=test", "TUTORHUB_CORS_ALLOWED_ORIGINS=*", "TUTORHUB_AUTH_COOKIE_SECURE=false")
		if len(e.Problems) != 4 {
			t.Errorf("got %d problems, want 4:\n%v", len(e.Problems), e)
		}
		for _, k := range []string{"TUTORHUB_CURSOR_SECRET", "TUTORHUB_AUTH_CAPTCHA_PROVIDER", "TUTORHUB_CORS_ALLOWED_ORIGINS", "TUTORHUB_AUTH_COOKIE_SECURE"} {
			wantProblem(t, e, k, "")
		}
	})
}

func TestInternalAddr(t *testing.T) {
	t.Parallel()
	if c := mustLoad(t); c.HTTP.InternalAddr != "" {
		t.Errorf("HTTP.InternalAddr = %q by default in development, want empty (everything on one port)", c.HTTP.InternalAddr)
	}
	for _, tc := range []struct {
		name, api, internal string
		ok                  bool
	}{
		{"another port on loopback", "127.0.0.1:8080", "127.0.0.1:9090", true},
		{"any free port", "127.0.0.1:0", "127.0.0.1:0", true},
		{"the same port on another host", "127.0.0.1:8080", "10.0.0.1:8080", true},
		{"the API's own address", "127.0.0.1:8080", "127.0.0.1:8080", false},
		{"the API's port on every interface", ":8080", "127.0.0.1:8080", false},
		{"every interface on the API's port", "127.0.0.1:8080", "0.0.0.0:8080", false},
		{"not host:port", "127.0.0.1:8080", "9090", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"TUTORHUB_HTTP_ADDR=" + tc.api, "TUTORHUB_HTTP_INTERNAL_ADDR=" + tc.internal}
			if tc.ok {
				if c := mustLoad(t, env...); c.HTTP.InternalAddr != tc.internal {
					t.Errorf("HTTP.InternalAddr = %q, want %q", c.HTTP.InternalAddr, tc.internal)
				}
				return
			}
			wantProblem(t, mustFail(t, env...), "TUTORHUB_HTTP_INTERNAL_ADDR", "")
		})
	}
}

func TestPrint(t *testing.T) {
	const (
		dbSecret      = "postgres://app:print-db-secret@db:5432/x"
		redisSecret   = "redis://:print-redis-secret@cache:6379/1"
		cursorSecret  = "print-cursor-secret-0123456789abcdefghij"
		captchaSecret = "print-captcha-secret"
	)
	cfgFile := writeFile(t, "c.yaml", "redis_url: "+redisSecret+"\nlog_format: text\n")
	c := mustLoad(t,
		"TUTORHUB_CONFIG_FILE="+cfgFile,
		"TUTORHUB_DATABASE_URL="+dbSecret,
		"TUTORHUB_CURSOR_SECRET_FILE="+writeFile(t, "cursor", cursorSecret+"\n"),
		"TUTORHUB_AUTH_CAPTCHA_PROVIDER=hcaptcha",
		"TUTORHUB_AUTH_CAPTCHA_SECRET="+captchaSecret,
		"TUTORHUB_REDIS_KEY_PREFIX=a#b",
	)
	var b strings.Builder
	c.Print(&b)
	out := b.String()

	t.Run("secrets never appear", func(t *testing.T) {
		for _, s := range []string{dbSecret, redisSecret, cursorSecret, captchaSecret, "print-db-secret", "print-redis-secret"} {
			if strings.Contains(out, s) {
				t.Errorf("Print output contains secret %q:\n%s", s, out)
			}
		}
	})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	t.Run("one sorted line per key", func(t *testing.T) {
		keys := config.Keys()
		if len(lines) != len(keys) {
			t.Fatalf("got %d lines, want %d", len(lines), len(keys))
		}
		for i, k := range keys {
			if !strings.HasPrefix(lines[i], k+"=") {
				t.Errorf("line %d = %q, want key %s", i, lines[i], k)
			}
		}
	})
	wantLines := []string{
		"TUTORHUB_DATABASE_URL=<redacted> # env",
		"TUTORHUB_REDIS_URL=<redacted> # file",
		"TUTORHUB_CURSOR_SECRET=<redacted> # env file",
		"TUTORHUB_AUTH_CAPTCHA_SECRET=<redacted> # env",
		"TUTORHUB_LOG_FORMAT=text # file",
		"TUTORHUB_HTTP_ADDR=127.0.0.1:8080 # default",
		"TUTORHUB_CONFIG_FILE=" + cfgFile + " # env",
		"TUTORHUB_RATE_LIMIT_AUTH=20/1m # default",
		`TUTORHUB_REDIS_KEY_PREFIX="a#b" # env`,
	}
	for _, want := range wantLines {
		t.Run("shows "+want, func(t *testing.T) {
			if !slices.Contains(lines, want) {
				t.Errorf("missing line %q in:\n%s", want, out)
			}
		})
	}
	t.Run("empty secret shows as unset", func(t *testing.T) {
		var b strings.Builder
		mustLoad(t).Print(&b)
		if !strings.Contains(b.String(), "TUTORHUB_AUTH_CAPTCHA_SECRET=<unset> # default\n") {
			t.Errorf("missing <unset> captcha secret in:\n%s", b.String())
		}
	})
	t.Run("printed values load back to the same config", func(t *testing.T) {
		c := mustLoad(t, "TUTORHUB_HTTP_TRUSTED_PROXIES=10.0.0.0/8,::1", "TUTORHUB_RATE_LIMIT_AUTH=10/90s:15", "TUTORHUB_LOG_LEVEL=warn")
		var b strings.Builder
		c.Print(&b)
		var env []string
		for line := range strings.Lines(b.String()) {
			kv, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " # ")
			if !strings.Contains(kv, "<") && !strings.HasPrefix(kv, "TUTORHUB_CONFIG_FILE=") {
				env = append(env, kv)
			}
		}
		again := mustLoad(t, env...)
		if !reflect.DeepEqual(again.HTTP, c.HTTP) || again.RateLimit != c.RateLimit || again.Log != c.Log {
			t.Errorf("reloaded config differs:\n got %+v\nwant %+v", again, c)
		}
	})
}

func TestConcurrentReads(t *testing.T) {
	c := mustLoad(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var b strings.Builder
			c.Print(&b)
			_ = c.Warnings()
			_ = c.HTTP.Addr
		})
	}
	wg.Wait()
}

func TestKeysAndMarkdownTable(t *testing.T) {
	keys := config.Keys()
	t.Run("keys are sorted and unique", func(t *testing.T) {
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Errorf("Keys() not sorted and unique: %q", keys)
		}
	})
	t.Run("every key is TUTORHUB_ upper case", func(t *testing.T) {
		for _, k := range keys {
			if !strings.HasPrefix(k, "TUTORHUB_") || strings.ToUpper(k) != k {
				t.Errorf("bad key name %q", k)
			}
		}
	})
	table := config.MarkdownTable()
	t.Run("table has a row per key", func(t *testing.T) {
		rows := strings.Count(table, "\n| `TUTORHUB_")
		if rows != len(keys) {
			t.Errorf("table has %d rows, want %d", rows, len(keys))
		}
		for _, k := range keys {
			if !strings.Contains(table, "| `"+k+"` |") {
				t.Errorf("table lacks %s", k)
			}
		}
	})
	t.Run("table shows defaults", func(t *testing.T) {
		if !strings.Contains(table, "| `TUTORHUB_HTTP_ADDR` | `127.0.0.1:8080` |") {
			t.Errorf("table lacks the HTTP_ADDR default:\n%s", table)
		}
	})
}

func TestErrorWithoutProblems(t *testing.T) {
	if got := (&config.Error{}).Error(); got == "" {
		t.Error("empty Error() text")
	}
}

func TestUnsubscribeSecretIsDerivedFromTheCursorSecretUnlessSet(t *testing.T) {
	a := mustLoad(t, "TUTORHUB_CURSOR_SECRET="+prodCursorSecret)
	b := mustLoad(t, "TUTORHUB_CURSOR_SECRET="+prodCursorSecret)
	if len(a.Notifications.UnsubscribeSecret) < 32 || string(a.Notifications.UnsubscribeSecret) != string(b.Notifications.UnsubscribeSecret) {
		t.Fatalf("derived secret %d bytes, stable %v", len(a.Notifications.UnsubscribeSecret), string(a.Notifications.UnsubscribeSecret) == string(b.Notifications.UnsubscribeSecret))
	}
	if strings.Contains(string(a.Notifications.UnsubscribeSecret), prodCursorSecret) {
		t.Error("the unsubscribe key is the cursor secret")
	}
	own := strings.Repeat("u", 40)
	if c := mustLoad(t, "TUTORHUB_NOTIFICATIONS_UNSUBSCRIBE_SECRET="+own); string(c.Notifications.UnsubscribeSecret) != own {
		t.Error("a configured unsubscribe secret was not used")
	}
}
