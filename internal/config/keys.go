package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// prefix starts every environment variable this package reads.
const prefix = "TUTORHUB_"

// developmentCursorSecret signs cursors when TUTORHUB_CURSOR_SECRET is unset
// outside production. It is public, so it protects nothing.
const developmentCursorSecret = "tutorhub-development-cursor-secret-public-do-not-use-in-production"

// Names of keys that rules beyond a single value refer to.
const (
	keyConfigFile          = prefix + "CONFIG_FILE"
	keyEnv                 = prefix + "ENV"
	keyHTTPAddr            = prefix + "HTTP_ADDR"
	keyHTTPInternalAddr    = prefix + "HTTP_INTERNAL_ADDR"
	keyHTTPReadHeader      = prefix + "HTTP_READ_HEADER_TIMEOUT"
	keyHTTPRead            = prefix + "HTTP_READ_TIMEOUT"
	keyHTTPTLSCert         = prefix + "HTTP_TLS_CERT_FILE"
	keyHTTPTLSKey          = prefix + "HTTP_TLS_KEY_FILE"
	keyHTTPPublicURL       = prefix + "HTTP_PUBLIC_URL"
	keyDatabaseMaxConns    = prefix + "DATABASE_MAX_CONNS"
	keyDatabaseMinConns    = prefix + "DATABASE_MIN_CONNS"
	keyCORSAllowedOrigins  = prefix + "CORS_ALLOWED_ORIGINS"
	keyRateLimitEnabled    = prefix + "RATE_LIMIT_ENABLED"
	keyCursorSecret        = prefix + "CURSOR_SECRET"
	keyAuthCookieSecure    = prefix + "AUTH_COOKIE_SECURE"
	keyAuthLockoutBase     = prefix + "AUTH_LOCKOUT_BASE"
	keyAuthLockoutMax      = prefix + "AUTH_LOCKOUT_MAX"
	keyAuthCaptchaProvider = prefix + "AUTH_CAPTCHA_PROVIDER"
	keyAuthCaptchaSecret   = prefix + "AUTH_CAPTCHA_SECRET"
	keySearchEngine        = prefix + "SEARCH_ENGINE"
	keyMeiliURL            = prefix + "MEILI_URL"
	keyTemporalTLSCert     = prefix + "TEMPORAL_TLS_CERT_FILE"
	keyTemporalTLSKey      = prefix + "TEMPORAL_TLS_KEY_FILE"
	keyWorkerMetricsAddr   = prefix + "WORKER_METRICS_ADDR"
	keyUnsubscribeSecret   = prefix + "NOTIFICATIONS_UNSUBSCRIBE_SECRET"
	keyS3AccessKeyID       = prefix + "S3_ACCESS_KEY_ID"
	keyS3SecretAccessKey   = prefix + "S3_SECRET_ACCESS_KEY"
	keyS3QuarantineBucket  = prefix + "S3_QUARANTINE_BUCKET"
	keyS3CleanBucket       = prefix + "S3_CLEAN_BUCKET"
	keyUploadsPutURLTTL    = prefix + "UPLOADS_PUT_URL_TTL"
	keyUploadsAbandonAfter = prefix + "UPLOADS_ABANDON_AFTER"
	keyStripeSecretKey     = prefix + "STRIPE_SECRET_KEY"
	keyStripeWebhookSecret = prefix + "STRIPE_WEBHOOK_SECRETS"
	keyPaymentsTestMode    = prefix + "PAYMENTS_TEST_MODE"
)

// developmentStripeKey authenticates to stripe-mock, which accepts any test key; Stripe
// itself refuses it.
const developmentStripeKey = "sk_test_tutorhublocal"

// Values of Auth.CaptchaProvider.
const (
	captchaProviderNone      = ""
	captchaProviderTurnstile = "turnstile"
	captchaProviderHCaptcha  = "hcaptcha"
	captchaProviderTest      = "test"
)

// keyDef describes one setting: how it is named, defaulted, parsed into a
// Config, shown and documented.
type keyDef struct {
	name string // environment variable name, with prefix
	def  string // default value, unless derive is set
	// derive computes the default from keys earlier in the table; ok=false
	// means there is no default and the field keeps its zero value.
	derive func(c *Config) (value string, ok bool)
	defDoc string // the default as documented, when derived
	secret bool   // never shown in errors, Print or logs
	list   bool   // the YAML file may give a sequence, joined with commas
	// envOnly keys are read from the environment only, not from the YAML file,
	// and cannot be given as KEY_FILE.
	envOnly bool
	doc     string
	parse   func(c *Config, value string) error // nil for envOnly keys
	format  func(c *Config) string              // inverse of parse
}

// yamlName is the key's name in the YAML file.
func (k keyDef) yamlName() string {
	return strings.ToLower(strings.TrimPrefix(k.name, prefix))
}

// key builds a keyDef for a field of type T from a parser and a formatter
// of T, so parse and format can never address different fields.
func key[T any](name, def string, field func(*Config) *T, parse func(string) (T, error), format func(T) string, doc string) keyDef {
	return keyDef{
		name: name,
		def:  def,
		doc:  doc,
		parse: func(c *Config, v string) error {
			x, err := parse(v)
			if err != nil {
				return err
			}
			*field(c) = x
			return nil
		},
		format: func(c *Config) string { return format(*field(c)) },
	}
}

func (k keyDef) asSecret() keyDef { k.secret = true; return k }
func (k keyDef) asList() keyDef   { k.list = true; return k }

func (k keyDef) derived(doc string, derive func(*Config) (string, bool)) keyDef {
	k.derive, k.defDoc = derive, doc
	return k
}

// keys returns the table of every setting. Order matters: a derived default
// may only read fields of keys listed before it.
func keys() []keyDef {
	str := func(s string) string { return s }
	dur := formatDuration
	boolean := strconv.FormatBool
	return append([]keyDef{
		{
			name: keyConfigFile, envOnly: true,
			doc:    "Path of an optional YAML file of settings, keyed by these names without `TUTORHUB_` in lower case (`http_addr: ...`). Environment variables override it.",
			format: func(c *Config) string { return c.configFile },
		},
		key(keyEnv, EnvDevelopment, func(c *Config) *string { return &c.Env },
			oneOf(EnvDevelopment, EnvProduction, EnvTest), str,
			"Deployment environment: `development`, `production` or `test`. Production enforces stricter rules."),

		key(keyHTTPAddr, "127.0.0.1:8080", func(c *Config) *string { return &c.HTTP.Addr },
			parseHostPort, str, "Address the API listens on, as host:port."),
		key(keyHTTPInternalAddr, "", func(c *Config) *string { return &c.HTTP.InternalAddr },
			optionalHostPort, str, "Address of the internal listener, as host:port: it serves `/metrics`, gRPC reflection, Go's profiler (`/debug/pprof/`), `/ready` and `/health`, and the API's address then serves neither `/metrics` nor reflection (it keeps `/health` and `/ready` for load balancers). Empty serves everything on the API's address; not allowed in production. Keep it off the public ingress (bind `0.0.0.0:9090` only for a scraper on another host).").
			derived("empty; `127.0.0.1:9090` in production", func(c *Config) (string, bool) {
				return "127.0.0.1:9090", c.Env == EnvProduction
			}),
		key(keyHTTPReadHeader, "5s", func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout },
			positiveDuration, dur, "Time allowed to read request headers; at most the read timeout."),
		key(keyHTTPRead, "30s", func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout },
			positiveDuration, dur, "Time allowed to read a whole request."),
		key(prefix+"HTTP_WRITE_TIMEOUT", "30s", func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout },
			positiveDuration, dur, "Time allowed to write a response."),
		key(prefix+"HTTP_IDLE_TIMEOUT", "120s", func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout },
			positiveDuration, dur, "Time a keep-alive connection may wait for its next request."),
		key(prefix+"HTTP_SHUTDOWN_TIMEOUT", "25s", func(c *Config) *time.Duration { return &c.HTTP.ShutdownTimeout },
			positiveDuration, dur, "Time in-flight requests get to finish on shutdown."),
		key(prefix+"HTTP_READY_DRAIN_DELAY", "0s", func(c *Config) *time.Duration { return &c.HTTP.ReadyDrainDelay },
			nonNegativeDuration, dur, "On shutdown, time `/ready` reports not-ready before the listener stops accepting, so a load balancer can notice."),
		key(prefix+"MEMORY_LIMIT_BYTES", "104857600", func(c *Config) *int64 { return &c.MemoryLimitBytes },
			memoryLimit, formatInt[int64], "Soft limit of the Go runtime's memory, in bytes (0 for none, else at least 16777216): near it the garbage collector runs more often rather than let the heap double, and returns freed memory to the OS sooner. Set it below the container's limit, with room for the binary and the C libraries. `GOMEMLIMIT`, when set, wins."),
		key(prefix+"HTTP_MAX_BODY_BYTES", "1048576", func(c *Config) *int64 { return &c.HTTP.MaxBodyBytes },
			integer[int64](1<<10, 64<<20), formatInt[int64], "Largest request body accepted, in bytes (1024 to 67108864)."),
		key(keyHTTPTLSCert, "", func(c *Config) *string { return &c.HTTP.TLSCertFile },
			existingFile, str, "PEM certificate file to serve TLS; set together with the key file."),
		key(keyHTTPTLSKey, "", func(c *Config) *string { return &c.HTTP.TLSKeyFile },
			existingFile, str, "PEM private key file to serve TLS; set together with the certificate file."),
		key(prefix+"HTTP_TRUSTED_PROXIES", "", func(c *Config) *[]netip.Prefix { return &c.HTTP.TrustedProxies },
			parsePrefixes, formatPrefixes, "Comma-separated IPs or CIDRs of proxies whose `X-Forwarded-For` is believed.").asList(),
		key(keyHTTPPublicURL, "", func(c *Config) *string { return &c.HTTP.PublicURL },
			parseHTTPURL, str, "Absolute http(s) URL the API is reached at.").
			derived("derived from the address (`http://127.0.0.1:8080`)", derivePublicURL),

		key(prefix+"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tutorhub?sslmode=disable",
			func(c *Config) *string { return &c.Database.URL },
			parsePostgresURL, str, "PostgreSQL connection string, as accepted by pgx.").asSecret(),
		key(keyDatabaseMaxConns, "10", func(c *Config) *int32 { return &c.Database.MaxConns },
			integer[int32](1, 1000), formatInt[int32], "Maximum open database connections (1 to 1000)."),
		key(keyDatabaseMinConns, "0", func(c *Config) *int32 { return &c.Database.MinConns },
			integer[int32](0, 1000), formatInt[int32], "Database connections kept open; at most the maximum."),
		key(prefix+"DATABASE_MAX_CONN_LIFETIME", "30m", func(c *Config) *time.Duration { return &c.Database.MaxConnLifetime },
			positiveDuration, dur, "Age at which a database connection is replaced."),
		key(prefix+"DATABASE_MAX_CONN_IDLE_TIME", "5m", func(c *Config) *time.Duration { return &c.Database.MaxConnIdleTime },
			positiveDuration, dur, "Time an idle database connection is kept."),
		key(prefix+"DATABASE_DIRECT_URL", "", func(c *Config) *string { return &c.Database.DirectURL },
			optionalPostgresURL, str, "The database without a transaction-pooling proxy (PgBouncer) in between, for session work: LISTEN and the migration lock; empty uses the database URL (docs/database.md).").asSecret(),
		key(prefix+"DATABASE_REPLICA_URL", "", func(c *Config) *string { return &c.Database.ReplicaURL },
			optionalPostgresURL, str, "A streaming replica that serves public reads (tutor profiles and lists, search); empty reads the primary (docs/database.md).").asSecret(),
		key(prefix+"DATABASE_REPLICA_MAX_LAG", "5s", func(c *Config) *time.Duration { return &c.Database.ReplicaMaxLag },
			positiveDuration, dur, "Replication lag beyond which reads go back to the primary."),
		key(prefix+"DATABASE_REPLICA_CHECK_INTERVAL", "1s", func(c *Config) *time.Duration { return &c.Database.ReplicaCheckInterval },
			positiveDuration, dur, "How often the replica's state and lag are measured."),

		key(prefix+"REDIS_URL", "redis://127.0.0.1:6379/0", func(c *Config) *string { return &c.Redis.URL },
			parseRedisURL, str, "Redis URL, as accepted by go-redis.").asSecret(),
		key(prefix+"REDIS_KEY_PREFIX", "tutorhub:", func(c *Config) *string { return &c.Redis.KeyPrefix },
			parseKeyPrefix, str, "Prefix of every Redis key tutorhub writes."),

		key(prefix+"LOG_LEVEL", "info", func(c *Config) *slog.Level { return &c.Log.Level },
			parseLogLevel, formatLogLevel, "Least severe log level written: `debug`, `info`, `warn` or `error`."),
		key(prefix+"LOG_FORMAT", "json", func(c *Config) *string { return &c.Log.Format },
			oneOf("json", "text"), str, "Log format: `json` or `text`."),

		key(keyCORSAllowedOrigins, "", func(c *Config) *[]string { return &c.CORS.AllowedOrigins },
			parseOrigins, formatList, "Comma-separated origins (`scheme://host[:port]`) browsers may call from, or `*` (not in production).").asList(),

		key(keyRateLimitEnabled, "true", func(c *Config) *bool { return &c.RateLimit.Enabled },
			parseBool, boolean, "Enables rate limiting."),
		key(prefix+"RATE_LIMIT_ANONYMOUS", "120/1m", func(c *Config) *Rate { return &c.RateLimit.Anonymous },
			parseRate, Rate.String, "Rate per client IP for requests without a user, as `N/PERIOD[:BURST]`."),
		key(prefix+"RATE_LIMIT_AUTHENTICATED", "600/1m", func(c *Config) *Rate { return &c.RateLimit.Authenticated },
			parseRate, Rate.String, "Rate per signed-in user."),
		key(prefix+"RATE_LIMIT_AUTH", "20/1m", func(c *Config) *Rate { return &c.RateLimit.Auth },
			parseRate, Rate.String, "Rate per client IP for credential RPCs."),
		key(prefix+"RATE_LIMIT_AUTH_ACCOUNT", "10/1m", func(c *Config) *Rate { return &c.RateLimit.AuthAccount },
			parseRate, Rate.String, "Rate per account for credential RPCs; once spent, sign-in and sign-up need a captcha (when a provider is set)."),
		key(prefix+"RATE_LIMIT_AUTH_GLOBAL", "600/1m", func(c *Config) *Rate { return &c.RateLimit.AuthGlobal },
			parseRate, Rate.String, "Rate for all credential RPCs together; once spent, sign-in and sign-up need a captcha (when a provider is set)."),
		key(prefix+"RATE_LIMIT_RECOVERY", "30/1h", func(c *Config) *Rate { return &c.RateLimit.Recovery },
			parseRate, Rate.String, "Rate per client IP for account recovery, apart from the credential budgets."),
		key(prefix+"RATE_LIMIT_RECOVERY_ACCOUNT", "5/1h", func(c *Config) *Rate { return &c.RateLimit.RecoveryAccount },
			parseRate, Rate.String, "Rate per account (address or recovery flow) for account recovery."),
		key(prefix+"RATE_LIMIT_IPV6_PREFIX", "64", func(c *Config) *int { return &c.RateLimit.IPv6Prefix },
			integer[int](32, 128), formatInt[int], "Prefix length by which IPv6 clients share a budget (32 to 128); IPv4 clients are keyed by address."),
		key(prefix+"RATE_LIMIT_FAIL_OPEN", "true", func(c *Config) *bool { return &c.RateLimit.FailOpen },
			parseBool, boolean, "When Redis is unreachable, allow requests (and log) instead of refusing them; credential RPCs always refuse."),

		key(keyCursorSecret, "", func(c *Config) *[]byte { return &c.Cursor.Secret },
			parseCursorSecret, func(b []byte) string { return string(b) },
			"Key signing pagination cursors, at least 32 bytes.").asSecret().
			derived("a public development key; required in production", func(c *Config) (string, bool) {
				return developmentCursorSecret, c.Env != EnvProduction
			}),

		key(prefix+"KRATOS_PUBLIC_URL", "http://127.0.0.1:4433", func(c *Config) *string { return &c.Kratos.PublicURL },
			parseHTTPURL, str, "URL of the Kratos public API."),
		key(prefix+"KRATOS_ADMIN_URL", "http://127.0.0.1:4434", func(c *Config) *string { return &c.Kratos.AdminURL },
			parseHTTPURL, str, "URL of the Kratos admin API."),
		key(prefix+"KRATOS_TIMEOUT", "5s", func(c *Config) *time.Duration { return &c.Kratos.Timeout },
			positiveDuration, dur, "Time allowed for each call to Kratos."),

		key(prefix+"SMTP_URL", "smtp://127.0.0.1:1025", func(c *Config) *string { return &c.SMTP.URL },
			parseSMTPURL, str, "SMTP relay for tutorhub's own mail (notifications, and the notice to an address that signs up again), as `smtp://[user:password@]host[:port]` (STARTTLS when offered; `?disable_starttls=true`) or `smtps://...`; use the relay Kratos's courier uses.").asSecret(),
		key(prefix+"SMTP_FROM", "tutorhub <no-reply@tutorhub.local>", func(c *Config) *string { return &c.SMTP.From },
			parseMailAddress, str, "Sender address of tutorhub's own mail."),

		key(keyUnsubscribeSecret, "", func(c *Config) *[]byte { return &c.Notifications.UnsubscribeSecret },
			parseCursorSecret, func(b []byte) string { return string(b) },
			"Key signing the one-click unsubscribe links of notification mail (HMAC-SHA256), at least 32 bytes; changing it (or, while it is unset, the cursor secret) voids the links of mail already sent.").asSecret().
			derived("derived from `TUTORHUB_CURSOR_SECRET` under a label of its own", func(c *Config) (string, bool) {
				if len(c.Cursor.Secret) == 0 {
					return "", false
				}
				m := hmac.New(sha256.New, c.Cursor.Secret)
				m.Write([]byte("tutorhub notification unsubscribe links"))
				return hex.EncodeToString(m.Sum(nil)), true
			}),
		key(prefix+"NOTIFICATIONS_STREAMS_PER_USER", "5", func(c *Config) *int { return &c.Notifications.StreamsPerUser },
			integer[int](1, 100), formatInt[int], "Notification streams (WatchNotifications) one user may hold open at once on one replica (1 to 100)."),
		key(prefix+"NOTIFICATIONS_HEARTBEAT", "25s", func(c *Config) *time.Duration { return &c.Notifications.Heartbeat },
			positiveDuration, dur, "Interval of the notification stream's heartbeat; below the idle timeout of every proxy in front of the API."),

		key(prefix+"AUTH_JWKS_PATH", ".data/kratos/jwks.public.json", func(c *Config) *string { return &c.Auth.AccessTokenJWKSURL },
			nonEmpty, str, "JWKS file with the public keys of access tokens (`jwksgen`'s `*.public.json`); a file holding private keys is refused."),
		key(prefix+"AUTH_TOKEN_ISSUER", "http://127.0.0.1:4433/", func(c *Config) *string { return &c.Auth.TokenIssuer },
			parseHTTPURL, str, "The `iss` of access tokens: Kratos's public `base_url` (`serve.public.base_url`), which need not be the URL the API reaches Kratos at."),
		key(prefix+"AUTH_TOKEN_AUDIENCE", "tutorhub", func(c *Config) *string { return &c.Auth.TokenAudience },
			parseToken, str, "A value the `aud` of access tokens must hold, as `deploy/kratos/access_token.jsonnet` sets it."),
		key(prefix+"AUTH_TOKEN_LIFETIME", "10m", func(c *Config) *time.Duration { return &c.Auth.TokenLifetime },
			positiveDuration, dur, "Longest access-token lifetime accepted (the Kratos template's `ttl`); revocations of sessions are kept this long."),
		key(prefix+"AUTH_TOKENIZE_TEMPLATE", "access_token", func(c *Config) *string { return &c.Auth.TokenizeTemplate },
			parseIdentifier, str, "Kratos tokenizer template that issues access tokens."),
		key(keyAuthCookieSecure, "", func(c *Config) *bool { return &c.Auth.CookieSecure },
			parseBool, boolean, "Marks cookies Secure (HTTPS only) and names them with the `__Host-` prefix; must be true in production.").
			derived("`true` in production, else `false`", func(c *Config) (string, bool) {
				return strconv.FormatBool(c.Env == EnvProduction), true
			}),
		key(prefix+"AUTH_LOCKOUT_THRESHOLD", "5", func(c *Config) *int { return &c.Auth.LockoutThreshold },
			integer[int](1, 1000), formatInt[int], "Failed sign-ins within the window that lock an account (1 to 1000)."),
		key(prefix+"AUTH_LOCKOUT_WINDOW", "15m", func(c *Config) *time.Duration { return &c.Auth.LockoutWindow },
			positiveDuration, dur, "Span over which failed sign-ins are counted."),
		key(keyAuthLockoutBase, "1m", func(c *Config) *time.Duration { return &c.Auth.LockoutBase },
			positiveDuration, dur, "First lock period; each further lock doubles it."),
		key(keyAuthLockoutMax, "1h", func(c *Config) *time.Duration { return &c.Auth.LockoutMax },
			positiveDuration, dur, "Longest lock period; at least the base."),
		key(keyAuthCaptchaProvider, captchaProviderNone, func(c *Config) *string { return &c.Auth.CaptchaProvider },
			oneOf(captchaProviderNone, captchaProviderTurnstile, captchaProviderHCaptcha, captchaProviderTest), str,
			"Captcha provider: empty (none), `turnstile`, `hcaptcha` or `test` (not in production)."),
		key(keyAuthCaptchaSecret, "", func(c *Config) *string { return &c.Auth.CaptchaSecret },
			anyString, str, "Captcha provider secret key; required for turnstile and hcaptcha.").asSecret(),
		key(prefix+"AUTH_CAPTCHA_AFTER_FAILURES", "3", func(c *Config) *int { return &c.Auth.CaptchaAfterFailures },
			integer[int](0, 1000), formatInt[int], "Failed sign-ins after which a captcha is required (0 to 1000)."),
		key(prefix+"AUTH_CAPTCHA_ON_REGISTER", "false", func(c *Config) *bool { return &c.Auth.CaptchaOnRegister },
			parseBool, boolean, "Requires a captcha to register."),

		key(prefix+"TUTORS_REQUIRE_VERIFIED_EMAIL", "true", func(c *Config) *bool { return &c.Tutors.RequireVerifiedEmail },
			parseBool, boolean, "Lets only users whose email address is verified create a tutor profile."),
		key(prefix+"AUTH_UNIFORM_RESPONSE", "500ms", func(c *Config) *time.Duration { return &c.Auth.UniformResponse },
			nonNegativeDuration, dur, "Least time Register, StartRecovery and StartVerification take, so their duration does not tell whether an address has an account; keep it above the slowest of them (Register includes Kratos's password hash)."),

		key(keySearchEngine, SearchEnginePostgres, func(c *Config) *string { return &c.Search.Engine },
			oneOf(SearchEnginePostgres, SearchEngineMeilisearch), str,
			"Tutor search engine: `postgres` (an index in the application's database) or `meilisearch` (needs `TUTORHUB_MEILI_URL`)."),
		key(keyMeiliURL, "", func(c *Config) *string { return &c.Search.MeiliURL },
			optionalHTTPURL, str, "URL of Meilisearch, e.g. `http://127.0.0.1:7700`; required when `TUTORHUB_SEARCH_ENGINE` is `meilisearch`."),
		key(prefix+"MEILI_API_KEY", "", func(c *Config) *string { return &c.Search.MeiliAPIKey },
			parseAPIKey, str, "Meilisearch API key allowed to manage the tutors index and its documents; empty for an instance without a master key.").asSecret(),
		key(prefix+"TEMPORAL_ADDRESS", "127.0.0.1:7233", func(c *Config) *string { return &c.Temporal.Address },
			parseHostPort, str, "Temporal frontend the worker (and anything starting workflows) connects to, as host:port: the local dev server, a Temporal cluster, or `NAMESPACE.ACCOUNT.tmprl.cloud:7233` for Temporal Cloud."),
		key(prefix+"TEMPORAL_NAMESPACE", "tutorhub", func(c *Config) *string { return &c.Temporal.Namespace },
			parseTemporalNamespace, str, "Temporal namespace of tutorhub's workflows (letters, digits, `.`, `-`, `_`; at most 255)."),
		key(keyTemporalTLSCert, "", func(c *Config) *string { return &c.Temporal.TLSCertFile },
			existingFile, str, "PEM client certificate for mTLS to Temporal; set together with the key file. Setting it turns TLS on."),
		key(keyTemporalTLSKey, "", func(c *Config) *string { return &c.Temporal.TLSKeyFile },
			existingFile, str, "PEM private key of the Temporal client certificate; set together with the certificate file."),
		key(prefix+"TEMPORAL_TLS_CA_FILE", "", func(c *Config) *string { return &c.Temporal.TLSCAFile },
			existingFile, str, "PEM CA bundle that verifies the Temporal server; empty trusts the system roots. Setting it turns TLS on."),
		key(prefix+"TEMPORAL_API_KEY", "", func(c *Config) *string { return &c.Temporal.APIKey },
			parseAPIKey, str, "API key for Temporal Cloud, sent as a bearer token over TLS (TLS is turned on when it is set); empty uses no API key.").asSecret(),
		key(keyWorkerMetricsAddr, "127.0.0.1:9091", func(c *Config) *string { return &c.Worker.MetricsAddr },
			parseHostPort, str, "Address where `tutorhub worker` serves `/metrics` (its Temporal SDK and outbox relay metrics) and `/health`, as host:port; keep it off the public ingress. Must differ from the API's addresses."),

		key(prefix+"S3_ENDPOINT", "http://127.0.0.1:7070", func(c *Config) *string { return &c.Storage.Endpoint },
			optionalHTTPURL, str, "URL of the S3-compatible storage of uploads (the local stack's Versity S3 Gateway by default); empty for AWS S3's regional endpoint."),
		key(prefix+"S3_PUBLIC_ENDPOINT", "", func(c *Config) *string { return &c.Storage.PublicEndpoint },
			optionalHTTPURL, str, "URL that presigned upload and download URLs name, the one browsers reach, when it differs from `TUTORHUB_S3_ENDPOINT` (e.g. behind a proxy or in docker compose).").
			derived("`TUTORHUB_S3_ENDPOINT`", func(c *Config) (string, bool) { return c.Storage.Endpoint, true }),
		key(prefix+"S3_REGION", "us-east-1", func(c *Config) *string { return &c.Storage.Region },
			parseIdentifier, str, "Region S3 requests are signed for."),
		key(prefix+"S3_PATH_STYLE", "true", func(c *Config) *bool { return &c.Storage.PathStyle },
			parseBool, boolean, "Addresses buckets in the path (`/BUCKET/KEY`), as the local stack and most S3-compatible servers need; `false` for virtual-hosted buckets (`BUCKET.HOST`)."),
		key(keyS3AccessKeyID, "", func(c *Config) *string { return &c.Storage.AccessKeyID },
			parseAPIKey, str, "Access key id for the storage; with the secret empty too, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` are used. deploy/local/env.sh sets the local stack's."),
		key(keyS3SecretAccessKey, "", func(c *Config) *string { return &c.Storage.SecretAccessKey },
			parseAPIKey, str, "Secret access key for the storage; set together with the access key id.").asSecret(),
		key(keyS3QuarantineBucket, "tutorhub-quarantine", func(c *Config) *string { return &c.Storage.QuarantineBucket },
			parseBucketName, str, "Bucket that receives uploads until they are scanned; nothing is ever served from it."),
		key(keyS3CleanBucket, "tutorhub-clean", func(c *Config) *string { return &c.Storage.CleanBucket },
			parseBucketName, str, "Bucket of uploads that passed the virus scan, the only one downloads are presigned for."),
		key(prefix+"CLAMD_ADDRESS", "127.0.0.1:3310", func(c *Config) *string { return &c.Clamd.Address },
			parseHostPort, str, "ClamAV daemon (clamd) that scans uploads, as host:port of its TCP socket."),
		key(prefix+"CLAMD_TIMEOUT", "2m", func(c *Config) *time.Duration { return &c.Clamd.Timeout },
			positiveDuration, dur, "Longest one scan may take, from connecting to clamd to its verdict."),
		key(keyUploadsPutURLTTL, "10m", func(c *Config) *time.Duration { return &c.Uploads.PutURLTTL },
			durationBetween(time.Minute, time.Hour), dur, "How long a presigned upload URL is valid (1m to 1h)."),
		key(prefix+"UPLOADS_GET_URL_TTL", "5m", func(c *Config) *time.Duration { return &c.Uploads.GetURLTTL },
			durationBetween(10*time.Second, time.Hour), dur, "How long a presigned download URL is valid (10s to 1h)."),
		key(keyUploadsAbandonAfter, "24h", func(c *Config) *time.Duration { return &c.Uploads.AbandonAfter },
			positiveDuration, dur, "How long an upload may stay pending (never completed) before its object is deleted and the upload expires; at least the upload URL's lifetime."),
		key(prefix+"UPLOADS_WEBHOOK_SECRET", "", func(c *Config) *[]byte { return &c.Uploads.WebhookSecret },
			parseOptionalSecret, func(b []byte) string { return string(b) },
			"Token (at least 32 bytes) the storage's bucket notifications send to `POST /webhooks/storage` (as `Authorization: Bearer TOKEN` or `?token=TOKEN`): a finished upload then starts its scan even if the client never calls CompleteUpload. Empty turns the webhook off (404).").asSecret(),

		key(prefix+"STRIPE_API_URL", "http://127.0.0.1:12111", func(c *Config) *string { return &c.Payments.StripeAPIURL },
			parseHTTPURL, str, "Base URL of the Stripe API: the local stack's stripe-mock by default; `https://api.stripe.com` for Stripe itself."),
		key(keyStripeSecretKey, developmentStripeKey, func(c *Config) *string { return &c.Payments.StripeSecretKey },
			parseStripeKey, str, "Stripe secret key (`sk_...`) or restricted key (`rk_...`); the default is a test key that only stripe-mock accepts.").asSecret(),
		key(keyStripeWebhookSecret, "", func(c *Config) *[]string { return &c.Payments.WebhookSecrets },
			parseWebhookSecrets, formatList, "Comma-separated signing secrets (`whsec_...`) of the Stripe webhook endpoint `POST /webhooks/stripe`; a signature by any of them is accepted, so a secret can be rolled. Empty turns the endpoint off (404).").asSecret().asList(),
		key(prefix+"STRIPE_WEBHOOK_TOLERANCE", "5m", func(c *Config) *time.Duration { return &c.Payments.WebhookTolerance },
			durationBetween(10*time.Second, time.Hour), dur, "Oldest (and furthest in the future) a signed Stripe webhook's timestamp may be (10s to 1h)."),
		key(prefix+"PAYMENTS_PLATFORM_FEE_BPS", "1500", func(c *Config) *int { return &c.Payments.PlatformFeeBPS },
			integer(0, 10000), formatInt[int], "The platform's fee on each charge in basis points (1500 = 15%); the rest is payable to the tutor."),
		key(keyPaymentsTestMode, "false", func(c *Config) *bool { return &c.Payments.TestMode },
			parseBool, boolean, "Development and tests only: `BookingService.PayBookingWithTestCard` pays a booking with Stripe's test card and hands the payment's event to the webhook path, signed with the first of "+keyStripeWebhookSecret+" (which must be set). Refused with a live key (`sk_live_`, `rk_live_`) and in production."),
		key(prefix+"PAYMENTS_RECONCILE_EVERY", "1h", func(c *Config) *time.Duration { return &c.Payments.ReconcileEvery },
			durationBetween(time.Minute, 24*time.Hour), dur, "How often the Reconcile schedule compares the provider's records with the charges and the ledger (1m to 24h)."),
		key(prefix+"PAYMENTS_RECONCILE_WINDOW", "48h", func(c *Config) *time.Duration { return &c.Payments.ReconcileWindow },
			durationBetween(time.Hour, 90*24*time.Hour), dur, "How far back each Reconcile run looks at PaymentIntents and charges (1h to 90 days)."),

		key(prefix+"MIGRATE_ON_START", "false", func(c *Config) *bool { return &c.MigrateOnStart },
			parseBool, boolean, "Runs pending database migrations before serving."),
	}, resilienceKeys()...)
}

// derivePublicURL points at the listener itself, naming a loopback host when
// the listener binds every interface.
func derivePublicURL(c *Config) (string, bool) {
	host, port, err := net.SplitHostPort(c.HTTP.Addr)
	if err != nil {
		return "", false // the address was rejected; that problem is reported
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "localhost"
	}
	scheme := "http"
	if c.HTTP.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}
