// Package accounts is the accounts bounded context, free of any transport: users and their
// roles and profiles, the sign-in lockout policy, and the audit log. Its write methods own
// their transaction (the row, the audit event and any outbox event commit together) and drop
// cached copies after the commit. Kratos owns credentials; this package keeps what tutorhub
// itself knows about a user.
package accounts

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/queries"
)

// DBTX runs queries: a pool, a connection or a transaction.
type DBTX = queries.DBTX

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Roles a user can hold. Every user holds RoleStudent; RoleTutor comes with a live tutor
// profile; RoleAdmin is granted by an operator.
const (
	RoleStudent = "student"
	RoleTutor   = "tutor"
	RoleAdmin   = "admin"
)

// Roles lists every role, for validation of grants.
var Roles = []string{RoleStudent, RoleTutor, RoleAdmin}

// Options are a Service's policies and optional dependencies.
type Options struct {
	// Lockout is the brute-force policy of password sign-in.
	Lockout LockoutPolicy
	// Cache holds public profiles; nil reads the database every time.
	Cache *cache.Cache
	// Now is the clock of the lockout policy; nil is time.Now.
	Now func() time.Time
	// DisplayNameChanged runs in the transaction of UpdateProfile when a user's display name
	// changes, for the contexts that show it (tutors.RecordOwnerChanged records the tutor's
	// outbox event); it returns the cache keys to drop after the commit. Nil does nothing.
	DisplayNameChanged func(ctx context.Context, tx DBTX, userID uuid.UUID) (cacheKeys []string, err error)
}

// Service is the accounts context over one database.
type Service struct {
	db                 DB
	q                  *queries.Queries
	cache              *cache.Cache
	lockout            LockoutPolicy
	now                func() time.Time
	displayNameChanged func(ctx context.Context, tx DBTX, userID uuid.UUID) ([]string, error)
}

// New returns the accounts service over db.
func New(db DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{db: db, q: queries.New(db), cache: o.Cache, lockout: o.Lockout, now: o.Now, displayNameChanged: o.DisplayNameChanged}
}
