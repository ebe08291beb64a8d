// Package cache is tutorhub's cache-aside layer over Redis for hot reads (tutor profiles,
// public user profiles).
//
// Guarantees:
//   - A read that starts after an Invalidate has returned never sees the value from before
//     it: every key has a generation in Redis, Invalidate bumps it, and a value loaded under
//     an older generation is never stored. Callers invalidate after their transaction commits.
//   - Concurrent misses for one key and generation in one process load once (singleflight).
//   - Values live for TTL plus a random jitter (so keys written together do not expire
//     together); misses the loader reports as ErrNotFound are cached for NegativeTTL.
//   - Redis being slow or down is never the caller's error: reads go straight to the loader,
//     a warning is logged and Stats().RedisErrors counts it. Invalidate failures are logged
//     and counted too; a value stored before such a failure lives at most TTL+jitter.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"
)

// ErrNotFound is what a loader returns for a key with no value; the cache remembers the
// miss for NegativeTTL and returns ErrNotFound (wrapped or not, test with errors.Is).
var ErrNotFound = errors.New("cache: not found")

// Options tune a Cache. Zero values take the defaults shown.
type Options struct {
	// Prefix starts every key the cache writes, e.g. "tutorhub:cache:".
	Prefix string
	// TTL is how long a value lives (default 5m).
	TTL time.Duration
	// Jitter is the largest random extra lifetime added to TTL (default TTL/10).
	Jitter time.Duration
	// NegativeTTL is how long a miss is remembered (default 30s).
	NegativeTTL time.Duration
	// Timeout bounds each Redis round trip (default 150ms).
	Timeout time.Duration
	// Logger receives the degraded-mode warnings (default slog.Default()).
	Logger *slog.Logger
}

// Stats are the cache's counters since it was created.
type Stats struct {
	Hits, Misses, NegativeHits, Loads, RedisErrors int64
}

// Cache is a cache-aside store in Redis. It is safe for concurrent use.
type Cache struct {
	rdb    redis.UniversalClient
	opts   Options
	flight singleflight.Group

	hits, misses, negativeHits, loads, redisErrors atomic.Int64
}

// New returns a Cache over rdb.
func New(rdb redis.UniversalClient, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.Jitter <= 0 {
		opts.Jitter = opts.TTL / 10
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 150 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Cache{rdb: rdb, opts: opts}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), NegativeHits: c.negativeHits.Load(),
		Loads: c.loads.Load(), RedisErrors: c.redisErrors.Load(),
	}
}

// Stored values start with a marker byte: a value, or a remembered miss.
const (
	markValue    = 'v'
	markNotFound = 'n'
)

// genLifetime keeps a key's generation well beyond any value stored under it, so a stale
// load can never find the generation it started with after that generation was bumped.
const genExtra = 10 * time.Minute

func (c *Cache) valueKey(key string) string { return c.opts.Prefix + "v:" + key }
func (c *Cache) genKey(key string) string   { return c.opts.Prefix + "g:" + key }

// storeIfCurrent writes the value only while the key's generation is still the one the
// load started under.
var storeIfCurrent = redis.NewScript(`
local gen = redis.call('GET', KEYS[2])
if (gen or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// Get returns key's value: from Redis, or else from load, which is then stored. load runs
// at most once per key and generation at a time in this process; its context carries ctx's
// values but not its cancellation, so one impatient caller does not fail the others.
func (c *Cache) Get(ctx context.Context, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	vals, err := c.rdb.MGet(rctx, c.valueKey(key), c.genKey(key)).Result()
	cancel()
	if err != nil {
		c.degraded(ctx, "read", key, err)
		return c.loadShared(ctx, key+"\x00nocache", load, nil)
	}
	if s, ok := vals[0].(string); ok && len(s) > 0 {
		switch s[0] {
		case markValue:
			c.hits.Add(1)
			return []byte(s[1:]), nil
		case markNotFound:
			c.negativeHits.Add(1)
			return nil, ErrNotFound
		}
	}
	c.misses.Add(1)
	gen, _ := vals[1].(string)
	return c.loadShared(ctx, key+"\x00"+gen, load, func(v []byte, err error) {
		c.store(ctx, key, gen, v, err)
	})
}

// loadShared runs load once for all concurrent callers with the same flight key.
func (c *Cache) loadShared(ctx context.Context, flight string, load func(context.Context) ([]byte, error), store func([]byte, error)) ([]byte, error) {
	ch := c.flight.DoChan(flight, func() (any, error) {
		c.loads.Add(1)
		v, err := load(context.WithoutCancel(ctx))
		if store != nil && (err == nil || errors.Is(err, ErrNotFound)) {
			store(v, err)
		}
		return v, err
	})
	select {
	case r := <-ch:
		v, _ := r.Val.([]byte)
		return v, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) store(ctx context.Context, key, gen string, v []byte, loadErr error) {
	ttl := c.opts.NegativeTTL
	payload := []byte{markNotFound}
	if loadErr == nil {
		ttl = c.opts.TTL + rand.N(c.opts.Jitter+1)
		payload = append(make([]byte, 0, len(v)+1), markValue)
		payload = append(payload, v...)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Timeout)
	defer cancel()
	err := storeIfCurrent.Run(rctx, c.rdb, []string{c.valueKey(key), c.genKey(key)},
		gen, payload, strconv.FormatInt(ttl.Milliseconds(), 10)).Err()
	if err != nil {
		c.degraded(ctx, "store", key, err)
	}
}

// Invalidate drops the keys' values and makes any load already under way for them unable
// to store what it read. Call it after the transaction that changed the data commits.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) {
	if len(keys) == 0 {
		return
	}
	for _, k := range keys {
		c.flight.Forget(k + "\x00nocache")
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Timeout)
	defer cancel()
	_, err := c.rdb.TxPipelined(rctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Incr(rctx, c.genKey(k))
			p.PExpire(rctx, c.genKey(k), c.opts.TTL+c.opts.Jitter+genExtra)
			p.Del(rctx, c.valueKey(k))
		}
		return nil
	})
	if err != nil {
		c.degraded(ctx, "invalidate", keys[0], err)
	}
}

func (c *Cache) degraded(ctx context.Context, op, key string, err error) {
	c.redisErrors.Add(1)
	c.opts.Logger.WarnContext(ctx, "cache unavailable; serving from the database", "op", op, "key", key, "error", err.Error())
}

// GetJSON is Get for a value stored as JSON.
func GetJSON[T any](ctx context.Context, c *Cache, key string, load func(context.Context) (T, error)) (T, error) {
	var out T
	b, err := c.Get(ctx, key, func(ctx context.Context) ([]byte, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	})
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("cache: decode %s: %w", key, err)
	}
	return out, nil
}

// GetProto is Get for a protobuf message stored in its binary form. The message returned is
// the caller's own.
func GetProto[M proto.Message](ctx context.Context, c *Cache, key string, newM func() M, load func(context.Context) (M, error)) (M, error) {
	b, err := c.Get(ctx, key, func(ctx context.Context) ([]byte, error) {
		m, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return proto.Marshal(m)
	})
	if err != nil {
		var zero M
		return zero, err
	}
	m := newM()
	if err := proto.Unmarshal(b, m); err != nil {
		var zero M
		return zero, fmt.Errorf("cache: decode %s: %w", key, err)
	}
	return m, nil
}
