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
	breakerRedis    = "redis"
	breakerKratos   = "kratos"
	breakerS3       = "s3"
	breakerSMTP     = "smtp"
	breakerTemporal = "temporal"
	breakerSearch   = "search"
)

// guardOf is the breaker of dependency name in g, or nil (no breaker) when g is nil.
func guardOf(g *breaker.Group, name string) *breaker.Breaker {
	if g == nil {
		return nil
	}
	return g.Breaker(name)
}

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

// openRedis is the Redis client of every subcommand (see breaker.NewRedis); b, when set,
// is Redis's circuit breaker.
func openRedis(cfg config.Redis, b *breaker.Breaker) (*redis.Client, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return breaker.NewRedis(opts, breaker.RedisTimeouts{Dial: cfg.DialTimeout, Command: cfg.Timeout}, b), nil
}
