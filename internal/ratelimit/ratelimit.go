// Package ratelimit enforces per-client request rates with the GCRA algorithm in Redis
// (go-redis/redis_rate), so every API replica shares one budget per client.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Rate is a budget: Limit events per Period, with bursts up to Burst.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// Decision is the outcome of one Allow.
type Decision struct {
	Allowed bool
	// RetryAfter is how long the client must wait before the next event is allowed; zero
	// when allowed.
	RetryAfter time.Duration
	// Degraded is true when Redis could not be asked and the fail-open policy let the event
	// through.
	Degraded bool
}

// Limiter checks budgets in Redis. It is safe for concurrent use.
type Limiter struct {
	rl       *redis_rate.Limiter
	prefix   string
	failOpen bool
	log      *slog.Logger
	degraded atomic.Int64
}

// New returns a Limiter storing its state under keyPrefix in rdb. With failOpen, an
// unreachable Redis lets requests through (logged and counted) rather than failing them:
// availability over strictness, because credential endpoints keep their own lockout in
// PostgreSQL.
func New(rdb redis.UniversalClient, keyPrefix string, failOpen bool, log *slog.Logger) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: keyPrefix + "rl:", failOpen: failOpen, log: log}
}

// Allow spends one event of rate for key (e.g. "anon:203.0.113.7"). An error is returned
// only when Redis is unreachable and the policy is fail-closed.
func (l *Limiter) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	return l.AllowN(ctx, key, rate, 1)
}

// AllowN spends n events at once.
func (l *Limiter) AllowN(ctx context.Context, key string, rate Rate, n int) (Decision, error) {
	burst := rate.Burst
	if burst <= 0 {
		burst = rate.Limit
	}
	res, err := l.rl.AllowN(ctx, l.prefix+key, redis_rate.Limit{Rate: rate.Limit, Period: rate.Period, Burst: burst}, n)
	if err != nil {
		l.degraded.Add(1)
		if l.failOpen {
			l.log.WarnContext(ctx, "rate limiter unavailable; allowing request (fail-open)", "error", err.Error())
			return Decision{Allowed: true, Degraded: true}, nil
		}
		return Decision{}, fmt.Errorf("rate limiter: %w", err)
	}
	if res.Allowed >= n {
		return Decision{Allowed: true}, nil
	}
	retry := res.RetryAfter
	if retry < time.Second {
		retry = time.Second
	}
	return Decision{RetryAfter: retry}, nil
}

// DegradedCount is how many checks could not reach Redis since start (exported as a metric).
func (l *Limiter) DegradedCount() int64 { return l.degraded.Load() }

// Reset clears key's budget (used when an account is unlocked, and by tests).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	return l.rl.Reset(ctx, l.prefix+key)
}
