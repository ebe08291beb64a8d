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

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Kratos slowed beyond its timeout, hanging, or resetting connections, behind a private
// Toxiproxy: sign-in (Login) and session checks (Refresh, which asks Kratos for the session)
// answer Unavailable with retry information within the client's deadline; once the Kratos
// breaker is open they answer at once; when the fault ends both work again within seconds,
// without a restart, and the breaker is closed.
func TestKratosFaultsFailFastAndRecover(t *testing.T) {
	t.Parallel()
	// One account and session, made through an API with a healthy Kratos; every fault's API
	// below uses them through a proxy of its own.
	healthy := newAPI(t, setup{})
	email, password := testenv.UniqueEmail("kratos-fault"), "correct horse battery staple 42"
	auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, healthy.URL)
	ctx := context.Background()
	if _, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: password, DisplayName: "Kratos Fault"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	login, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	session := login.GetTokens().GetSessionToken()
	if session == "" {
		t.Fatal("login returned no session token")
	}

	// Kratos hashes the password of every sign-in: on a busy machine that alone can take most
	// of a second, so the timeout leaves room for it.
	const kratosTimeout = 2 * time.Second
	const deadline = 5 * time.Second
	for _, tc := range []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"slowed beyond the timeout", func(f *testenv.Fault) { f.Latency(10 * time.Second) }},
		{"hanging", func(f *testenv.Fault) { f.Hang(0) }},
		{"resetting connections", func(f *testenv.Fault) { f.Reset(0) }},
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := testenv.KratosFault(t)
			a := newAPI(t, setup{kratos: fault, kratosTimeout: kratosTimeout})
			auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, a.URL)
			calls := []struct {
				name string
				call func(context.Context) error
			}{
				{"sign-in", func(ctx context.Context) error {
					res, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: password})
					if err == nil && res.GetTokens().GetAccessToken() == "" {
						return errors.New("sign-in answered no access token")
					}
					return err
				}},
				{"session check", func(ctx context.Context) error {
					res, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: session})
					if err == nil && res.GetAccessToken() == "" {
						return errors.New("refresh answered no access token")
					}
					return err
				}},
			}
			call := func(i int) (string, time.Duration, error) {
				c := calls[i%len(calls)]
				rctx, cancel := context.WithTimeout(ctx, deadline)
				defer cancel()
				start := time.Now()
				err := c.call(rctx)
				return c.name, time.Since(start), err
			}
			for i := range calls {
				if name, _, err := call(i); err != nil {
					t.Fatalf("%s before the fault: %v", name, err)
				}
			}

			tc.inject(fault)
			// Every answer during the fault: Unavailable with retry information, within the
			// client's deadline (in fact within about one Kratos timeout).
			check := func(i int, phase string) time.Duration {
				name, took, err := call(i)
				var ce *connect.Error
				if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
					t.Fatalf("%s %s: %v, want Unavailable", name, phase, err)
				}
				if !hasRetryInfo(ce) || ce.Meta().Get("Retry-After") == "" {
					t.Fatalf("%s %s: %v, want retry information (RetryInfo and Retry-After)", name, phase, err)
				}
				if took > kratosTimeout+time.Second {
					t.Fatalf("%s %s answered after %s, want within Kratos's timeout %s (the client's deadline is %s)", name, phase, took, kratosTimeout, deadline)
				}
				return took
			}
			for i := 0; a.Breakers.States()["kratos"] != breaker.Open; i++ {
				if i == 20 {
					t.Fatalf("the Kratos breaker is %s after %d failed calls", a.Breakers.States()["kratos"], i)
				}
				check(i, "during the fault")
			}
			for i := range 10 {
				if took := check(i, "with the breaker open"); took >= noWait {
					t.Fatalf("call %d with the breaker open took %s: it waited on Kratos", i, took)
				}
			}
			if n := strings.Count(a.Logs.String(), "circuit breaker opened"); n != 1 {
				t.Errorf("the breaker's opening was logged %d times, want once", n)
			}

			fault.Clear()
			fault.Start()
			recovered := time.Now()
			// The first probe goes after the open window (redisOpenFor in this harness).
			eventually(t, redisOpenFor+10*time.Second, "sign-in and session checks work again", func() bool {
				for i := range calls {
					if _, _, err := call(i); err != nil {
						return false
					}
				}
				return true
			}, func() string {
				return fmt.Sprintf("breaker %s, logs %s", a.Breakers.States()["kratos"], lastLines(a.Logs.String(), "circuit breaker", 4))
			})
			t.Logf("healthy again %s after the fault ended", time.Since(recovered).Round(time.Millisecond))
			if s := a.Breakers.States()["kratos"]; s != breaker.Closed {
				t.Errorf("breaker %s after recovery, want closed", s)
			}
		})
	}
}
