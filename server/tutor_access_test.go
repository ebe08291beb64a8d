package server_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// TestTutorServiceThroughRealAuth checks TutorService behind the API's real authentication
// (access tokens from registration, AccessRules): anonymous, another user, the owner and an
// admin. The handler's full authorization matrix is in tutor_rpc_test.go.
func TestTutorServiceThroughRealAuth(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	owner, other, admin := api.signUpVerified(t), api.signUp(t), api.admin(t)
	client := func(u *testUser) tutorhubv1connect.TutorServiceClient {
		if u == nil {
			return tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL)
		}
		return tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL, u.opt())
	}

	_, err := client(nil).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "x"}})
	wantCode(t, err, connect.CodeUnauthenticated)

	// Becoming a tutor needs a verified email: the access token's email_verified claim.
	_, err = client(other).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "x"}})
	wantCode(t, err, connect.CodeFailedPrecondition)

	created, err := client(owner).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "Maths tutor"}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetTutor().GetId()
	update := func(u *testUser, version int64) error {
		_, err := client(u).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
			TutorId: id, Version: version, Profile: &tutorhubv1.TutorProfile{Headline: "changed"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"headline"}},
		})
		return err
	}
	for name, tc := range map[string]struct {
		u    *testUser
		want connect.Code
	}{"anonymous": {nil, connect.CodeNotFound}, "other user": {other, connect.CodeNotFound}} {
		_, err := client(tc.u).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id})
		if codeOf(err) != tc.want {
			t.Errorf("GetTutor of an unpublished profile as %s: %v, want %v", name, err, tc.want)
		}
	}
	wantCode(t, update(nil, 1), connect.CodeUnauthenticated)
	wantCode(t, update(other, 1), connect.CodeNotFound)
	if err := update(owner, 1); err != nil {
		t.Fatalf("owner update: %v", err)
	}
	if err := update(admin, 2); err != nil {
		t.Fatalf("admin update: %v", err)
	}
	wantCode(t, update(owner, 2), connect.CodeAborted)
	if _, err := client(admin).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id}); err != nil {
		t.Fatalf("admin read of an unpublished profile: %v", err)
	}
	_, err = client(other).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: id})
	wantCode(t, err, connect.CodeNotFound)
	if _, err := client(owner).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: id}); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, http.MethodGet, api.URL+"/api/v1/tutors/"+id, "", nil)
	if status != http.StatusNotFound {
		t.Fatalf("REST GET of a deleted tutor: %d %s", status, body)
	}
	status, _, body = do(t, http.MethodGet, api.URL+"/api/v1/tutors?page_size=5", "", nil)
	if status != http.StatusOK {
		t.Fatalf("REST list: %d %s", status, body)
	}
}
