package resiliencetest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Redis stopped, slowed beyond its timeout, or hanging: a cached read still answers the
// stored profile, and once the breaker is open no read waits on Redis (each would cost at
// least redisWait); when the fault ends, reads are cached again without a restart.
func TestRedisFaultsDegradeAtOnce(t *testing.T) {
	faults := []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
		{"slowed beyond the timeout", func(f *testenv.Fault) { f.Latency(3 * redisWait) }},
		{"hanging", func(f *testenv.Fault) { f.Hang(0) }},
		{"resetting connections", func(f *testenv.Fault) { f.Reset(0) }},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := testenv.RedisFault(t)
			a := newAPI(t, setup{redis: fault})
			users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
			ctx := context.Background()
			id := a.newUser(t, "Ada Lovelace")
			read := func() (time.Duration, error) {
				start := time.Now()
				res, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
				if err == nil && res.GetProfile().GetDisplayName() != "Ada Lovelace" {
					t.Fatalf("read %q, want the stored name", res.GetProfile().GetDisplayName())
				}
				return time.Since(start), err
			}
			for range 3 { // warm the cache
				if _, err := read(); err != nil {
					t.Fatal(err)
				}
			}
			if a.Cache.Stats().Hits == 0 {
				t.Fatal("the warm-up never read from the cache")
			}

			tc.inject(fault)
			// Until the breaker opens reads may wait on Redis; every one still answers.
			eventually(t, 30*time.Second, "the Redis breaker opens", func() bool {
				if _, err := read(); err != nil {
					t.Fatalf("read during the fault: %v", err)
				}
				return a.Breakers.States()["redis"] == breaker.Open
			}, nil)
			for i := range 20 {
				took, err := read()
				if err != nil {
					t.Fatalf("read %d with the breaker open: %v", i, err)
				}
				if took >= noWait {
					t.Fatalf("read %d with the breaker open took %s: it waited on Redis", i, took)
				}
			}
			if n := strings.Count(a.Logs.String(), "circuit breaker opened"); n != 1 {
				t.Errorf("the breaker's opening was logged %d times, want once", n)
			}

			fault.Clear()
			fault.Start()
			hits := a.Cache.Stats().Hits
			eventually(t, 15*time.Second, "reads are served from the cache again", func() bool {
				if _, err := read(); err != nil {
					t.Fatalf("read after the fault: %v", err)
				}
				return a.Cache.Stats().Hits > hits
			}, func() string {
				return fmt.Sprintf("breaker %s, cache %+v, logs %s", a.Breakers.States()["redis"], a.Cache.Stats(), lastLines(a.Logs.String(), "circuit breaker", 6))
			})
			if s := a.Breakers.States()["redis"]; s != breaker.Closed {
				t.Errorf("breaker %s after recovery, want closed", s)
			}
		})
	}
}

// Credential RPCs spend budgets that must not lift while Redis is down: sign-in answers
// Unavailable, within the client's deadline, and once the breaker is open with the seconds
// to wait; the password never reaches Kratos.
func TestCredentialRPCsFailClosedWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	fault := testenv.RedisFault(t)
	a := newAPI(t, setup{redis: fault})
	fault.Hang(0)
	auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, a.URL)
	const deadline = 3 * redisWait
	signIn := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: "someone@example.test", Password: "correct horse battery staple"})
		took := time.Since(start)
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("sign-in with Redis hanging: %v, want Unavailable", err)
		}
		if took > deadline {
			t.Fatalf("sign-in answered after %s, beyond the client's deadline %s", took, deadline)
		}
		return took, err
	}
	eventually(t, 30*time.Second, "the Redis breaker opens", func() bool {
		_, _ = signIn()
		return a.Breakers.States()["redis"] == breaker.Open
	}, nil)
	for i := range 5 {
		took, err := signIn()
		var ce *connect.Error
		if !errors.As(err, &ce) || !hasRetryInfo(ce) || ce.Meta().Get("Retry-After") == "" {
			t.Fatalf("sign-in %d with the breaker open: %v, want retry information", i, err)
		}
		if took >= noWait {
			t.Fatalf("sign-in %d with the breaker open took %s: it waited on Redis", i, took)
		}
	}
	if s := a.Breakers.States()["kratos"]; s != breaker.Closed {
		t.Errorf("Kratos's breaker is %s: a refused sign-in reached Kratos", s)
	}
}

func hasRetryInfo(e *connect.Error) bool {
	for _, d := range e.Details() {
		if m, err := d.Value(); err == nil {
			if _, ok := m.(*errdetails.RetryInfo); ok {
				return true
			}
		}
	}
	return false
}

// lastLines returns the last n lines of logs that contain s.
func lastLines(logs, s string, n int) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}
