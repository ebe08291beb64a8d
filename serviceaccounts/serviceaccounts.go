// Package serviceaccounts is the service-accounts bounded context, free of any transport:
// accounts that backend services act as, owned by an admin; their API keys (scopes, expiry,
// revocation, last use); and the in-process verification of a key on every request.
//
// Guarantees of Authenticate:
//   - a malformed key (length, alphabet, checksum) is refused without a database lookup;
//   - a well-formed key is compared by SHA-256 in constant time against the stored hash of
//     its prefix's key, or against a dummy hash when the prefix is unknown, so the time to
//     refuse a key does not depend on how much of it matched;
//   - a key's row is cached in process for at most Options.CacheTTL (a few seconds): a
//     revocation, expiry or disabled account takes effect on every replica within that
//     time, and at once on the replica that made the change;
//   - last use (time, address) is written in batches at most every Options.FlushEvery per
//     replica, never once per request.
package serviceaccounts

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/queries"
)

// Audit actions of service accounts.
const (
	AuditAccountCreated  = "service_account.created"
	AuditAccountDisabled = "service_account.disabled"
	AuditKeyCreated      = "service_account.key_created"
	AuditKeyRevoked      = "service_account.key_revoked"
	// AuditRevokedKeyUsed is a request with a revoked key (the right secret, so its holder
	// had the key); recorded at most once a minute per key and replica.
	AuditRevokedKeyUsed = "service_account.revoked_key_used"
	// AuditScopeRefused is a call outside the key's scopes; recorded at most once a minute
	// per key, procedure and replica.
	AuditScopeRefused = "service_account.scope_refused"
)

// Limits of the inputs.
const (
	MaxNameChars        = 100
	MaxDescriptionChars = 500
	// DefaultRequestsPerMinute is the budget of each key of an account created without one.
	DefaultRequestsPerMinute = 600
	MaxRequestsPerMinute     = 1000000
	// MaxKeyLifetime bounds an expiry, so a key with an expiry cannot be made to outlive
	// everyone who knew about it.
	MaxKeyLifetime = 5 * 365 * 24 * time.Hour
)

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options are a Service's policies.
type Options struct {
	// CacheTTL is how long a key's row is trusted in process; zero means 5 s. It bounds the
	// time a revocation takes to reach other replicas.
	CacheTTL time.Duration
	// FlushEvery is the least time between two writes of last-use times; zero means 10 s.
	FlushEvery time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger reports failed background writes; nil discards them.
	Logger *slog.Logger
	// Invalidations, when set, tells the other replicas to drop a changed key (a revoked
	// key, or every key of a disabled account) from their caches at once; each replica
	// passes what it receives to Forget. Delivery is best effort: CacheTTL still bounds the
	// time a change takes to reach every replica.
	Invalidations Publisher
}

// Publisher sends an invalidation to every replica: a key's prefix, or "" for every key.
type Publisher interface {
	Publish(ctx context.Context, msg string) error
}

// Service is the service-accounts context over one database. It is safe for concurrent use.
type Service struct {
	db         DB
	q          *queries.Queries
	now        func() time.Time
	ttl        time.Duration
	flushEvery time.Duration
	log        *slog.Logger
	inv        Publisher
	// compare is the constant-time comparison of two hashes; tests observe it.
	compare func(a, b []byte) bool

	mu        sync.Mutex
	cache     map[string]cachedKey // by prefix
	uses      map[uuid.UUID]use
	lastFlush time.Time
	audited   map[string]time.Time // throttle of audit events by kind|key|procedure
	flushing  atomic.Bool
}

// maxCached bounds the in-process caches; when full they are emptied, which costs lookups,
// never correctness.
const maxCached = 10000

type cachedKey struct {
	row     *queries.GetServiceAccountKeyByPrefixRow // nil: no such prefix
	fetched time.Time
}

type use struct {
	at time.Time
	ip string
}

// New returns the service over db.
func New(db DB, o Options) *Service {
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		db: db, q: queries.New(db), now: o.Now, ttl: o.CacheTTL, flushEvery: o.FlushEvery, log: o.Logger, lastFlush: o.Now(), inv: o.Invalidations,
		compare: func(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 },
		cache:   map[string]cachedKey{}, uses: map[uuid.UUID]use{}, audited: map[string]time.Time{},
	}
}

// Account is a service account.
type Account struct {
	ID          uuid.UUID
	Name        string
	Description string
	// OwnerID is the admin who created it.
	OwnerID uuid.UUID
	// RequestsPerMinute is the rate-limit budget of each of its keys.
	RequestsPerMinute int
	// DisabledAt is zero while the account is enabled; a disabled account's keys all fail.
	DisabledAt time.Time
	CreatedAt  time.Time
}

// Key is an API key of a service account, without its secret.
type Key struct {
	ID          uuid.UUID
	AccountID   uuid.UUID
	Prefix      string
	Scopes      []Scope
	Description string
	CreatedBy   uuid.UUID
	CreatedAt   time.Time
	// ExpiresAt, RevokedAt and LastUsedAt are zero when unset.
	ExpiresAt, RevokedAt, LastUsedAt time.Time
	LastUsedIP                       string
}

// Position is the keyset of an account or a key in newest-first order.
type Position struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// NewAccount is what CreateAccount takes.
type NewAccount struct {
	Name        string
	Description string
	// RequestsPerMinute of each key; 0 means DefaultRequestsPerMinute.
	RequestsPerMinute int
}

// CreateAccount creates a service account owned by actor (an admin), audited.
func (s *Service) CreateAccount(ctx context.Context, actor uuid.UUID, in NewAccount) (Account, error) {
	var v tutorhub.Violations
	if in.Name == "" {
		v.Add("name", "text.required", "a service account needs a name")
	}
	tutorhub.CheckPlainText(&v, "name", in.Name, MaxNameChars, false)
	tutorhub.CheckPlainText(&v, "description", in.Description, MaxDescriptionChars, true)
	if in.RequestsPerMinute == 0 {
		in.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if in.RequestsPerMinute < 1 || in.RequestsPerMinute > MaxRequestsPerMinute {
		v.Add("requests_per_minute", "int.range", "between 1 and %d", MaxRequestsPerMinute)
	}
	if err := v.Err("invalid service account"); err != nil {
		return Account{}, err
	}
	var out Account
	err := s.inTx(ctx, func(q *queries.Queries, tx pgx.Tx) error {
		row, err := q.CreateServiceAccount(ctx, queries.CreateServiceAccountParams{
			Name: in.Name, Description: in.Description, OwnerID: actor, RequestsPerMinute: int32(in.RequestsPerMinute),
		})
		if isUniqueViolation(err) {
			return tutorhub.Errorf(tutorhub.EEXISTS, "a service account named %q exists", in.Name)
		}
		if err != nil {
			return fmt.Errorf("create service account: %w", err)
		}
		out = accountOf(row)
		return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
			Action: AuditAccountCreated, Actor: actor.String(), Subject: out.ID.String(),
			Details: map[string]string{"name": out.Name, "requests_per_minute": fmt.Sprint(out.RequestsPerMinute)},
		})
	})
	return out, err
}

// ListAccounts returns up to limit accounts newest first, after before when it is set.
func (s *Service) ListAccounts(ctx context.Context, before *Position, limit int32) ([]Account, error) {
	p := queries.ListServiceAccountsParams{PageLimit: limit}
	if before != nil {
		p.BeforeTime = pgtype.Timestamptz{Time: before.Time, Valid: true}
		p.BeforeID = uuid.NullUUID{UUID: before.ID, Valid: true}
	}
	rows, err := s.q.ListServiceAccounts(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	out := make([]Account, 0, len(rows))
	for _, r := range rows {
		out = append(out, accountOf(r))
	}
	return out, nil
}

// GetAccount returns one account, ENOTFOUND when there is none.
func (s *Service) GetAccount(ctx context.Context, id uuid.UUID) (Account, error) {
	row, err := s.q.GetServiceAccount(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, errNoAccount()
	}
	if err != nil {
		return Account{}, fmt.Errorf("get service account %s: %w", id, err)
	}
	return accountOf(row), nil
}

// DisableAccount disables an account, which refuses all its keys from then on (within
// CacheTTL on other replicas). Disabling a disabled account changes nothing and records
// nothing.
func (s *Service) DisableAccount(ctx context.Context, actor, id uuid.UUID) (Account, error) {
	var out Account
	err := s.inTx(ctx, func(q *queries.Queries, tx pgx.Tx) error {
		before, err := q.GetServiceAccount(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoAccount()
		}
		if err != nil {
			return fmt.Errorf("get service account %s: %w", id, err)
		}
		row, err := q.DisableServiceAccount(ctx, id)
		if err != nil {
			return fmt.Errorf("disable service account %s: %w", id, err)
		}
		out = accountOf(row)
		if before.DisabledAt.Valid {
			return nil
		}
		return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
			Action: AuditAccountDisabled, Actor: actor.String(), Subject: id.String(),
			Details: map[string]string{"name": out.Name},
		})
	})
	if err == nil {
		s.invalidate(ctx, "")
	}
	return out, err
}

// NewKeyInput is what CreateKey takes.
type NewKeyInput struct {
	Scopes      []string
	Description string
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time
}

// CreateKey creates a key for an enabled account and returns it with the whole key, which
// is never available again. Audited (prefix and scopes, never the key).
func (s *Service) CreateKey(ctx context.Context, actor, accountID uuid.UUID, in NewKeyInput) (Key, string, error) {
	var v tutorhub.Violations
	scopes := ParseScopes(&v, "scopes", in.Scopes)
	tutorhub.CheckPlainText(&v, "description", in.Description, MaxDescriptionChars, true)
	now := s.now()
	if !in.ExpiresAt.IsZero() {
		switch {
		case !in.ExpiresAt.After(now):
			v.Add("expire_time", "time.future", "must be in the future")
		case in.ExpiresAt.Sub(now) > MaxKeyLifetime:
			v.Add("expire_time", "time.max", "at most %d days from now", int(MaxKeyLifetime.Hours()/24))
		}
	}
	if err := v.Err("invalid key"); err != nil {
		return Key{}, "", err
	}
	secret, prefix, err := NewKey()
	if err != nil {
		return Key{}, "", fmt.Errorf("new key: %w", err)
	}
	var out Key
	err = s.inTx(ctx, func(q *queries.Queries, tx pgx.Tx) error {
		acct, err := q.GetServiceAccount(ctx, accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoAccount()
		}
		if err != nil {
			return fmt.Errorf("get service account %s: %w", accountID, err)
		}
		if acct.DisabledAt.Valid {
			return tutorhub.Errorf(tutorhub.EPRECONDITION, "the service account is disabled")
		}
		row, err := q.CreateServiceAccountKey(ctx, queries.CreateServiceAccountKeyParams{
			AccountID: accountID, Prefix: prefix, SecretHash: Hash(secret), Scopes: scopeStrings(scopes),
			Description: in.Description, CreatedBy: actor,
			ExpiresAt: pgtype.Timestamptz{Time: in.ExpiresAt, Valid: !in.ExpiresAt.IsZero()},
		})
		if err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		out = keyOf(row)
		details := map[string]string{"account": acct.Name, "key_prefix": prefix, "scopes": joinScopes(scopes)}
		if !in.ExpiresAt.IsZero() {
			details["expires_at"] = in.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
			Action: AuditKeyCreated, Actor: actor.String(), Subject: accountID.String(), Details: details,
		})
	})
	if err != nil {
		return Key{}, "", err
	}
	// A cached "no such prefix" must not outlive the key's creation.
	s.invalidate(ctx, prefix)
	return out, secret, nil
}

// ListKeys returns up to limit keys of an account newest first, after before when set.
// ENOTFOUND when the account does not exist.
func (s *Service) ListKeys(ctx context.Context, accountID uuid.UUID, before *Position, limit int32) ([]Key, error) {
	if _, err := s.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	p := queries.ListServiceAccountKeysParams{AccountID: accountID, PageLimit: limit}
	if before != nil {
		p.BeforeTime = pgtype.Timestamptz{Time: before.Time, Valid: true}
		p.BeforeID = uuid.NullUUID{UUID: before.ID, Valid: true}
	}
	rows, err := s.q.ListServiceAccountKeys(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]Key, 0, len(rows))
	for _, r := range rows {
		out = append(out, keyOf(queries.CreateServiceAccountKeyRow(r)))
	}
	return out, nil
}

// RevokeKey revokes a key of an account: it fails at once on this replica and within
// CacheTTL on the others. Revoking a revoked key changes nothing and records nothing;
// ENOTFOUND when the account has no such key.
func (s *Service) RevokeKey(ctx context.Context, actor, accountID, keyID uuid.UUID) (Key, error) {
	var out Key
	err := s.inTx(ctx, func(q *queries.Queries, tx pgx.Tx) error {
		row, err := q.RevokeServiceAccountKey(ctx, queries.RevokeServiceAccountKeyParams{ID: keyID, AccountID: accountID})
		if errors.Is(err, pgx.ErrNoRows) {
			// Unknown, or revoked before: nothing new to record.
			prev, err := q.GetServiceAccountKey(ctx, queries.GetServiceAccountKeyParams{ID: keyID, AccountID: accountID})
			if errors.Is(err, pgx.ErrNoRows) {
				return tutorhub.Errorf(tutorhub.ENOTFOUND, "no such key")
			}
			if err != nil {
				return fmt.Errorf("get key %s: %w", keyID, err)
			}
			out = keyOf(queries.CreateServiceAccountKeyRow(prev))
			return nil
		}
		if err != nil {
			return fmt.Errorf("revoke key %s: %w", keyID, err)
		}
		out = keyOf(queries.CreateServiceAccountKeyRow(row))
		return accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
			Action: AuditKeyRevoked, Actor: actor.String(), Subject: accountID.String(),
			Details: map[string]string{"key_prefix": out.Prefix},
		})
	})
	if err == nil {
		s.invalidate(ctx, out.Prefix)
	}
	return out, err
}

func errNoAccount() error { return tutorhub.Errorf(tutorhub.ENOTFOUND, "no such service account") }

// inTx runs fn in one transaction.
func (s *Service) inTx(ctx context.Context, fn func(q *queries.Queries, tx pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(queries.New(tx), tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}

func accountOf(r queries.ServiceAccount) Account {
	return Account{
		ID: r.ID, Name: r.Name, Description: r.Description, OwnerID: r.OwnerID,
		RequestsPerMinute: int(r.RequestsPerMinute), DisabledAt: timeOf(r.DisabledAt), CreatedAt: r.CreatedAt,
	}
}

func keyOf(r queries.CreateServiceAccountKeyRow) Key {
	return Key{
		ID: r.ID, AccountID: r.AccountID, Prefix: r.Prefix, Scopes: scopesOf(r.Scopes), Description: r.Description,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, ExpiresAt: timeOf(r.ExpiresAt), RevokedAt: timeOf(r.RevokedAt),
		LastUsedAt: timeOf(r.LastUsedAt), LastUsedIP: r.LastUsedIp,
	}
}

func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

func scopesOf(names []string) []Scope {
	out := make([]Scope, len(names))
	for i, n := range names {
		out[i] = Scope(n)
	}
	return out
}

func scopeStrings(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

func joinScopes(scopes []Scope) string {
	out := ""
	for i, s := range scopes {
		if i > 0 {
			out += " "
		}
		out += string(s)
	}
	return out
}

// HasScope reports whether scopes holds s.
func HasScope(scopes []Scope, s Scope) bool { return slices.Contains(scopes, s) }
