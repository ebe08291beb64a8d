package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// Password change, recovery and logout-all each leave one audit event naming the user as
// actor and subject, with the request's client address, read back through
// AdminService.ListAuditEvents.
func TestSensitiveAuthActionsAreAudited(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	admin := api.admin(t)
	admins := tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, admin.opt())
	for _, tc := range []struct {
		action string
		do     func(t *testing.T, u *testUser)
	}{
		{server.AuditPasswordChanged, func(t *testing.T, u *testUser) {
			newPassword := "audited new passphrase " + testenv.RandomID()
			api.noteSecrets(t, newPassword)
			authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
			res, err := authed.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: u.SessionToken})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, res.GetAccessToken())
		}},
		{server.AuditPasswordRecovered, func(t *testing.T, u *testUser) {
			since := time.Now()
			start, err := api.authClient().StartRecovery(ctx, &tutorhubv1.StartRecoveryRequest{Email: u.Email})
			if err != nil {
				t.Fatal(err)
			}
			code := testenv.MailCode(t, u.Email, "Recover access", since)
			newPassword := "audited recovered passphrase " + testenv.RandomID()
			api.noteSecrets(t, code, newPassword)
			rec, err := api.authClient().CompleteRecovery(ctx, &tutorhubv1.CompleteRecoveryRequest{FlowId: start.GetFlowId(), Code: code, NewPassword: newPassword})
			if err != nil {
				t.Fatal(err)
			}
			api.noteSecrets(t, rec.GetTokens().GetAccessToken(), rec.GetTokens().GetSessionToken())
		}},
		{server.AuditLogoutAll, func(t *testing.T, u *testUser) {
			authed := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, u.opt())
			if _, err := authed.LogoutAll(ctx, &tutorhubv1.LogoutAllRequest{}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			u := api.signUp(t)
			tc.do(t, u)
			res, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{SubjectId: u.ID, Action: tc.action})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.GetEvents()) != 1 {
				t.Fatalf("%d %s events about the user, want 1: %v", len(res.GetEvents()), tc.action, res.GetEvents())
			}
			e := res.GetEvents()[0]
			if e.GetActorId() != u.ID || e.GetSubjectId() != u.ID || e.GetIp() == "" || e.GetOccurTime() == nil {
				t.Fatalf("%s event = %v", tc.action, e)
			}
			// The same row, straight from the append-only table.
			var n int
			if err := api.DB.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = $2 AND subject_id = $2", tc.action, u.ID).Scan(&n); err != nil || n != 1 {
				t.Fatalf("audit_events rows = %d (%v)", n, err)
			}
		})
	}
}
