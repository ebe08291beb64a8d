package accesstoken_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const user, other = "b78ea6c6-0000-4000-8000-000000000001", "b78ea6c6-0000-4000-8000-000000000009"
	now := time.Unix(1_800_000_000, 500_000_000) // half past a second
	token := func(sub, sid string, issued time.Time) *accesstoken.Claims {
		return &accesstoken.Claims{Subject: sub, SessionID: sid, IssuedAt: issued.Truncate(time.Second)}
	}
	type check struct {
		claims *accesstoken.Claims
		want   bool
	}
	for _, tc := range []struct {
		name   string
		revoke func(*accesstoken.Revocations) error
		checks []check
	}{
		{
			name:   "nothing revoked admits every token",
			revoke: func(*accesstoken.Revocations) error { return nil },
			checks: []check{{token(user, "s1", now), false}, {token(user, "", now), false}},
		},
		{
			name:   "a revoked session refuses its tokens only",
			revoke: func(r *accesstoken.Revocations) error { return r.RevokeSession(ctx, "s1") },
			checks: []check{
				{token(user, "s1", now.Add(-time.Minute)), true},
				{token(user, "s1", now.Add(time.Minute)), true},
				{token(user, "s2", now), false},
				{token(other, "s3", now), false},
			},
		},
		{
			name:   "a revoked user refuses tokens issued up to the revocation's second",
			revoke: func(r *accesstoken.Revocations) error { return r.RevokeUser(ctx, user, "") },
			checks: []check{
				{token(user, "s1", now.Add(-time.Minute)), true},
				{token(user, "s2", now.Add(-400*time.Millisecond)), true},
				{token(user, "s2", now.Add(400*time.Millisecond)), true},
				{token(user, "s4", now.Add(time.Second)), false},
				{token(other, "s3", now.Add(-time.Minute)), false},
			},
		},
		{
			name:   "a revoked user keeps the session that lives on",
			revoke: func(r *accesstoken.Revocations) error { return r.RevokeUser(ctx, user, "s1") },
			checks: []check{
				{token(user, "s1", now.Add(-time.Minute)), false},
				{token(user, "s2", now.Add(-time.Minute)), true},
			},
		},
		{
			name: "a later user revocation replaces the earlier one",
			revoke: func(r *accesstoken.Revocations) error {
				if err := r.RevokeUser(ctx, user, "s1"); err != nil {
					return err
				}
				return r.RevokeUser(ctx, user, "")
			},
			checks: []check{{token(user, "s1", now.Add(-time.Minute)), true}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			r := accesstoken.NewRevocations(rdb, prefix, time.Minute, func() time.Time { return now })
			if err := tc.revoke(r); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				got, err := r.Revoked(ctx, c.claims)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("Revoked(sub %s…, sid %q, iat %v) = %v, want %v", c.claims.Subject[:8], c.claims.SessionID, c.claims.IssuedAt.Unix()-now.Unix(), got, c.want)
				}
			}
		})
	}
}

func TestRevocationsExpireAfterKeep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	r := accesstoken.NewRevocations(rdb, prefix, 90*time.Second, nil)
	if err := r.RevokeSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeUser(ctx, "u1", ""); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{prefix + "revoked:sid:s1", prefix + "revoked:user:u1"} {
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 80*time.Second || ttl > 90*time.Second {
			t.Errorf("TTL of %s = %v, want about 90s", key, ttl)
		}
	}
}

func TestRevocationsReportRedisDown(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	r := accesstoken.NewRevocations(dead, "x:", time.Minute, nil)
	ctx := context.Background()
	if _, err := r.Revoked(ctx, &accesstoken.Claims{Subject: "u", SessionID: "s"}); err == nil {
		t.Error("Revoked with Redis down: no error")
	}
	if err := r.RevokeSession(ctx, "s"); err == nil {
		t.Error("RevokeSession with Redis down: no error")
	}
	if err := r.RevokeUser(ctx, "u", ""); err == nil {
		t.Error("RevokeUser with Redis down: no error")
	}
}
