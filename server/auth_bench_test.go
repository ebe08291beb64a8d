package server_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/server"
)

// authBenchAccounts is how many accounts the auth benchmarks rotate over, so no single
// account's rate-limit budget or lockout row shapes the figures.
const authBenchAccounts = 16

// authBenchParallelism is the number of goroutines per GOMAXPROCS in the throughput
// sub-benchmarks: enough calls in flight to keep Kratos, PostgreSQL and the API busy at once.
const authBenchParallelism = 8

// BenchmarkLogin is the Login RPC end to end against the real Kratos: rate limits, lockout
// row, Kratos login flow (one Argon2id hash), user upsert, audit row and the access-token
// mint, over a pool of accounts. Its latency sub-benchmark issues one call at a time (ns/op
// is the latency of a call); its throughput sub-benchmark keeps many calls in flight and
// reports logins/s. Compare with BenchmarkRefresh, the same path without the password hash.
func BenchmarkLogin(b *testing.B) {
	api := newBenchAPI(b)
	users := api.signUpPool(b, authBenchAccounts)
	c := api.authClient()
	benchAuth(b, "logins/s", func(ctx context.Context, i int) error {
		u := users[i%len(users)]
		_, err := c.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
		return err
	})
}

// BenchmarkRefresh mints an access token from a session, over a pool of sessions: Kratos
// whoami with the tokenizer, no password hash. Sub-benchmarks as BenchmarkLogin's.
func BenchmarkRefresh(b *testing.B) {
	api := newBenchAPI(b)
	users := api.signUpPool(b, authBenchAccounts)
	c := api.authClient()
	benchAuth(b, "refreshes/s", func(ctx context.Context, i int) error {
		_, err := c.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: users[i%len(users)].SessionToken})
		return err
	})
}

// benchAuth runs call as two sub-benchmarks: "latency", one call at a time, and "throughput",
// authBenchParallelism goroutines per GOMAXPROCS reporting calls per second as rateUnit. Both
// report the median and 95th percentile of a call's duration (p50-ms, p95-ms).
func benchAuth(b *testing.B, rateUnit string, call func(ctx context.Context, i int) error) {
	b.Run("latency", func(b *testing.B) {
		ctx := context.Background()
		lat := make([]time.Duration, 0, b.N)
		start := time.Now()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := call(ctx, i); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportAuth(b, rateUnit, time.Since(start), lat)
	})
	b.Run("throughput", func(b *testing.B) {
		ctx := context.Background()
		var (
			mu   sync.Mutex
			lat  = make([]time.Duration, 0, b.N)
			next int
		)
		b.SetParallelism(authBenchParallelism)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				t0 := time.Now()
				if err := call(ctx, i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		reportAuth(b, rateUnit, time.Since(start), lat)
	})
}

func reportAuth(b *testing.B, rateUnit string, elapsed time.Duration, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), rateUnit)
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}

// signUpPool registers n fresh users.
func (api *testAPI) signUpPool(b *testing.B, n int) []*testUser {
	b.Helper()
	users := make([]*testUser, n)
	for i := range users {
		users[i] = api.signUp(b)
	}
	return users
}

func newBenchAPI(b *testing.B) *testAPI {
	b.Helper()
	return newTestAPI(b, func(o *server.Options) { o.Logger = discardLogger() })
}

func discardLogger() *slog.Logger { return logging.New(io.Discard, slog.LevelInfo, "json", nil) }
