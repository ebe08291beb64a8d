package server_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// TestAuthServiceAuthorizationMatrix calls every AuthService RPC as each kind of caller
// (anonymous, another user, the owner of the account the call is about, an admin) through
// the real authentication, and checks the answer and that nobody but the owner touched the
// owner's account. Each call of a signed-in caller uses a session of its own, so the rows
// do not depend on each other.
func TestAuthServiceAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	owner, other, admin := api.signUp(t), api.signUp(t), api.admin(t)
	callers := []struct {
		name string
		u    *testUser
	}{{"anonymous", nil}, {"other user", other}, {"owner", owner}, {"admin", admin}}

	// session opens a new session of u: its session and access tokens.
	session := func(t *testing.T, u *testUser) (string, string) {
		t.Helper()
		res, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
		if err != nil {
			t.Fatalf("login %s: %v", u.Email, err)
		}
		api.noteSecrets(t, res.GetTokens().GetSessionToken(), res.GetTokens().GetAccessToken())
		return res.GetTokens().GetSessionToken(), res.GetTokens().GetAccessToken()
	}
	alive := func(t *testing.T, sessionToken string) bool {
		t.Helper()
		res, err := api.authClient().Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: sessionToken})
		if err == nil {
			api.noteSecrets(t, res.GetAccessToken())
		}
		return err == nil
	}

	const ok = codeOK
	everyone := func(c connect.Code) map[string]connect.Code {
		return map[string]connect.Code{"anonymous": c, "other user": c, "owner": c, "admin": c}
	}
	signedIn := func(c connect.Code) map[string]connect.Code {
		return map[string]connect.Code{"anonymous": connect.CodeUnauthenticated, "other user": c, "owner": c, "admin": c}
	}
	rows := []struct {
		rpc    string
		access server.Access
		want   map[string]connect.Code
		// call makes the call as caller (nil: anonymous) with client auth.
		call func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, caller *testUser) error
	}{
		{"Register", server.Public, everyone(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			_, err := auth.Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("matrix"), Password: testPassword})
			return err
		}},
		{"Login", server.Public, everyone(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			res, err := auth.Login(ctx, &tutorhubv1.LoginRequest{Email: owner.Email, Password: owner.Password})
			api.noteSecrets(t, res.GetTokens().GetSessionToken(), res.GetTokens().GetAccessToken())
			return err
		}},
		// The session token is the credential: whoever holds it may use it.
		{"Refresh", server.Public, everyone(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			st, _ := session(t, owner)
			res, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: st})
			api.noteSecrets(t, res.GetAccessToken())
			return err
		}},
		// Without a session token, Logout ends the caller's own session, never the owner's.
		{"Logout", server.Public, map[string]connect.Code{"anonymous": connect.CodeUnauthenticated, "other user": ok, "owner": ok, "admin": ok},
			func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, caller *testUser) error {
				witness, _ := session(t, owner)
				_, err := auth.Logout(ctx, &tutorhubv1.LogoutRequest{})
				if !alive(t, witness) {
					t.Errorf("Logout without a token ended another session of the owner")
				}
				return err
			}},
		{"LogoutAll", server.Authenticated, signedIn(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, caller *testUser) error {
			witness, _ := session(t, owner)
			_, err := auth.LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{})
			if got, want := alive(t, witness), caller != owner; got != want {
				t.Errorf("owner's session alive after LogoutAll = %v, want %v", got, want)
			}
			return err
		}},
		{"StartRecovery", server.Public, everyone(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			_, err := auth.StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: owner.Email})
			return err
		}},
		// Only the mailed code completes recovery, whoever calls.
		{"CompleteRecovery", server.Public, everyone(connect.CodeInvalidArgument), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			start, err := api.authClient().StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: owner.Email})
			if err != nil {
				t.Fatal(err)
			}
			_, err = auth.CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: "000000", NewPassword: "taken over " + testenv.RandomID()})
			return err
		}},
		{"StartVerification", server.Public, everyone(ok), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			_, err := auth.StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: owner.Email})
			return err
		}},
		{"CompleteVerification", server.Public, everyone(connect.CodeInvalidArgument), func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, _ *testUser) error {
			start, err := api.authClient().StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: owner.Email})
			if err != nil {
				t.Fatal(err)
			}
			_, err = auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: start.GetFlowId(), Code: "000000"})
			return err
		}},
		// The owner's session token with the owner's password: only the owner's access token
		// goes with it.
		{"ChangePassword", server.Authenticated, map[string]connect.Code{"anonymous": connect.CodeUnauthenticated, "other user": connect.CodePermissionDenied, "owner": ok, "admin": connect.CodePermissionDenied},
			func(t *testing.T, auth tutorhubv1connect.AuthServiceClient, caller *testUser) error {
				st, _ := session(t, owner)
				newPassword := "matrix passphrase " + testenv.RandomID()
				api.noteSecrets(t, newPassword)
				res, err := auth.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: owner.Password, NewPassword: newPassword, SessionToken: st})
				if err == nil {
					api.noteSecrets(t, res.GetAccessToken())
					owner.Password = newPassword
				}
				return err
			}},
	}

	covered := map[string]bool{}
	for _, row := range rows {
		procedure := "/" + tutorhubv1connect.AuthServiceName + "/" + row.rpc
		covered[procedure] = true
		if got := server.AccessRules[procedure].Who; got != row.access {
			t.Errorf("%s: access rule %v, the matrix expects %v", row.rpc, got, row.access)
		}
		for _, c := range callers {
			t.Run(row.rpc+"/"+c.name, func(t *testing.T) {
				var opts []connect.ClientOption
				if c.u != nil {
					_, access := session(t, c.u)
					opts = append(opts, connect.WithInterceptors(bearer(access)))
				}
				auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, opts...)
				err := row.call(t, auth, c.u)
				want := row.want[c.name]
				if want == codeOK {
					if err != nil {
						t.Fatalf("%s as %s: %v, want success", row.rpc, c.name, err)
					}
					return
				}
				wantCode(t, err, want)
			})
		}
	}
	methods := tutorhubv1.File_tutorhub_v1_auth_proto.Services().ByName("AuthService").Methods()
	for i := 0; i < methods.Len(); i++ {
		procedure := "/" + tutorhubv1connect.AuthServiceName + "/" + string(methods.Get(i).Name())
		if !covered[procedure] {
			t.Errorf("%s is missing from the authorization matrix", procedure)
		}
	}
}
