package main

import (
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/telemetry"
)

// Names of the dependencies' circuit breakers (the metric's dependency attribute).
const (
	breakerRedis  = "redis"
	breakerKratos = "kratos"
)

// newBreakers is the process's circuit breakers, one per dependency, with their states
// exported as metrics when tel is set.
func newBreakers(cfg *config.Config, log *slog.Logger, tel *telemetry.Telemetry) (*breaker.Group, error) {
	g := breaker.NewGroup(breaker.Options{
		Failures:   cfg.Resilience.BreakerFailures,
		OpenFor:    cfg.Resilience.BreakerOpenFor,
		MaxOpenFor: cfg.Resilience.BreakerMaxOpenFor,
	}, log)
	if tel != nil {
		if err := g.Register(tel.Meter.Meter("github.com/tutorhub/tutorhub")); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// openRedis is the Redis client of every subcommand. Its timeouts are short so a Redis that
// hangs costs a command at most TUTORHUB_REDIS_TIMEOUT (less when the request has less
// left: the context's deadline applies too), and with b set every command goes through the
// breaker, so once Redis is known to be down no request waits on it at all: callers degrade
// at once (caches read PostgreSQL, rate limits apply their fail policy).
func openRedis(cfg config.Redis, b *breaker.Breaker) (*redis.Client, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.DialTimeout = cfg.DialTimeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	// A retry would double the wait on a Redis that is down; the breaker decides instead.
	opts.MaxRetries = -1
	// A caller waits for a free connection no longer than for a reply.
	opts.PoolTimeout = cfg.Timeout
	rdb := redis.NewClient(opts)
	if b != nil {
		rdb.AddHook(breaker.RedisHook(b))
	}
	return rdb, nil
}
