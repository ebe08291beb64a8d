package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/cache/redistest"
	"github.com/tutorhub/tutorhub/internal/captcha"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// fromAddr makes a client's calls arrive, through the trusted loopback proxy, from addr.
func fromAddr(addr string) connect.ClientOption {
	return connect.WithInterceptors(headers(map[string]string{"X-Forwarded-For": addr}))
}

var loopbackProxy = withTrustedProxies(netip.MustParsePrefix("127.0.0.1/32"))

// wantCaptchaRequired asserts err is the "captcha required" answer of the lockout path.
func wantCaptchaRequired(t *testing.T, err error) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition {
		t.Fatalf("error = %v, want FailedPrecondition (captcha required)", err)
	}
	for _, d := range ce.Details() {
		if m, err := d.Value(); err == nil {
			if vs, ok := m.(*validatepb.Violations); ok {
				for _, v := range vs.GetViolations() {
					if fieldOf(v) == "captcha_token" && v.GetRuleId() == "captcha.required" {
						return
					}
				}
			}
		}
	}
	t.Fatalf("error %v has no captcha.required violation on captcha_token", err)
}

func TestIPv6ClientsAreKeyedByTheirNetwork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prefix int
		first  []string // spend the budget of 2
		then   string
		want   connect.Code
	}{
		{"another address of the same /64 shares the budget", 64, []string{"2001:db8:1:2::1", "2001:db8:1:2::2"}, "2001:db8:1:2:ffff:ffff:ffff:ffff", connect.CodeResourceExhausted},
		{"another /64 has its own budget", 64, []string{"2001:db8:1:2::1", "2001:db8:1:2::2"}, "2001:db8:1:3::1", 0},
		{"a shorter configured prefix groups more", 48, []string{"2001:db8:1:2::1", "2001:db8:1:3::1"}, "2001:db8:1:ffff::1", connect.CodeResourceExhausted},
		{"IPv4 clients are keyed by address", 64, []string{"198.51.100.7", "198.51.100.7"}, "198.51.100.8", 0},
		{"an IPv4 address spends its own budget", 64, []string{"198.51.100.7", "198.51.100.7"}, "198.51.100.7", connect.CodeResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			two := ratelimit.Rate{Limit: 2, Period: time.Minute}
			api := newTestAPI(t, loopbackProxy, withRateLimits(server.RateLimits{Enabled: true, Anonymous: two, Authenticated: two, IPv6Prefix: tc.prefix}))
			list := func(addr string) error {
				_, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, fromAddr(addr)).
					ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1})
				return err
			}
			for _, addr := range tc.first {
				if err := list(addr); err != nil {
					t.Fatalf("from %s: %v", addr, err)
				}
			}
			err := list(tc.then)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("from %s: %v, want its own budget", tc.then, err)
				}
				return
			}
			wantCode(t, err, tc.want)
		})
	}
	// The credential budget per address is keyed the same way.
	t.Run("credential budget", func(t *testing.T) {
		t.Parallel()
		roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}
		api := newTestAPI(t, loopbackProxy, func(o *server.Options) {
			o.Auth.Limits = server.AuthRateLimits{Enabled: true, IP: ratelimit.Rate{Limit: 2, Period: time.Minute}, Account: roomy, Global: roomy, IPv6Prefix: 64}
			o.Auth.Lockout.Threshold = 100
		})
		login := func(addr string) error {
			_, err := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, fromAddr(addr)).
				Login(context.Background(), &tutorhubv1.LoginRequest{Email: testenv.UniqueEmail("v6"), Password: "wrong password!"})
			return err
		}
		wantCode(t, login("2001:db8:9:9::1"), connect.CodeUnauthenticated)
		wantCode(t, login("2001:db8:9:9::2"), connect.CodeUnauthenticated)
		wantCode(t, login("2001:db8:9:9:abcd::3"), connect.CodeResourceExhausted)
		wantCode(t, login("2001:db8:9:a::1"), connect.CodeUnauthenticated)
	})
}

func TestSpentGlobalCredentialBudgetAsksForACaptcha(t *testing.T) {
	t.Parallel()
	roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Captcha = captcha.Static(captcha.TestToken)
		o.Auth.Lockout.CaptchaAfter = 0
		o.Auth.Limits = server.AuthRateLimits{Enabled: true, IP: roomy, Account: roomy, Global: ratelimit.Rate{Limit: 3, Period: time.Hour}, Recovery: roomy, RecoveryAccount: roomy}
	})
	ctx := context.Background()
	auth := api.authClient()
	u := api.signUp(t) // Register and Login: spends two of the three
	if _, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password}); err != nil {
		t.Fatalf("login within the global budget: %v", err)
	}
	// Spent: everyone is asked for a captcha, not refused.
	_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	wantCaptchaRequired(t, err)
	_, err = auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("busy"), Password: testPassword})
	wantCaptchaRequired(t, err)
	_, err = auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password, CaptchaToken: "wrong"})
	wantCode(t, err, connect.CodeFailedPrecondition)
	res, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password, CaptchaToken: captcha.TestToken})
	if err != nil {
		t.Fatalf("login with a valid captcha while the global budget is spent: %v", err)
	}
	api.noteSecrets(t, res.GetTokens().GetAccessToken(), res.GetTokens().GetSessionToken())
	// A captcha-gated attempt with the wrong password still counts against the account.
	_, err = auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: "wrong password!", CaptchaToken: captcha.TestToken})
	wantCode(t, err, connect.CodeUnauthenticated)

	// Without a captcha provider there is nothing to ask: the spent budget refuses.
	bare := newTestAPI(t, func(o *server.Options) {
		o.Auth.Limits = server.AuthRateLimits{Enabled: true, IP: roomy, Account: roomy, Global: ratelimit.Rate{Limit: 1, Period: time.Hour}}
	})
	email := testenv.UniqueEmail("bare")
	_, err = bare.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: "wrong password!"})
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = bare.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: "wrong password!"})
	wantCode(t, err, connect.CodeResourceExhausted)
}

func TestLockedOutAccountCanStillRecover(t *testing.T) {
	t.Parallel()
	roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Captcha = captcha.Static(captcha.TestToken)
		o.Auth.Lockout.Threshold = 2
		o.Auth.Lockout.CaptchaAfter = 0
		o.Auth.Limits = server.AuthRateLimits{
			Enabled: true, IP: roomy, Global: roomy,
			Account:         ratelimit.Rate{Limit: 4, Period: time.Hour}, // sign-up (Register and Login) and two failures
			Recovery:        roomy,
			RecoveryAccount: ratelimit.Rate{Limit: 2, Period: time.Hour},
		}
	})
	ctx := context.Background()
	auth := api.authClient()
	u := api.signUp(t)
	for i := 0; i < 2; i++ {
		_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: "wrong password " + testenv.RandomID()})
		wantCode(t, err, connect.CodeUnauthenticated)
	}
	// Locked out, and the account's sign-in budget is spent too.
	_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password, CaptchaToken: captcha.TestToken})
	wantCode(t, err, connect.CodeResourceExhausted)
	if !strings.Contains(err.Error(), "too many failed sign-ins") {
		t.Fatalf("want the lockout: %v", err)
	}

	since := time.Now()
	start, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
	if err != nil {
		t.Fatalf("recovery of a locked-out account with a spent sign-in budget: %v", err)
	}
	code := testenv.MailCode(t, u.Email, "Recover access", since)
	newPassword := "recovered passphrase " + testenv.RandomID()
	api.noteSecrets(t, code, newPassword)
	rec, err := auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: code, NewPassword: newPassword})
	if err != nil {
		t.Fatalf("complete recovery: %v", err)
	}
	api.noteSecrets(t, rec.GetTokens().GetAccessToken(), rec.GetTokens().GetSessionToken())
	// The lock is lifted; the account's sign-in budget is still spent, so a captcha passes.
	res, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: newPassword, CaptchaToken: captcha.TestToken})
	if err != nil {
		t.Fatalf("login after recovery: %v", err)
	}
	api.noteSecrets(t, res.GetTokens().GetAccessToken(), res.GetTokens().GetSessionToken())

	// Recovery's own per-account budget still bounds the mails one address gets.
	if _, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email}); err != nil {
		t.Fatalf("second recovery mail: %v", err)
	}
	_, err = auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
	wantCode(t, err, connect.CodeResourceExhausted)
}

func TestBadTokensSpendTheAddressBudgetBeforeVerification(t *testing.T) {
	t.Parallel()
	live := newTestAPI(t)
	u := live.signUp(t)
	three := ratelimit.Rate{Limit: 3, Period: time.Hour}
	roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}

	t.Run("a flood of bad tokens is refused before verification", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, withRateLimits(server.RateLimits{Enabled: true, Anonymous: three, Authenticated: roomy}))
		api.noteSecrets(t, u.AccessToken)
		// A protected RPC: a public one would run as anonymous, ignoring the bad token.
		withToken := func(token string) error {
			c := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(token)))
			_, err := c.GetMe(context.Background(), &tutorhubv1.GetMeRequest{})
			return err
		}
		for i := 0; i < 3; i++ {
			wantCode(t, withToken("forged."+strconv.Itoa(i)+".token"), connect.CodeUnauthenticated)
		}
		wantCode(t, withToken("forged.again.token"), connect.CodeResourceExhausted)
		// The address is spent: even a valid token is not looked at, nor is anonymous traffic.
		wantCode(t, withToken(u.AccessToken), connect.CodeResourceExhausted)
		_, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL).ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1})
		wantCode(t, err, connect.CodeResourceExhausted)
	})

	t.Run("a bad token a public RPC ignores is charged to the address", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, withRateLimits(server.RateLimits{Enabled: true, Anonymous: three, Authenticated: roomy}))
		subjects := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer("forged.public.token")))
		for i := 0; i < 3; i++ {
			if _, err := subjects.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		_, err := subjects.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1})
		wantCode(t, err, connect.CodeResourceExhausted)
	})

	t.Run("a valid user is charged to the user, not the address", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, withRateLimits(server.RateLimits{Enabled: true, Anonymous: three, Authenticated: ratelimit.Rate{Limit: 5, Period: time.Hour}}))
		api.noteSecrets(t, u.AccessToken)
		users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt())
		for i := 0; i < 5; i++ {
			if _, err := users.GetMe(context.Background(), &tutorhubv1.GetMeRequest{}); err != nil {
				t.Fatalf("call %d within the user's budget: %v", i, err)
			}
		}
		_, err := users.GetMe(context.Background(), &tutorhubv1.GetMeRequest{})
		wantCode(t, err, connect.CodeResourceExhausted)
		// The address budget is whole: three anonymous calls pass.
		subjects := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL)
		for i := 0; i < 3; i++ {
			if _, err := subjects.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1}); err != nil {
				t.Fatalf("anonymous call %d after a user's calls from the same address: %v", i, err)
			}
		}
	})
}

func TestCredentialRPCsFailClosedWithoutRedis(t *testing.T) {
	t.Parallel()
	live := newTestAPI(t)
	u := live.signUp(t)
	api := newTestAPI(t, func(o *server.Options) {
		o.Limiter = ratelimit.New(deadRedis(), "x:", true, o.Logger) // fail-open for the rest
	})
	api.noteSecrets(t, u.AccessToken, u.SessionToken, u.Password)
	ctx := context.Background()
	auth := api.authClient()
	authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
	flow := "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11"
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Register", func() error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("down"), Password: testPassword})
			return err
		}},
		{"Login", func() error {
			_, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
			return err
		}},
		{"StartRecovery", func() error {
			_, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
			return err
		}},
		{"CompleteRecovery", func() error {
			_, err := auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: flow, Code: "123456", NewPassword: testPassword})
			return err
		}},
		{"StartVerification", func() error {
			_, err := auth.StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: u.Email})
			return err
		}},
		{"CompleteVerification", func() error {
			_, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: flow, Code: "123456"})
			return err
		}},
		{"ChangePassword", func() error {
			_, err := authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: "a different passphrase 99", SessionToken: u.SessionToken})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, connect.CodeUnavailable)
			if !strings.Contains(err.Error(), "rate limiter unavailable") {
				t.Fatalf("message does not say why: %v", err)
			}
		})
	}
	// Everything else follows TUTORHUB_RATE_LIMIT_FAIL_OPEN (here: open).
	if _, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{PageSize: 1}); err != nil {
		t.Fatalf("a non-credential RPC with a fail-open limiter: %v", err)
	}
	if _, err := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt()).GetMe(ctx, &tutorhubv1.GetMeRequest{}); err != nil {
		t.Fatalf("an authenticated RPC with a fail-open limiter: %v", err)
	}
	// And fail-closed refuses them too.
	closed := newTestAPI(t, func(o *server.Options) { o.Limiter = ratelimit.New(deadRedis(), "x:", false, o.Logger) })
	_, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, closed.URL).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{PageSize: 1})
	wantCode(t, err, connect.CodeUnavailable)
}

// metricValue is the value of the Prometheus sample named name in a /metrics page, or -1.
func metricValue(page, name string) float64 {
	v, found, err := telemetry.SampleSum(page, name)
	if err != nil || !found {
		return -1
	}
	return v
}

func TestDegradedCountersAreExported(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	rdb := redisSrv.Client(t)
	tel, err := telemetry.Setup(context.Background(), "tutorhub-test", "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	api := newTestAPI(t, func(o *server.Options) {
		o.Telemetry = tel
		o.Limiter = ratelimit.New(rdb, "degraded:", true, o.Logger)
		o.Cache = cache.New(rdb, cache.Options{Prefix: "degraded:cache:", Logger: o.Logger})
	})
	scrape := func() (limiter, cache float64) {
		t.Helper()
		status, _, body := do(t, http.MethodGet, api.URL+"/metrics", "", nil)
		if status != http.StatusOK {
			t.Fatalf("/metrics: %d", status)
		}
		page := string(body)
		return metricValue(page, "tutorhub_ratelimit_degraded_total"), metricValue(page, "tutorhub_cache_degraded_total")
	}
	traffic := func() {
		t.Helper()
		ctx := context.Background()
		if _, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{PageSize: 1}); err != nil {
			t.Fatal(err)
		}
		// A profile read goes through the cache, found or not.
		_, err := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL).GetUser(ctx, &tutorhubv1.GetUserRequest{Id: "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11"})
		if err != nil && codeOf(err) != connect.CodeNotFound {
			t.Fatal(err)
		}
	}
	traffic()
	limiter0, cache0 := scrape()
	if limiter0 != 0 || cache0 != 0 {
		t.Fatalf("with Redis up: limiter %v, cache %v degraded; want both exported and 0", limiter0, cache0)
	}
	redisSrv.Stop()
	traffic()
	limiter1, cache1 := scrape()
	if limiter1 <= limiter0 || cache1 <= cache0 {
		t.Fatalf("after Redis died: limiter %v -> %v, cache %v -> %v; want both to grow", limiter0, limiter1, cache0, cache1)
	}
	traffic()
	limiter2, cache2 := scrape()
	if limiter2 <= limiter1 || cache2 <= cache1 {
		t.Fatalf("while Redis is down: limiter %v -> %v, cache %v -> %v; want both to keep growing", limiter1, limiter2, cache1, cache2)
	}
}
