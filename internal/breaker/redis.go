package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTimeouts are the waits a Redis client allows.
type RedisTimeouts struct {
	// Dial bounds a new connection; Command bounds each reply, each write and the wait for
	// a free connection of the pool.
	Dial, Command time.Duration
}

// NewRedis is a Redis client that never makes a caller wait long on a Redis that is down
// or hangs: short timeouts that the caller's own deadline shortens further, no retries
// (a retry doubles the wait on a Redis that is down; the breaker decides instead), and,
// with b set, every command goes through the breaker, so once Redis is known to be down
// no command waits on it at all and callers take their degraded path at once.
func NewRedis(opts *redis.Options, t RedisTimeouts, b *Breaker) *redis.Client {
	opts.DialTimeout = t.Dial
	opts.ReadTimeout = t.Command
	opts.WriteTimeout = t.Command
	opts.PoolTimeout = t.Command
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	// go-redis dials five times by default before a command fails: that, not the command,
	// was most of what a stopped Redis cost a request.
	opts.DialerRetries = 1
	rdb := redis.NewClient(opts)
	if b != nil {
		rdb.AddHook(RedisHook(b))
	}
	return rdb
}

// RedisHook puts b in front of every command and pipeline a go-redis client sends, so every
// user of the client (cache, rate limiter, revocations, health) shares one breaker: while
// it is open a command fails at once with an *OpenError and never waits for a connection.
// Only transport failures and timeouts count as failures; redis.Nil and error replies of
// the server (a wrong type, a script error) are answers.
func RedisHook(b *Breaker) redis.Hook { return redisHook{b} }

type redisHook struct{ b *Breaker }

// guardedKey marks the context of a command the breaker let through. The commands go-redis
// sends inside it (HELLO, AUTH and SELECT on a new connection) pass the same hooks: they
// are part of that call, and must not be refused as a second call while it is the only
// probe of a half-open breaker.
type guardedKey struct{}

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(guardedKey{}) != nil {
			return next(ctx, cmd)
		}
		if err := h.b.Allow(); err != nil {
			cmd.SetErr(err)
			return err
		}
		err := next(context.WithValue(ctx, guardedKey{}, true), cmd)
		h.done(ctx, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(guardedKey{}) != nil {
			return next(ctx, cmds)
		}
		if err := h.b.Allow(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		err := next(context.WithValue(ctx, guardedKey{}, true), cmds)
		h.done(ctx, err)
		return err
	}
}

// done reports a command's outcome. A refusal by the breaker itself (a command nested in
// this one, such as a script's load) says nothing about Redis.
func (h redisHook) done(ctx context.Context, err error) {
	if errors.Is(err, ErrOpen) {
		h.b.Ignore()
		return
	}
	h.b.Done(RedisFailure(ctx, err))
}

// RedisFailure reports whether err, from a command sent under ctx, says Redis is unwell:
// a network error or a timeout, but not an answer, and not the caller giving up on its own.
func RedisFailure(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		// Redis answered; LOADING and the like say it cannot serve yet.
		return isBusyReply(err)
	}
	// Anything else (a refused or reset connection, EOF, a timeout, an exhausted pool)
	// is the transport failing.
	return true
}

func isBusyReply(err error) bool {
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
