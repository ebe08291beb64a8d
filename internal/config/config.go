// Package config loads tutorhub's settings into one typed, validated Config
// from TUTORHUB_* environment variables and an optional YAML file.
//
// Every setting is described once, in a single table of keys; loading,
// Keys, Print and MarkdownTable are all driven by that table, so the
// documentation cannot drift from what Load accepts.
package config

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Values of Config.Env.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
	EnvTest        = "test"
)

// Config is tutorhub's effective configuration. A Config returned by Load
// has passed every validation rule; it is never modified afterwards and is
// safe for concurrent reads.
type Config struct {
	// Env is the deployment environment: EnvDevelopment, EnvProduction or EnvTest.
	Env string
	// MemoryLimitBytes is the Go runtime's soft memory limit (debug.SetMemoryLimit), or 0
	// for none: near it the collector runs more often instead of letting the heap double.
	MemoryLimitBytes int64
	// HTTP configures the API listener.
	HTTP HTTP
	// Database configures the PostgreSQL pool.
	Database Database
	// Redis configures the Redis client.
	Redis Redis
	// Log configures the process logger.
	Log Log
	// CORS configures cross-origin access for browsers.
	CORS CORS
	// RateLimit configures request rate limiting.
	RateLimit RateLimit
	// Cursor configures list pagination cursors.
	Cursor Cursor
	// Kratos locates the Ory Kratos identity server.
	Kratos Kratos
	// Auth configures authentication and brute-force protection.
	Auth Auth
	// Tutors configures tutor profiles.
	Tutors Tutors
	// Search chooses and locates the tutor search engine.
	Search Search
	// SMTP locates the mail relay for tutorhub's own mail.
	SMTP SMTP
	// Notifications configures notification mail links and streams.
	Notifications Notifications
	// Temporal locates the Temporal service and says how to authenticate to it.
	Temporal Temporal
	// Worker configures the `tutorhub worker` process.
	Worker Worker
	// Storage locates the S3-compatible object storage of uploads.
	Storage Storage
	// Clamd locates the ClamAV daemon that scans uploads.
	Clamd Clamd
	// Uploads configures the upload flow's presigned URLs.
	Uploads Uploads
	// Resilience configures circuit breakers, request deadlines and load shedding.
	Resilience Resilience
	// Payments locates the payment provider (Stripe) and sets the platform's fee.
	Payments Payments
	// MigrateOnStart runs pending database migrations before serving.
	MigrateOnStart bool

	// sources records where each key's value came from, for Print.
	sources map[string]source
	// configFile is the YAML file the values were read from, if any.
	configFile string
	warnings   []string
}

// Tutors configures tutor profiles.
type Tutors struct {
	// RequireVerifiedEmail lets only users with a verified email create a tutor profile.
	RequireVerifiedEmail bool
}

// Values of Search.Engine.
const (
	SearchEnginePostgres    = "postgres"
	SearchEngineMeilisearch = "meilisearch"
)

// Search chooses and locates the tutor search engine.
type Search struct {
	// Engine is SearchEnginePostgres or SearchEngineMeilisearch.
	Engine string
	// MeiliURL is Meilisearch's URL; never empty when Engine is SearchEngineMeilisearch.
	MeiliURL string
	// MeiliAPIKey is a Meilisearch key that may manage the tutors index; may be empty.
	MeiliAPIKey string
}

// HTTP configures the API listener.
type HTTP struct {
	// Addr is the host:port to listen on.
	Addr string
	// InternalAddr is the host:port of the listener for /metrics, gRPC reflection, /ready
	// and /health, or empty to serve them all on Addr. Never empty in production, and never
	// equal to Addr.
	InternalAddr string
	// ReadHeaderTimeout bounds reading request headers; never more than ReadTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its next request.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long in-flight requests may take to finish on shutdown.
	ShutdownTimeout time.Duration
	// ReadyDrainDelay is how long /ready reports not-ready before the
	// listener stops accepting, so a load balancer can notice; may be zero.
	ReadyDrainDelay time.Duration
	// MaxBodyBytes is the largest request body accepted, from 1 KiB to 64 MiB.
	MaxBodyBytes int64
	// TLSCertFile and TLSKeyFile name existing PEM files; both are set or neither is.
	TLSCertFile, TLSKeyFile string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	// Single addresses appear as full-length prefixes (/32 or /128), and
	// IPv4-mapped IPv6 addresses as IPv4.
	TrustedProxies []netip.Prefix
	// PublicURL is the absolute http or https URL the API is reached at,
	// without a trailing slash.
	PublicURL string
}

// Database configures the PostgreSQL pool.
type Database struct {
	// URL is a connection string accepted by pgxpool.ParseConfig. Secret.
	URL string
	// MaxConns is the pool's size limit, from 1 to 1000.
	MaxConns int32
	// MinConns is the number of connections kept open, at most MaxConns.
	MinConns int32
	// MaxConnLifetime is how long a connection is used before being replaced.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime is how long an idle connection is kept.
	MaxConnIdleTime time.Duration
	// DirectURL reaches the same database without a transaction-pooling proxy, for what
	// needs a session of its own: LISTEN (outbox relay, notification hub) and the
	// migrations' advisory lock. Empty uses URL (see SessionURL). Secret.
	DirectURL string
	// ReplicaURL is a streaming replica that serves public reads; empty reads the primary.
	// Secret.
	ReplicaURL string
	// ReplicaMaxLag is the replication lag beyond which reads go back to the primary.
	ReplicaMaxLag time.Duration
	// ReplicaCheckInterval is how often the replica's state and lag are measured.
	ReplicaCheckInterval time.Duration
}

// SessionURL is the URL for work that needs a database session of its own (LISTEN, session
// advisory locks): DirectURL, else URL.
func (d Database) SessionURL() string {
	if d.DirectURL != "" {
		return d.DirectURL
	}
	return d.URL
}

// Redis configures the Redis client.
type Redis struct {
	// URL is a URL accepted by redis.ParseURL. Secret.
	URL string
	// KeyPrefix starts every key tutorhub writes; it holds no whitespace,
	// control characters or glob metacharacters.
	KeyPrefix string
	// DialTimeout bounds a new connection; Timeout each command's reply and write.
	DialTimeout, Timeout time.Duration
}

// Log configures the process logger.
type Log struct {
	// Level is the least severe level written.
	Level slog.Level
	// Format is "json" or "text".
	Format string
}

// CORS configures cross-origin access for browsers.
type CORS struct {
	// AllowedOrigins are lower-case origins (scheme://host[:port], default
	// port omitted), or the single entry "*" outside production. Empty
	// means no cross-origin access.
	AllowedOrigins []string
}

// RateLimit configures request rate limiting.
type RateLimit struct {
	// Enabled turns rate limiting on.
	Enabled bool
	// Anonymous applies per client IP to requests without a user.
	Anonymous Rate
	// Authenticated applies per user.
	Authenticated Rate
	// Auth applies per client IP to credential RPCs.
	Auth Rate
	// AuthAccount applies per account to credential RPCs.
	AuthAccount Rate
	// AuthGlobal applies to all credential RPCs together; once spent, sign-in and sign-up
	// require a captcha rather than being refused.
	AuthGlobal Rate
	// Recovery applies per client IP to account recovery (StartRecovery,
	// CompleteRecovery), instead of the credential budgets.
	Recovery Rate
	// RecoveryAccount applies per account (an address, or a recovery flow) to account
	// recovery.
	RecoveryAccount Rate
	// IPv6Prefix is the prefix length, from 32 to 128, by which IPv6 clients are keyed;
	// IPv4 clients are keyed by address.
	IPv6Prefix int
	// FailOpen allows requests (and logs) when Redis is unreachable. Credential RPCs
	// fail closed whatever it says.
	FailOpen bool
}

// Cursor configures list pagination cursors.
type Cursor struct {
	// Secret signs cursors; at least 32 bytes. Secret.
	Secret []byte
}

// Kratos locates the Ory Kratos identity server.
type Kratos struct {
	// PublicURL is Kratos' public API, without a trailing slash.
	PublicURL string
	// AdminURL is Kratos' admin API, without a trailing slash.
	AdminURL string
	// Timeout bounds each call to Kratos.
	Timeout time.Duration
}

// Auth configures authentication and brute-force protection.
type Auth struct {
	// AccessTokenJWKSURL is the path of a JWKS file holding the public keys
	// that verify access tokens (the verifier refuses one with private keys).
	AccessTokenJWKSURL string
	// TokenIssuer is the iss claim access tokens must carry: Kratos's public
	// base_url, without a trailing slash (the verifier ignores one).
	TokenIssuer string
	// TokenAudience is a value the aud claim of access tokens must hold.
	TokenAudience string
	// TokenLifetime is the longest lifetime (exp - iat) an access token may
	// have; revocations are kept this long.
	TokenLifetime time.Duration
	// TokenizeTemplate is the Kratos tokenizer template that issues access tokens.
	TokenizeTemplate string
	// CookieSecure marks cookies Secure and gives them the __Host- prefix;
	// always true in production.
	CookieSecure bool
	// LockoutThreshold is the number of failures within LockoutWindow that locks an account.
	LockoutThreshold int
	// LockoutWindow is the span over which failures are counted.
	LockoutWindow time.Duration
	// LockoutBase is the first lock period; each further lock doubles it.
	LockoutBase time.Duration
	// LockoutMax caps the lock period; at least LockoutBase.
	LockoutMax time.Duration
	// CaptchaProvider is "" (none), "turnstile", "hcaptcha" or, outside production, "test".
	CaptchaProvider string
	// CaptchaSecret is the provider's secret key, set whenever the provider
	// is turnstile or hcaptcha. Secret.
	CaptchaSecret string
	// CaptchaAfterFailures is the number of failures after which a captcha is required.
	CaptchaAfterFailures int
	// CaptchaOnRegister requires a captcha to register.
	CaptchaOnRegister bool
	// UniformResponse is the least time Register, StartRecovery and StartVerification take.
	UniformResponse time.Duration
}

// SMTP locates the mail relay for tutorhub's own mail.
type SMTP struct {
	// URL is smtp:// or smtps://, with credentials when the relay needs them. Secret.
	URL string
	// From is the sender address.
	From string
}

// Notifications configures notification mail links and streams.
type Notifications struct {
	// UnsubscribeSecret signs one-click unsubscribe links; at least 32 bytes. Secret.
	UnsubscribeSecret []byte
	// StreamsPerUser bounds one user's open WatchNotifications streams per replica.
	StreamsPerUser int
	// Heartbeat is the interval of the stream's heartbeat.
	Heartbeat time.Duration
}

// Temporal locates the Temporal service (the local dev server, a self-hosted cluster or
// Temporal Cloud) and says how to authenticate to it.
type Temporal struct {
	// Address is the frontend's host:port.
	Address string
	// Namespace is the namespace of tutorhub's workflows; never empty.
	Namespace string
	// TLSCertFile and TLSKeyFile name existing PEM files of a client certificate (mTLS);
	// both are set or neither is.
	TLSCertFile, TLSKeyFile string
	// TLSCAFile names an existing PEM CA bundle verifying the server, or is empty for the
	// system roots.
	TLSCAFile string
	// APIKey is a Temporal Cloud API key, or empty. Secret.
	APIKey string
}

// TLS reports whether the connection to Temporal uses TLS: it does whenever a client
// certificate, a CA bundle or an API key is configured.
func (t Temporal) TLS() bool {
	return t.TLSCertFile != "" || t.TLSCAFile != "" || t.APIKey != ""
}

// Worker configures the `tutorhub worker` process.
type Worker struct {
	// MetricsAddr is the host:port of the worker's /metrics and /health listener; it
	// never collides with HTTP.Addr or HTTP.InternalAddr.
	MetricsAddr string
}

// Storage locates the S3-compatible object storage of uploads (the local Versity S3 Gateway,
// AWS S3, GCS's S3 API, ...), reached only through aws-sdk-go-v2.
type Storage struct {
	// Endpoint is the S3 API's absolute http or https URL, or empty for AWS S3's regional endpoint.
	Endpoint string
	// PublicEndpoint is the URL presigned URLs name, the one browsers reach; it defaults to Endpoint.
	PublicEndpoint string
	// Region is the region requests are signed for; never empty.
	Region string
	// PathStyle addresses buckets as /BUCKET/KEY rather than BUCKET.HOST/KEY.
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials; both empty means the
	// process's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. SecretAccessKey is secret.
	AccessKeyID, SecretAccessKey string
	// QuarantineBucket receives uploads until they are scanned.
	QuarantineBucket string
	// CleanBucket holds uploads that passed the scan; never equal to QuarantineBucket.
	CleanBucket string
}

// Clamd locates the ClamAV daemon that scans uploads.
type Clamd struct {
	// Address is clamd's TCP host:port.
	Address string
	// Timeout bounds one scan, from connecting to the verdict.
	Timeout time.Duration
}

// Uploads configures the upload flow.
type Uploads struct {
	// PutURLTTL is how long a presigned upload URL is valid, from 1 minute to 1 hour.
	PutURLTTL time.Duration
	// GetURLTTL is how long a presigned download URL is valid, from 10 seconds to 1 hour.
	GetURLTTL time.Duration
	// AbandonAfter is how long an upload may stay pending before its object is deleted and
	// the upload expires; at least PutURLTTL.
	AbandonAfter time.Duration
	// WebhookSecret authenticates the storage's bucket notifications to /webhooks/storage,
	// a second trigger of the scan beside CompleteUpload; empty leaves the webhook off.
	WebhookSecret []byte
}

// Payments configures charges through Stripe (or stripe-mock), its webhooks and the ledger.
type Payments struct {
	// StripeAPIURL is the base URL of the Stripe API: https://api.stripe.com, or stripe-mock.
	StripeAPIURL string
	// StripeSecretKey authenticates to the Stripe API (sk_... or a restricted rk_... key). Secret.
	StripeSecretKey string
	// WebhookSecrets are the endpoint signing secrets (whsec_...) a Stripe-Signature may be
	// made with; several during a rotation. Empty turns POST /webhooks/stripe off. Secret.
	WebhookSecrets []string
	// WebhookTolerance is how old a signed webhook's timestamp may be.
	WebhookTolerance time.Duration
	// PlatformFeeBPS is the platform's fee on each charge, in basis points (1/100 of a percent).
	PlatformFeeBPS int
	// ReconcileEvery is how often Reconcile runs; ReconcileWindow how far back it looks.
	ReconcileEvery, ReconcileWindow time.Duration
	// TestMode turns on BookingService.PayBookingWithTestCard (development and tests only):
	// never with a live key, never in production, and only with WebhookSecrets set.
	TestMode bool
}

// Error reports every problem found by Load.
type Error struct {
	// Problems are sorted by Key, then Reason.
	Problems []Problem
}

// Problem is one rejected setting. Reason quotes the offending value unless
// the key is secret.
type Problem struct {
	// Key is the environment variable name, such as TUTORHUB_HTTP_ADDR.
	Key string
	// Reason says what is wrong, in a single line.
	Reason string
}

// Error returns one "KEY: reason" line per problem.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Key + ": " + p.Reason
	}
	return strings.Join(lines, "\n")
}

// Warnings returns advice about settings that are valid but risky, such as
// running with the development cursor key. It never includes secret values.
func (c *Config) Warnings() []string {
	return slices.Clone(c.warnings)
}
