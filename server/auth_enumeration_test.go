package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/captcha"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// Register answers a known address exactly as a new one: no user id, no tokens, no cookies,
// a verification flow id; the owner of the known address is mailed instead.
func TestRegisterAnswersAlikeForNewAndKnownAddresses(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	known := api.signUp(t)
	// The sign-up's own verification mail is in before the second sign-up starts.
	testenv.NewMail(t, known.Email, "Please verify", nil)
	seen := testenv.MailIDs(t, known.Email)
	fresh := testenv.UniqueEmail("fresh")

	register := func(email string) (*tutorhubv1.RegisterResponse, http.Header) {
		t.Helper()
		ctx, call := connect.NewClientContext(context.Background())
		res, err := api.authClient().Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: "another good passphrase 7", DisplayName: "Mallory", UseCookie: true})
		if err != nil {
			t.Fatalf("register %s: %v", email, err)
		}
		return res, call.ResponseHeader()
	}
	newRes, newHeader := register(fresh)
	knownRes, knownHeader := register(strings.ToUpper(known.Email))
	for name, res := range map[string]*tutorhubv1.RegisterResponse{"new": newRes, "known": knownRes} {
		if _, err := uuid.Parse(res.GetVerificationFlowId()); err != nil {
			t.Errorf("%s address: verification_flow_id %q is not a UUID", name, res.GetVerificationFlowId())
		}
		shape := proto.Clone(res).(*tutorhubv1.RegisterResponse)
		shape.VerificationFlowId = ""
		if !proto.Equal(shape, &tutorhubv1.RegisterResponse{}) {
			t.Errorf("%s address: the answer carries more than a flow id: %v", name, res)
		}
	}
	for name, h := range map[string]http.Header{"new": newHeader, "known": knownHeader} {
		if c := h.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("%s address: cookies set: %v", name, c)
		}
	}

	// A wrong code is refused alike on both flows.
	var refusals []string
	for _, res := range []*tutorhubv1.RegisterResponse{newRes, knownRes} {
		_, err := api.authClient().CompleteVerification(context.Background(), &tutorhubv1.CompleteVerificationRequest{FlowId: res.GetVerificationFlowId(), Code: "000000"})
		refusals = append(refusals, codeOf(err).String()+": "+connectMessage(err))
	}
	if refusals[0] != refusals[1] || !strings.HasPrefix(refusals[0], "invalid_argument") {
		t.Fatalf("wrong code on the new flow %q, on the known flow %q", refusals[0], refusals[1])
	}

	// The owner of the known address learns of the attempt; the new address gets its code.
	text, _ := testenv.NewMail(t, known.Email, "You already have a tutorhub account", seen)
	if !strings.Contains(text, "http://tutorhub.test/recover") || !strings.Contains(text, "http://tutorhub.test/login") {
		t.Fatalf("account-exists mail:\n%s", text)
	}
	if _, code := testenv.NewMail(t, fresh, "Please verify", nil); code == "" {
		t.Fatal("the new address's verification mail has no code")
	}
	if subjects := testenv.MailSubjects(t, known.Email, seen); len(subjects) != 1 {
		t.Fatalf("the known address got %v, want the account-exists mail alone", subjects)
	}
	// The second sign-up changed nothing: the known account keeps its password.
	if _, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: known.Email, Password: known.Password}); err != nil {
		t.Fatalf("the known account after a second sign-up: %v", err)
	}
	// The new account signs in with the password it registered.
	login, err := api.authClient().Login(context.Background(), &tutorhubv1.LoginRequest{Email: fresh, Password: "another good passphrase 7"})
	if err != nil {
		t.Fatalf("login of the new account: %v", err)
	}
	api.noteSecrets(t, "another good passphrase 7", login.GetTokens().GetAccessToken(), login.GetTokens().GetSessionToken())
}

// connectMessage is the message of a Connect error, "" for nil.
func connectMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return ""
}

// Response times of Register, StartRecovery and StartVerification do not tell a known
// address from an unknown one: N calls each, interleaved, with the medians compared.
func TestEnumerationTimingIsUniform(t *testing.T) {
	t.Parallel()
	const (
		n = 15
		// Above what each RPC takes on a loaded machine (Register hashes a password).
		pad = 600 * time.Millisecond
		// Scheduling noise on a shared machine; far below what a hash or a mail costs.
		tolerance = 60 * time.Millisecond
	)
	api := newTestAPI(t, func(o *server.Options) { o.Auth.UniformResponse = pad })
	known := api.signUp(t)
	ctx := context.Background()
	auth := api.authClient()
	for _, tc := range []struct {
		name string
		call func(email string) error
	}{
		{"Register", func(email string) error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: "timing passphrase 123"})
			return err
		}},
		{"StartRecovery", func(email string) error {
			_, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: email})
			return err
		}},
		{"StartVerification", func(email string) error {
			_, err := auth.StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: email})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var knownTimes, unknownTimes []time.Duration
			timed := func(email string) time.Duration {
				start := time.Now()
				if err := tc.call(email); err != nil {
					t.Fatalf("%s %s: %v", tc.name, email, err)
				}
				return time.Since(start)
			}
			for i := 0; i < n; i++ {
				// Alternate which goes first, so drift in the machine's load hits both alike.
				if i%2 == 0 {
					knownTimes = append(knownTimes, timed(known.Email))
					unknownTimes = append(unknownTimes, timed(testenv.UniqueEmail("timing")))
				} else {
					unknownTimes = append(unknownTimes, timed(testenv.UniqueEmail("timing")))
					knownTimes = append(knownTimes, timed(known.Email))
				}
			}
			mk, mu := median(knownTimes), median(unknownTimes)
			t.Logf("median known %v, unknown %v", mk, mu)
			if mk < pad || mu < pad {
				t.Fatalf("medians known %v, unknown %v: shorter than the uniform response time %v", mk, mu, pad)
			}
			if d := (mk - mu).Abs(); d > tolerance {
				t.Fatalf("medians differ by %v (known %v, unknown %v), more than %v", d, mk, mu, tolerance)
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// StartVerification end to end: a new code is mailed, it verifies the address, and the
// caller's next access token, and GetMe with it, say so.
func TestStartVerificationEndToEnd(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	auth := api.authClient()
	if claims := unverifiedClaims(t, u.AccessToken); claims["email_verified"] != false {
		t.Fatalf("a new account's token claims email_verified = %v", claims["email_verified"])
	}
	// The sign-up's own verification mail is in before a new code is asked for.
	testenv.NewMail(t, u.Email, "Please verify", nil)
	seen := testenv.MailIDs(t, u.Email)
	start, err := auth.StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: strings.ToUpper(u.Email)})
	if err != nil {
		t.Fatal(err)
	}
	_, code := testenv.NewMail(t, u.Email, "Please verify", seen)
	api.noteSecrets(t, code)
	if _, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: start.GetFlowId(), Code: code}); err != nil {
		t.Fatalf("verify with the mailed code: %v", err)
	}
	// The code is spent.
	_, err = auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: start.GetFlowId(), Code: code})
	if err == nil {
		t.Fatal("a used code verified again")
	}
	ref, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, ref.GetAccessToken())
	if claims := unverifiedClaims(t, ref.GetAccessToken()); claims["email_verified"] != true {
		t.Fatalf("after verification the token claims email_verified = %v", claims["email_verified"])
	}
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(ref.GetAccessToken())))
	me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
	if err != nil || me.GetUser().GetId() != u.ID || !me.GetUser().GetEmailVerified() {
		t.Fatalf("GetMe with the verified token: %v %v", me, err)
	}
	before, err := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt()).GetMe(ctx, &tutorhubv1.GetMeRequest{})
	if err != nil || before.GetUser().GetEmailVerified() {
		t.Fatalf("GetMe with the token minted before verification: %v %v", before, err)
	}
}

// A signed-in user changes the password even while strangers' failed sign-ins make the
// account require a captcha to log in.
func TestChangePasswordNotBlockedByLoginCaptcha(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, func(o *server.Options) {
		o.Auth.Captcha = captcha.Static(captcha.TestToken)
		o.Auth.Lockout.CaptchaAfter = 2
		o.Auth.Lockout.Threshold = 10
	})
	ctx := context.Background()
	u := api.signUp(t)
	for i := 0; i < 2; i++ {
		_, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: "a stranger's guess " + testenv.RandomID()})
		wantCode(t, err, connect.CodeUnauthenticated)
	}
	_, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	wantCode(t, err, connect.CodeFailedPrecondition) // the account now needs a captcha to log in

	authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
	newPassword := "changed under captcha " + testenv.RandomID()
	api.noteSecrets(t, newPassword)
	_, err = authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: "wrong password!", NewPassword: newPassword, SessionToken: u.SessionToken})
	wantViolation(t, err, "current_password")
	res, err := authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: u.SessionToken})
	if err != nil {
		t.Fatalf("change password while a login captcha is required: %v", err)
	}
	api.noteSecrets(t, res.GetAccessToken())
	// The proven password clears the failures, as a successful login does.
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: newPassword}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// StartRecovery and StartVerification answer a known and an unknown address alike: a flow
// id and nothing else, and a wrong code is refused the same way on both flows; only the
// known address gets mail.
func TestRecoveryAndVerificationAnswerAlike(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	known := api.signUp(t)
	testenv.NewMail(t, known.Email, "Please verify", nil)
	auth := api.authClient()
	for _, tc := range []struct {
		rpc     string
		subject string
		start   func(email string) (string, http.Header, error)
		wrong   func(flow string) error
	}{
		{"StartRecovery", "Recover access", func(email string) (string, http.Header, error) {
			cctx, call := connect.NewClientContext(ctx)
			res, err := auth.StartRecovery(cctx, &tutorhubv1.StartRecoveryRequest{Email: email})
			if err == nil && !proto.Equal(res, &tutorhubv1.StartRecoveryResponse{FlowId: res.GetFlowId()}) {
				t.Errorf("StartRecovery answers more than a flow id: %v", res)
			}
			return res.GetFlowId(), call.ResponseHeader(), err
		}, func(flow string) error {
			_, err := auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: flow, Code: "000000", NewPassword: "whatever passphrase 1"})
			return err
		}},
		{"StartVerification", "Please verify", func(email string) (string, http.Header, error) {
			cctx, call := connect.NewClientContext(ctx)
			res, err := auth.StartVerification(cctx, &tutorhubv1.StartVerificationRequest{Email: email})
			if err == nil && !proto.Equal(res, &tutorhubv1.StartVerificationResponse{FlowId: res.GetFlowId()}) {
				t.Errorf("StartVerification answers more than a flow id: %v", res)
			}
			return res.GetFlowId(), call.ResponseHeader(), err
		}, func(flow string) error {
			_, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: flow, Code: "000000"})
			return err
		}},
	} {
		t.Run(tc.rpc, func(t *testing.T) {
			unknown := testenv.UniqueEmail("nobody")
			seen := testenv.MailIDs(t, known.Email)
			var refusals, headers []string
			for _, email := range []string{known.Email, unknown} {
				flow, header, err := tc.start(email)
				if err != nil {
					t.Fatalf("%s %s: %v", tc.rpc, email, err)
				}
				if _, err := uuid.Parse(flow); err != nil {
					t.Fatalf("%s %s: flow id %q", tc.rpc, email, flow)
				}
				headers = append(headers, strings.Join(header.Values("Set-Cookie"), ";"))
				err = tc.wrong(flow)
				refusals = append(refusals, codeOf(err).String()+": "+connectMessage(err))
			}
			if refusals[0] != refusals[1] || headers[0] != headers[1] {
				t.Fatalf("known and unknown differ: refusals %q, cookies %q", refusals, headers)
			}
			testenv.NewMail(t, known.Email, tc.subject, seen)
			if got := testenv.MailSubjects(t, unknown, nil); len(got) != 0 {
				t.Fatalf("the unknown address got mail: %v", got)
			}
		})
	}
}
