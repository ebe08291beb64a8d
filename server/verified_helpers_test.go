package server_test

import (
	"context"
	"testing"
	"time"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// signUpVerified registers a fresh user, verifies its email with the code Kratos mails, and
// returns it signed in with an access token that says the email is verified (as a client
// gets by refreshing after verification).
func (api *testAPI) signUpVerified(t testing.TB) *testUser {
	t.Helper()
	since := time.Now().Add(-time.Second)
	u := api.signUp(t)
	ctx := context.Background()
	code := testenv.MailCode(t, u.Email, "Please verify", since)
	api.noteSecrets(t, code)
	auth := api.authClient()
	if _, err := auth.CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: u.VerificationFlowID, Code: code}); err != nil {
		t.Fatalf("verify %s: %v", u.Email, err)
	}
	res, err := auth.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken})
	if err != nil {
		t.Fatalf("refresh after verification: %v", err)
	}
	u.AccessToken = res.GetAccessToken()
	api.noteSecrets(t, u.AccessToken)
	return u
}
