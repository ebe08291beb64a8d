package breaker

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// RedisHook puts b in front of every command and pipeline a go-redis client sends, so every
// user of the client (cache, rate limiter, revocations, health) shares one breaker: while
// it is open a command fails at once with an *OpenError and never waits for a connection.
// Only transport failures and timeouts count as failures; redis.Nil and error replies of
// the server (a wrong type, a script error) are answers.
func RedisHook(b *Breaker) redis.Hook { return redisHook{b} }

type redisHook struct{ b *Breaker }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.b.Allow(); err != nil {
			cmd.SetErr(err)
			return err
		}
		err := next(ctx, cmd)
		h.b.Done(RedisFailure(ctx, err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.b.Allow(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		err := next(ctx, cmds)
		h.b.Done(RedisFailure(ctx, err))
		return err
	}
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
