// Package ratelimit enforces per-client request rates with the GCRA algorithm in Redis
// (go-redis/redis_rate), so every API replica shares one budget per client.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Rate is a budget: Limit events per Period, with bursts up to Burst (Limit when not
// positive). A Rate whose Limit is not positive is no budget: every event is allowed.
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
// unreachable Redis lets requests through (logged and counted) rather than failing them,
// except in AllowStrict, which always fails closed.
func New(rdb redis.UniversalClient, keyPrefix string, failOpen bool, log *slog.Logger) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: keyPrefix + "rl:", failOpen: failOpen, log: log}
}

// Allow spends one event of rate for key (e.g. "anon:203.0.113.7"). An error is returned
// only when Redis is unreachable and the policy is fail-closed.
func (l *Limiter) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	return l.allowN(ctx, key, rate, 1, l.failOpen)
}

// AllowN spends n events at once.
func (l *Limiter) AllowN(ctx context.Context, key string, rate Rate, n int) (Decision, error) {
	return l.allowN(ctx, key, rate, n, l.failOpen)
}

// AllowStrict is Allow that fails closed whatever the limiter's policy: when Redis cannot
// be asked it returns an error (and counts the check as degraded), never an allowance.
// Budgets that guard credentials use it, so an outage of Redis never lifts them.
func (l *Limiter) AllowStrict(ctx context.Context, key string, rate Rate) (Decision, error) {
	return l.allowN(ctx, key, rate, 1, false)
}

// Peek reports whether one more event of rate for key would be allowed, without spending
// it. It follows the limiter's fail-open policy like Allow.
func (l *Limiter) Peek(ctx context.Context, key string, rate Rate) (Decision, error) {
	if rate.Limit <= 0 {
		return Decision{Allowed: true}, nil
	}
	limit := redisLimit(rate)
	res, err := l.rl.AllowN(ctx, l.prefix+key, limit, 0)
	if err != nil {
		return l.unavailable(ctx, err, l.failOpen)
	}
	// With no cost, Remaining is the whole number of events the budget still holds.
	if res.Remaining >= 1 {
		return Decision{Allowed: true}, nil
	}
	// ResetAfter is when the whole burst is back; one event is back (Burst-1) intervals
	// before that.
	interval := limit.Period / time.Duration(limit.Rate)
	return Decision{RetryAfter: atLeastASecond(res.ResetAfter - time.Duration(limit.Burst-1)*interval)}, nil
}

func (l *Limiter) allowN(ctx context.Context, key string, rate Rate, n int, failOpen bool) (Decision, error) {
	if rate.Limit <= 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := l.rl.AllowN(ctx, l.prefix+key, redisLimit(rate), n)
	if err != nil {
		return l.unavailable(ctx, err, failOpen)
	}
	if res.Allowed >= n {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: atLeastASecond(res.RetryAfter)}, nil
}

// unavailable counts a check Redis could not answer and applies the fail policy.
func (l *Limiter) unavailable(ctx context.Context, err error, failOpen bool) (Decision, error) {
	l.degraded.Add(1)
	if failOpen {
		l.log.WarnContext(ctx, "rate limiter unavailable; allowing request (fail-open)", "error", err.Error())
		return Decision{Allowed: true, Degraded: true}, nil
	}
	l.log.WarnContext(ctx, "rate limiter unavailable; refusing request (fail-closed)", "error", err.Error())
	return Decision{}, fmt.Errorf("rate limiter: %w", err)
}

func redisLimit(rate Rate) redis_rate.Limit {
	burst := rate.Burst
	if burst <= 0 {
		burst = rate.Limit
	}
	return redis_rate.Limit{Rate: rate.Limit, Period: rate.Period, Burst: burst}
}

func atLeastASecond(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return d
}

// DegradedCount is how many checks could not reach Redis since start (exported as a metric).
func (l *Limiter) DegradedCount() int64 { return l.degraded.Load() }

// Reset clears key's budget (used when an account is unlocked, and by tests).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	return l.rl.Reset(ctx, l.prefix+key)
}

// DefaultIPv6Prefix is the prefix length IPv6 clients are keyed by when none is configured:
// a /64 is what one subscriber usually holds, so keying by address would give one client
// 2^64 budgets.
const DefaultIPv6Prefix = 64

// ClientKey is the budget key of a client address: an IPv4 address (or an IPv4-mapped IPv6
// one) as itself, an IPv6 address as its network of ipv6Prefix bits (32 to 128; out of
// range, DefaultIPv6Prefix), so every address of one subscriber's network shares a budget.
// An invalid address keys as "unknown".
func ClientKey(addr netip.Addr, ipv6Prefix int) string {
	if !addr.IsValid() {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	if ipv6Prefix < 32 || ipv6Prefix > 128 {
		ipv6Prefix = DefaultIPv6Prefix
	}
	p, err := addr.WithZone("").Prefix(ipv6Prefix)
	if err != nil {
		return addr.String()
	}
	return p.String()
}
