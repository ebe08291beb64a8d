package server_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Display names are shown on tutor profiles, so they pass the same plain-text rule as a
// profile's headline, at sign-up and on UpdateMe alike.
func TestDisplayNamesArePlainText(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt())
	for name, bad := range map[string]string{
		"a bidi override":    "Ada\u202eecalovoL",
		"a line break":       "Ada\nLovelace",
		"a control":          "Ada\x07",
		"a paragraph break":  "Ada\u2029Lovelace",
		"an invisible space": "Ada\u2060",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := api.authClient().Register(ctx, &tutorhubv1.RegisterRequest{Email: testenv.UniqueEmail("name"), Password: testPassword, DisplayName: bad})
			wantCode(t, err, connect.CodeInvalidArgument)
			wantViolation(t, err, "display_name")
			_, err = users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{
				Profile: &tutorhubv1.ProfileUpdate{DisplayName: bad}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			})
			wantCode(t, err, connect.CodeInvalidArgument)
			wantViolation(t, err, "profile.display_name")
		})
	}
}
