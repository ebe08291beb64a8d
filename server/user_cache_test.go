package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
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
	u := api.signUpVerified(t)
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

// UpdateMe changes what a tutor profile shows when it changes the display name: the tutor's
// outbox event is written with the user's change, and nothing is written for other fields.
func TestUpdateMeRecordsATutorEventWhenTheDisplayNameChanges(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUpVerified(t)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt())
	created, err := tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL, u.opt()).
		CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "Chemistry"}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetTutor().GetId()
	events := func() []string {
		t.Helper()
		rows, err := api.DB.Query(ctx, `SELECT event_type || '@' || (payload->>'version') FROM outbox WHERE aggregate_type = 'tutor' AND aggregate_id = $1 ORDER BY seq`, id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		update *tutorhubv1.ProfileUpdate
		paths  []string
		want   []string
	}{
		{"bio only: the tutor profile does not show it", &tutorhubv1.ProfileUpdate{Bio: "hi"}, []string{"bio"}, []string{"tutor.created@1"}},
		{"display name: the tutor profile shows it", &tutorhubv1.ProfileUpdate{DisplayName: "Marie"}, []string{"display_name"}, []string{"tutor.created@1", "tutor.profile_changed@2"}},
		{"the same display name again: nothing changed", &tutorhubv1.ProfileUpdate{DisplayName: "Marie"}, []string{"display_name"}, []string{"tutor.created@1", "tutor.profile_changed@2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{Profile: tc.update, UpdateMask: &fieldmaskpb.FieldMask{Paths: tc.paths}}); err != nil {
				t.Fatal(err)
			}
			if got := events(); !slices.Equal(got, tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
		})
	}
}
