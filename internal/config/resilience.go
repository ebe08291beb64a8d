package config

import (
	"strconv"
	"time"
)

// Resilience bounds what a slow or failed dependency and an overload cost a request:
// circuit breakers, request deadlines and the in-flight limit (docs/resilience.md).
type Resilience struct {
	// BreakerFailures is how many consecutive failures or timeouts of one dependency open
	// its circuit breaker.
	BreakerFailures int
	// BreakerOpenFor is a breaker's first open window; it doubles after each failed probe.
	BreakerOpenFor time.Duration
	// BreakerMaxOpenFor caps the open window.
	BreakerMaxOpenFor time.Duration
	// RequestTimeout is the deadline of a request whose client sent none.
	RequestTimeout time.Duration
	// RequestTimeoutMax caps the deadline a client asks for.
	RequestTimeoutMax time.Duration
	// MaxInFlight is how many requests one instance serves at once; more are refused at
	// once (ResourceExhausted / 503 with Retry-After). 0 turns the limit off.
	MaxInFlight int
	// LatencyTarget, when not 0, makes the in-flight limit adaptive between MinInFlight and
	// MaxInFlight: it shrinks when more than 1 % of admitted requests take longer.
	LatencyTarget time.Duration
	// MinInFlight is the adaptive limit's floor and starting point.
	MinInFlight int
	// DatabaseAcquireTimeout bounds a request's wait for a pooled database connection; past
	// it the request is refused like an overload.
	DatabaseAcquireTimeout time.Duration
}

const (
	keyBreakerOpenFor    = prefix + "BREAKER_OPEN_FOR"
	keyBreakerMaxOpenFor = prefix + "BREAKER_MAX_OPEN_FOR"
	keyRequestTimeout    = prefix + "REQUEST_TIMEOUT"
	keyRequestTimeoutMax = prefix + "REQUEST_TIMEOUT_MAX"
	keyMaxInFlight       = prefix + "MAX_IN_FLIGHT"
	keyMinInFlight       = prefix + "MIN_IN_FLIGHT"
	keyLatencyTarget     = prefix + "LATENCY_TARGET"
)

// resilienceKeys are the keys of Redis's timeouts and of Resilience.
func resilienceKeys() []keyDef {
	return []keyDef{
		key(prefix+"REDIS_DIAL_TIMEOUT", "250ms", func(c *Config) *time.Duration { return &c.Redis.DialTimeout },
			durationBetween(10*time.Millisecond, 10*time.Second), formatDuration, "Longest wait for a new Redis connection (10ms to 10s); a Redis that does not answer in time counts against its circuit breaker."),
		key(prefix+"REDIS_TIMEOUT", "250ms", func(c *Config) *time.Duration { return &c.Redis.Timeout },
			durationBetween(10*time.Millisecond, 10*time.Second), formatDuration, "Longest wait for one Redis command's reply or write (10ms to 10s); a request's own deadline is shorter when it has less left."),

		key(prefix+"BREAKER_FAILURES", "5", func(c *Config) *int { return &c.Resilience.BreakerFailures },
			integer[int](1, 1000), formatInt[int], "Consecutive failures or timeouts of a dependency (Redis, Kratos, S3, SMTP, ...) that open its circuit breaker (1 to 1000)."),
		key(keyBreakerOpenFor, "1s", func(c *Config) *time.Duration { return &c.Resilience.BreakerOpenFor },
			durationBetween(10*time.Millisecond, time.Minute), formatDuration, "How long an open circuit breaker refuses calls before one probe may go through (10ms to 1m); doubles after each failed probe."),
		key(keyBreakerMaxOpenFor, "30s", func(c *Config) *time.Duration { return &c.Resilience.BreakerMaxOpenFor },
			durationBetween(10*time.Millisecond, 10*time.Minute), formatDuration, "Longest open window of a circuit breaker (10ms to 10m); at least the first window."),
		key(keyRequestTimeout, "15s", func(c *Config) *time.Duration { return &c.Resilience.RequestTimeout },
			durationBetween(100*time.Millisecond, 10*time.Minute), formatDuration, "Deadline of an RPC whose client sent none (`Connect-Timeout-Ms`, `grpc-timeout`) (100ms to 10m); streams are not bounded by it."),
		key(keyRequestTimeoutMax, "60s", func(c *Config) *time.Duration { return &c.Resilience.RequestTimeoutMax },
			durationBetween(100*time.Millisecond, 10*time.Minute), formatDuration, "Longest deadline an RPC's client may ask for (100ms to 10m); at least the default deadline."),
		key(keyMaxInFlight, "512", func(c *Config) *int { return &c.Resilience.MaxInFlight },
			integer[int](0, 1_000_000), formatInt[int], "Requests one instance serves at once; more are refused at once with `ResourceExhausted` (HTTP 503 on REST) and `Retry-After`. Health, readiness and gRPC health are never refused. 0 turns the limit off."),
		key(keyLatencyTarget, "0s", func(c *Config) *time.Duration { return &c.Resilience.LatencyTarget },
			durationZeroOrBetween(10*time.Millisecond, time.Minute), formatDuration, "When set (10ms to 1m), the in-flight limit adapts to latency: it starts at `TUTORHUB_MIN_IN_FLIGHT`, shrinks when more than 1 % of admitted requests take longer than this, and grows while they are faster and the limit holds requests back, up to `TUTORHUB_MAX_IN_FLIGHT`. Choose it above the slowest request served normally (docs/resilience.md). 0s keeps the limit fixed at `TUTORHUB_MAX_IN_FLIGHT`."),
		key(keyMinInFlight, "8", func(c *Config) *int { return &c.Resilience.MinInFlight },
			integer[int](1, 1_000_000), formatInt[int], "Floor and starting point of the adaptive in-flight limit (1 or more; at most `TUTORHUB_MAX_IN_FLIGHT` when `TUTORHUB_LATENCY_TARGET` is set)."),
		key(prefix+"DATABASE_ACQUIRE_TIMEOUT", "1s", func(c *Config) *time.Duration { return &c.Resilience.DatabaseAcquireTimeout },
			durationBetween(10*time.Millisecond, time.Minute), formatDuration, "Longest wait for a pooled database connection (10ms to 1m), or the request's deadline when sooner; past it the request is refused with `ResourceExhausted` (HTTP 429 on REST) and `Retry-After` instead of waiting on."),
	}
}

// checkResilience reports the rules between resilience keys.
func (l *loader) checkResilience(c *Config, ok func(...string) bool) {
	if ok(keyBreakerOpenFor, keyBreakerMaxOpenFor) && c.Resilience.BreakerMaxOpenFor < c.Resilience.BreakerOpenFor {
		l.problem(keyBreakerMaxOpenFor, "must be at least "+keyBreakerOpenFor+" ("+formatDuration(c.Resilience.BreakerOpenFor)+") (got "+quote(formatDuration(c.Resilience.BreakerMaxOpenFor))+")")
	}
	if ok(keyLatencyTarget, keyMinInFlight, keyMaxInFlight) && c.Resilience.LatencyTarget > 0 {
		if c.Resilience.MaxInFlight == 0 {
			l.problem(keyLatencyTarget, "needs an in-flight limit to adapt: "+keyMaxInFlight+" is 0 (got "+quote(formatDuration(c.Resilience.LatencyTarget))+")")
		} else if c.Resilience.MinInFlight > c.Resilience.MaxInFlight {
			l.problem(keyMinInFlight, "must be at most "+keyMaxInFlight+" ("+strconv.Itoa(c.Resilience.MaxInFlight)+") (got "+quote(strconv.Itoa(c.Resilience.MinInFlight))+")")
		}
	}
	if ok(keyRequestTimeout, keyRequestTimeoutMax) && c.Resilience.RequestTimeoutMax < c.Resilience.RequestTimeout {
		l.problem(keyRequestTimeoutMax, "must be at least "+keyRequestTimeout+" ("+formatDuration(c.Resilience.RequestTimeout)+") (got "+quote(formatDuration(c.Resilience.RequestTimeoutMax))+")")
	}
}
