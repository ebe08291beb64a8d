package ratelimit_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr string
		bits       int
		want       string
	}{
		{"an IPv4 address is its own key", "203.0.113.7", 64, "203.0.113.7"},
		{"an IPv4-mapped address keys as IPv4", "::ffff:203.0.113.7", 64, "203.0.113.7"},
		{"an IPv6 address keys by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
		{"another address of the same /64 shares the key", "2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"the prefix length is configurable", "2001:db8:1:2:3::1", 48, "2001:db8:1::/48"},
		{"a /128 keys by address", "2001:db8::1", 128, "2001:db8::1/128"},
		{"an out-of-range prefix takes the default", "2001:db8:1:2::1", 8, "2001:db8:1:2::/64"},
		{"a zone does not split a network", "fe80::1%eth0", 64, "fe80::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratelimit.ClientKey(netip.MustParseAddr(tc.addr), tc.bits); got != tc.want {
				t.Fatalf("ClientKey(%s, %d) = %q, want %q", tc.addr, tc.bits, got, tc.want)
			}
		})
	}
	if got := ratelimit.ClientKey(netip.Addr{}, 64); got != "unknown" {
		t.Fatalf("invalid address keys as %q", got)
	}
}

func TestPeekDoesNotSpend(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := ratelimit.New(rdb, prefix, false, quiet)
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 2, Period: time.Minute}
	for i := 0; i < 5; i++ {
		if d, err := l.Peek(ctx, "k", rate); err != nil || !d.Allowed {
			t.Fatalf("peek %d on a fresh budget: %+v %v", i, d, err)
		}
	}
	for i := 0; i < 2; i++ {
		if d, err := l.Allow(ctx, "k", rate); err != nil || !d.Allowed {
			t.Fatalf("allow %d: %+v %v", i, d, err)
		}
	}
	d, err := l.Peek(ctx, "k", rate)
	if err != nil || d.Allowed || d.RetryAfter < time.Second || d.RetryAfter > 31*time.Second {
		t.Fatalf("peek on a spent budget: %+v %v, want refused with about 30s to wait", d, err)
	}
}

func TestAllowStrictFailsClosedWhateverThePolicy(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	l := ratelimit.New(dead, "x:", true, quiet)
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 5, Period: time.Minute}
	if d, err := l.Allow(ctx, "k", rate); err != nil || !d.Allowed || !d.Degraded {
		t.Fatalf("fail-open Allow: %+v %v", d, err)
	}
	if d, err := l.Peek(ctx, "k", rate); err != nil || !d.Allowed || !d.Degraded {
		t.Fatalf("fail-open Peek: %+v %v", d, err)
	}
	if d, err := l.AllowStrict(ctx, "k", rate); err == nil || d.Allowed {
		t.Fatalf("AllowStrict without Redis: %+v %v, want an error", d, err)
	}
	if n := l.DegradedCount(); n != 3 {
		t.Fatalf("degraded count %d, want 3", n)
	}
}

func TestZeroRateIsNoBudget(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := ratelimit.New(rdb, prefix, false, quiet)
	for i := 0; i < 3; i++ {
		if d, err := l.AllowStrict(context.Background(), "k", ratelimit.Rate{}); err != nil || !d.Allowed {
			t.Fatalf("zero rate: %+v %v", d, err)
		}
	}
}
