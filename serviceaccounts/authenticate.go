package serviceaccounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/queries"
)

// Principal is a service account authenticated by one of its keys.
type Principal struct {
	KeyID       uuid.UUID
	KeyPrefix   string
	AccountID   uuid.UUID
	AccountName string
	Scopes      []Scope
	// RequestsPerMinute is the key's rate-limit budget, set per account.
	RequestsPerMinute int
}

// Has reports whether the principal's key holds scope s.
func (p *Principal) Has(s Scope) bool { return HasScope(p.Scopes, s) }

// dummyHash stands in for the stored hash of an unknown prefix, so that a key with an
// unknown prefix is compared as long as one with a known prefix and a wrong secret.
var dummyHash = Hash(KeyPrefix + "unknown-prefix-dummy")

// errKey is the Unauthenticated answer for a key; message says why, and never reveals
// more than its holder knows: whether a key with that prefix exists is only told to whoever
// sent its whole secret.
func errKey(message string) error {
	return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "service account key: %s", message)
}

// Authenticate verifies a service-account key sent by a client at address ip and returns
// its principal, or an EUNAUTHENTICATED error: malformed, unknown (or wrong secret),
// revoked, expired, or of a disabled account. A database failure is returned as is.
func (s *Service) Authenticate(ctx context.Context, key, ip string) (*Principal, error) {
	prefix, ok := ParseKey(key)
	if !ok {
		return nil, errKey("malformed")
	}
	row, err := s.lookup(ctx, prefix)
	if err != nil {
		return nil, err
	}
	stored := dummyHash
	if row != nil {
		stored = row.SecretHash
	}
	// Always one full-length comparison of two SHA-256 sums, whatever the prefix.
	match := s.compare(Hash(key), stored)
	if row == nil || !match {
		return nil, errKey("unknown key")
	}
	now := s.now()
	switch {
	case row.RevokedAt.Valid:
		s.auditThrottled(ctx, "revoked|"+row.ID.String(), accounts.AuditEvent{
			Action: AuditRevokedKeyUsed, Actor: row.AccountID.String(), Subject: row.AccountID.String(),
			Details: map[string]string{"account": row.AccountName, "key_prefix": prefix},
		})
		return nil, errKey("revoked")
	case row.ExpiresAt.Valid && !now.Before(row.ExpiresAt.Time):
		return nil, errKey("expired")
	case row.DisabledAt.Valid:
		return nil, errKey("the service account is disabled")
	}
	s.noteUse(row.ID, ip, now)
	return &Principal{
		KeyID: row.ID, KeyPrefix: prefix, AccountID: row.AccountID, AccountName: row.AccountName,
		Scopes: scopesOf(row.Scopes), RequestsPerMinute: int(row.RequestsPerMinute),
	}, nil
}

// RecordScopeRefusal audits a call the principal's scopes did not allow (at most once a
// minute per key and procedure on this replica, so a misconfigured client cannot flood the
// log).
func (s *Service) RecordScopeRefusal(ctx context.Context, p *Principal, procedure string, needed Scope) {
	needs := string(needed)
	if needs == "" {
		needs = "(service accounts refused)"
	}
	s.auditThrottled(ctx, "scope|"+p.KeyID.String()+"|"+procedure, accounts.AuditEvent{
		Action: AuditScopeRefused, Actor: p.AccountID.String(), Subject: p.AccountID.String(),
		Details: map[string]string{"account": p.AccountName, "key_prefix": p.KeyPrefix, "procedure": procedure, "needs": needs},
	})
}

// lookup returns the key row of prefix (nil when there is none), from the cache while it is
// younger than the TTL.
func (s *Service) lookup(ctx context.Context, prefix string) (*queries.GetServiceAccountKeyByPrefixRow, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[prefix]
	s.mu.Unlock()
	if ok && now.Sub(c.fetched) < s.ttl && !c.fetched.After(now) {
		return c.row, nil
	}
	row, err := s.q.GetServiceAccountKeyByPrefix(ctx, prefix)
	var found *queries.GetServiceAccountKeyByPrefixRow
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("look up key %s: %w", prefix, err)
	default:
		found = &row
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[prefix] = cachedKey{row: found, fetched: now}
	s.mu.Unlock()
	return found, nil
}

// Forget drops the key of prefix from this replica's cache, or every key when prefix is
// empty: what a replica does with an invalidation it receives.
func (s *Service) Forget(prefix string) {
	s.mu.Lock()
	if prefix == "" {
		clear(s.cache)
	} else {
		delete(s.cache, prefix)
	}
	s.mu.Unlock()
}

// invalidate forgets prefix ("" for every key) here at once, and tells the other replicas.
// A failed publish is logged: the cache TTL still bounds the change's delay there.
func (s *Service) invalidate(ctx context.Context, prefix string) {
	s.Forget(prefix)
	if s.inv == nil {
		return
	}
	if err := s.inv.Publish(context.WithoutCancel(ctx), prefix); err != nil {
		s.log.WarnContext(ctx, "service account cache invalidation not sent", "error", err.Error())
	}
}

// auditThrottled records e unless an event of the same throttle key was recorded in the
// last minute by this replica. Failures are logged: the request's answer does not change.
func (s *Service) auditThrottled(ctx context.Context, throttle string, e accounts.AuditEvent) {
	now := s.now()
	s.mu.Lock()
	last, seen := s.audited[throttle]
	if seen && now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	if len(s.audited) >= maxCached {
		clear(s.audited)
	}
	s.audited[throttle] = now
	s.mu.Unlock()
	if err := accounts.RecordAudit(context.WithoutCancel(ctx), s.db, e); err != nil {
		s.log.WarnContext(ctx, "service account audit failed", "action", e.Action, "error", err.Error())
	}
}

// noteUse remembers a key's use for the next batch write, and starts that write in the
// background once FlushEvery has passed since the last.
func (s *Service) noteUse(id uuid.UUID, ip string, at time.Time) {
	s.mu.Lock()
	if len(s.uses) < maxCached {
		s.uses[id] = use{at: at, ip: ip}
	}
	due := at.Sub(s.lastFlush) >= s.flushEvery
	if due {
		s.lastFlush = at
	}
	s.mu.Unlock()
	if due && s.flushing.CompareAndSwap(false, true) {
		go func() {
			defer s.flushing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.FlushUses(ctx); err != nil {
				s.log.Warn("recording service account key use failed", "error", err.Error())
			}
		}()
	}
}

// FlushUses writes the last uses noted since the previous write, in one statement. Call it
// on shutdown; requests call it in the background every FlushEvery.
func (s *Service) FlushUses(ctx context.Context) error {
	s.mu.Lock()
	batch := s.uses
	s.uses = map[uuid.UUID]use{}
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	p := queries.RecordServiceAccountKeyUseParams{}
	for id, u := range batch {
		p.Ids = append(p.Ids, id.String())
		p.UsedAt = append(p.UsedAt, u.at)
		p.Ips = append(p.Ips, accounts.Truncate(u.ip, 64))
	}
	if err := s.q.RecordServiceAccountKeyUse(ctx, p); err != nil {
		return fmt.Errorf("record %d key uses: %w", len(batch), err)
	}
	return nil
}
