package server_test

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// Public profiles and tutor profiles (which show the owner's display name) are cached; a
// read after a committed UpdateMe must never show the old name.
func TestProfileReadsAfterUpdateMeAreFresh(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt())
	tutors := tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL, u.opt())
	created, err := tutors.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "Physics tutor"}})
	if err != nil {
		t.Fatal(err)
	}
	anon := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL)
	me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
	if err != nil || me.GetUser().GetTutorId() != created.GetTutor().GetId() {
		t.Fatalf("GetMe names tutor profile %q (%v), want %q", me.GetUser().GetTutorId(), err, created.GetTutor().GetId())
	}

	for i, name := range []string{"First Name", "Second Name", "Third Name"} {
		// Warm both caches with the current value.
		if _, err := anon.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: u.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := tutors.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: created.GetTutor().GetId()}); err != nil {
			t.Fatal(err)
		}
		if _, err := users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{
			Profile:    &tutorhubv1.ProfileUpdate{DisplayName: name},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}); err != nil {
			t.Fatal(err)
		}
		p, err := anon.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: u.ID})
		if err != nil || p.GetProfile().GetDisplayName() != name {
			t.Fatalf("update %d: public profile shows %q (%v), want %q", i, p.GetProfile().GetDisplayName(), err, name)
		}
		tr, err := tutors.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: created.GetTutor().GetId()})
		if err != nil || tr.GetTutor().GetDisplayName() != name {
			t.Fatalf("update %d: tutor profile shows %q (%v), want %q", i, tr.GetTutor().GetDisplayName(), err, name)
		}
	}
}
