package cache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/cache/redistest"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newCache(t *testing.T, opts cache.Options) *cache.Cache {
	rdb, prefix := testenv.Redis(t)
	opts.Prefix, opts.Logger = prefix, quiet
	return cache.New(rdb, opts)
}

func constant(v string, calls *atomic.Int64) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		calls.Add(1)
		return []byte(v), nil
	}
}

func TestGetLoadsOnceThenHits(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	var calls atomic.Int64
	for range 3 {
		v, err := c.Get(context.Background(), "k", constant("value", &calls))
		if err != nil || string(v) != "value" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("loaded %d times, want 1", calls.Load())
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("v"), nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if v, err := c.Get(context.Background(), "hot", load); err != nil || string(v) != "v" {
				t.Errorf("Get = %q, %v", v, err)
			}
		})
	}
	// Release the load only once every caller has missed and is about to join it.
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Misses < 50 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("a stampede of 50 loaded %d times, want 1", calls.Load())
	}
}

func TestMissesAreCachedBriefly(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{NegativeTTL: 300 * time.Millisecond})
	var calls atomic.Int64
	missing := func(context.Context) ([]byte, error) { calls.Add(1); return nil, cache.ErrNotFound }
	for range 3 {
		if _, err := c.Get(context.Background(), "absent", missing); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("loaded %d times within the negative TTL, want 1", calls.Load())
	}
	time.Sleep(400 * time.Millisecond)
	_, _ = c.Get(context.Background(), "absent", missing)
	if calls.Load() != 2 {
		t.Fatalf("a remembered miss outlived its TTL")
	}
}

func TestLoaderErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	boom := errors.New("database down")
	if _, err := c.Get(context.Background(), "k", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var calls atomic.Int64
	if v, _ := c.Get(context.Background(), "k", constant("ok", &calls)); string(v) != "ok" || calls.Load() != 1 {
		t.Fatal("a failed load was cached")
	}
}

func TestInvalidateDropsTheValue(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	var calls atomic.Int64
	_, _ = c.Get(context.Background(), "k", constant("old", &calls))
	c.Invalidate(context.Background(), "k")
	if v, _ := c.Get(context.Background(), "k", constant("new", &calls)); string(v) != "new" {
		t.Fatalf("after Invalidate Get = %q, want new", v)
	}
}

// A load that read the old value before a write committed must not store it after the
// write's invalidation: otherwise later readers would see the old value until the TTL.
func TestALoadRacingAnInvalidateDoesNotStoreTheOldValue(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	readOld, finish := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Get(context.Background(), "k", func(context.Context) ([]byte, error) {
			close(readOld)
			<-finish
			return []byte("old"), nil
		})
	}()
	<-readOld
	c.Invalidate(context.Background(), "k") // the write commits here
	var calls atomic.Int64
	if v, _ := c.Get(context.Background(), "k", constant("new", &calls)); string(v) != "new" {
		t.Fatalf("a read after the invalidation joined the stale load: %q", v)
	}
	close(finish)
	<-done
	c.Invalidate(context.Background(), "k2") // unrelated: the stale load has finished storing, or not
	if v, _ := c.Get(context.Background(), "k", constant("newer", &calls)); string(v) == "old" {
		t.Fatal("the stale load stored its value after the invalidation")
	}
}

func TestTTLHasJitter(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, cache.Options{Prefix: prefix, TTL: time.Minute, Jitter: 30 * time.Second, Logger: quiet})
	var calls atomic.Int64
	seen := map[time.Duration]bool{}
	for i := range 20 {
		key := "j" + string(rune('a'+i))
		_, _ = c.Get(context.Background(), key, constant("v", &calls))
		ttl := rdb.PTTL(context.Background(), prefix+"v:"+key).Val()
		if ttl < 59*time.Second || ttl > 90*time.Second {
			t.Fatalf("ttl %v outside [TTL, TTL+jitter]", ttl)
		}
		seen[ttl.Truncate(time.Second)] = true
	}
	if len(seen) < 3 {
		t.Fatalf("20 keys got only %d distinct TTLs: no jitter", len(seen))
	}
}

func TestRedisDownServesFromTheLoader(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := cache.New(srv.Client(t), cache.Options{Prefix: "t:", Logger: quiet})
	var calls atomic.Int64
	if v, err := c.Get(context.Background(), "k", constant("v1", &calls)); err != nil || string(v) != "v1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	srv.Stop()
	start := time.Now()
	for range 3 {
		v, err := c.Get(context.Background(), "k", constant("v2", &calls))
		if err != nil || string(v) != "v2" {
			t.Fatalf("with Redis down Get = %q, %v; want the loader's value", v, err)
		}
	}
	c.Invalidate(context.Background(), "k")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("degraded reads took %v", d)
	}
	if s := c.Stats(); s.RedisErrors < 4 {
		t.Fatalf("RedisErrors = %d, want every failed round trip counted", s.RedisErrors)
	}
}

type message struct {
	Name string `json:"name"`
}

func TestGetJSON(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Options{})
	for range 2 {
		m, err := cache.GetJSON(context.Background(), c, "m", func(context.Context) (message, error) { return message{Name: "Ada"}, nil })
		if err != nil || m.Name != "Ada" {
			t.Fatalf("GetJSON = %+v, %v", m, err)
		}
	}
}
