package accounts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/queries"
)

// LockoutPolicy is the brute-force protection of password sign-in: Threshold failures
// within Window lock the account for Base, each further lock twice as long up to Max.
type LockoutPolicy struct {
	Threshold int
	Window    time.Duration
	Base      time.Duration
	Max       time.Duration
	// CaptchaAfter failures in the window require a captcha; 0 never does.
	CaptchaAfter int
}

// lockState is an account's counters. Failures counts every attempt of the window whose
// outcome is a failure or not known yet: an attempt is counted before the password is
// checked, so concurrent attempts can never exceed the threshold.
type lockState struct {
	Failures    int
	WindowStart time.Time
	LockCount   int
	LockedUntil time.Time // zero when never locked
}

// SignInVerdict is the decision on one password sign-in attempt.
type SignInVerdict struct {
	Allowed         bool
	CaptchaRequired bool
	// RetryAfter is how long a refused attempt must wait.
	RetryAfter time.Duration
}

// claim decides an attempt and, when allowed, counts it.
func (p LockoutPolicy) claim(s lockState, now time.Time) (lockState, SignInVerdict) {
	if now.Before(s.LockedUntil) {
		return s, SignInVerdict{RetryAfter: s.LockedUntil.Sub(now)}
	}
	if !s.LockedUntil.IsZero() && now.Sub(s.LockedUntil) > p.Max {
		// A long quiet spell after the last lock: the next lock starts short again.
		s.LockCount = 0
	}
	if now.Sub(s.WindowStart) > p.Window {
		s.Failures, s.WindowStart = 0, now
	}
	if s.Failures >= p.Threshold {
		// The threshold's worth of attempts are in flight: refuse until they end.
		return s, SignInVerdict{RetryAfter: p.lockPeriod(s.LockCount)}
	}
	v := SignInVerdict{Allowed: true, CaptchaRequired: p.CaptchaAfter > 0 && s.Failures >= p.CaptchaAfter}
	s.Failures++
	return s, v
}

// failed records that a counted attempt failed, locking the account when the failures
// reached the threshold. locked reports whether this failure engaged a lock.
func (p LockoutPolicy) failed(s lockState, now time.Time) (next lockState, locked bool) {
	if s.Failures < p.Threshold || now.Before(s.LockedUntil) {
		return s, false
	}
	s.LockedUntil = now.Add(p.lockPeriod(s.LockCount))
	s.LockCount++
	s.Failures, s.WindowStart = 0, s.LockedUntil
	return s, true
}

// lockPeriod is the length of the lock after n earlier locks: Base doubled n times, at most Max.
func (p LockoutPolicy) lockPeriod(n int) time.Duration {
	d := p.Base
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// lockState round-trips through the account's login_attempts row, inside one transaction
// holding the row's lock, so concurrent attempts on one account (across API replicas) are
// decided one at a time.
func (s *Service) updateSignIns(ctx context.Context, email string, f func(lockState, time.Time) lockState) error {
	key := accountKey(email)
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := q.EnsureLoginAttempts(ctx, key); err != nil {
			return err
		}
		row, err := q.LockLoginAttempts(ctx, key)
		if err != nil {
			return err
		}
		st := lockState{Failures: int(row.Failures), WindowStart: row.WindowStartedAt, LockCount: int(row.LockCount)}
		if row.LockedUntil.Valid {
			st.LockedUntil = row.LockedUntil.Time
		}
		n := f(st, s.now())
		return q.SaveLoginAttempts(ctx, queries.SaveLoginAttemptsParams{
			AccountKey:      key,
			Failures:        int32(n.Failures),
			WindowStartedAt: n.WindowStart,
			LockCount:       int32(n.LockCount),
			LockedUntil:     pgtype.Timestamptz{Time: n.LockedUntil, Valid: !n.LockedUntil.IsZero()},
		})
	})
}

// accountKey identifies an account by its normalized email without storing the address.
func accountKey(email string) []byte {
	h := sha256.Sum256([]byte("tutorhub/login/" + email))
	return h[:]
}

// ClaimSignIn decides one password sign-in attempt on the account of email under the lockout
// policy and, when it is allowed, counts it until SignInFailed, ReleaseSignIn or
// ClearSignIns settles it.
func (s *Service) ClaimSignIn(ctx context.Context, email string) (SignInVerdict, error) {
	var v SignInVerdict
	err := s.updateSignIns(ctx, email, func(st lockState, now time.Time) lockState {
		st, v = s.lockout.claim(st, now)
		return st
	})
	if err != nil {
		return SignInVerdict{}, fmt.Errorf("lockout claim: %w", err)
	}
	return v, nil
}

// SignInFailed records a wrong password for a claimed attempt and reports whether it locked
// the account.
func (s *Service) SignInFailed(ctx context.Context, email string) (bool, error) {
	var locked bool
	err := s.updateSignIns(ctx, email, func(st lockState, now time.Time) lockState {
		st, locked = s.lockout.failed(st, now)
		return st
	})
	if err != nil {
		return false, fmt.Errorf("lockout failure: %w", err)
	}
	return locked, nil
}

// ReleaseSignIn uncounts a claimed attempt whose password was never checked (identity service
// down, captcha refused).
func (s *Service) ReleaseSignIn(ctx context.Context, email string) error {
	return s.updateSignIns(ctx, email, func(st lockState, _ time.Time) lockState {
		st.Failures = max(0, st.Failures-1)
		return st
	})
}

// ClearSignIns forgets an account's failures and locks: after a successful sign-in or
// recovery.
func (s *Service) ClearSignIns(ctx context.Context, email string) error {
	if err := queries.New(s.db).DeleteLoginAttempts(ctx, accountKey(email)); err != nil {
		return fmt.Errorf("lockout clear: %w", err)
	}
	return nil
}
