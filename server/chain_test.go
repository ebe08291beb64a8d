package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// countHTTP2 counts the responses that came over HTTP/2.
type countHTTP2 struct {
	next        http.RoundTripper
	h2, answers atomic.Int64
}

func (c *countHTTP2) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err == nil {
		c.answers.Add(1)
		if res.ProtoMajor == 2 {
			c.h2.Add(1)
		}
	}
	return res, err
}

// TestTutorRPCsThroughTheProductionChain drives the tutor RPCs through the handler chain
// server.New builds (edge middleware, authentication with real access tokens from Kratos,
// rate limiting, validation, error mapping), served over TLS with HTTP/2 as in production,
// with the same cases over the Connect protocol and over gRPC.
func TestTutorRPCsThroughTheProductionChain(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tlsServer := httptest.NewUnstartedServer(api.Handler)
	tlsServer.EnableHTTP2 = true
	tlsServer.StartTLS()
	t.Cleanup(tlsServer.Close)
	counter := &countHTTP2{next: tlsServer.Client().Transport}
	hc := &http.Client{Transport: counter}
	ctx := context.Background()

	owner, other := api.signUp(t), api.signUp(t)
	// A verified address, in case becoming a tutor requires one; the next token says so.
	testenv.NewMail(t, owner.Email, "Please verify", nil)
	seen := testenv.MailIDs(t, owner.Email)
	start, err := api.authClient().StartVerification(ctx, &tutorhubv1.StartVerificationRequest{Email: owner.Email})
	if err != nil {
		t.Fatal(err)
	}
	_, code := testenv.NewMail(t, owner.Email, "Please verify", seen)
	api.noteSecrets(t, code)
	if _, err := api.authClient().CompleteVerification(ctx, &tutorhubv1.CompleteVerificationRequest{FlowId: start.GetFlowId(), Code: code}); err != nil {
		t.Fatal(err)
	}
	ref, err := api.authClient().Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: owner.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, ref.GetAccessToken())
	owner.AccessToken = ref.GetAccessToken()

	for _, tc := range []struct {
		proto string
		opts  []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
		t.Run(tc.proto, func(t *testing.T) {
			as := func(token string) tutorhubv1connect.TutorServiceClient {
				opts := slices.Clone(tc.opts)
				if token != "" {
					opts = append(opts, connect.WithInterceptors(bearer(token)))
				}
				return tutorhubv1connect.NewTutorServiceClient(hc, tlsServer.URL, opts...)
			}
			anonymous, mine, theirs := as(""), as(owner.AccessToken), as(other.AccessToken)
			headline := "Chain tutor over " + tc.proto + " " + testenv.RandomID()

			_, err := anonymous.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: chainProfile(headline)})
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = as("not-a-token").CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: chainProfile(headline)})
			wantCode(t, err, connect.CodeUnauthenticated)
			// A public RPC ignores the bad token and runs as anonymous.
			_, err = as("not-a-token").GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11"})
			wantCode(t, err, connect.CodeNotFound)
			_, err = mine.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: chainProfile(strings.Repeat("h", 121))})
			wantViolation(t, err, "profile.headline")

			created, err := mine.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: chainProfile(headline)})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			id, version := created.GetTutor().GetId(), created.GetTutor().GetVersion()
			update := &tutorhubv1.UpdateTutorProfileRequest{TutorId: id, Version: version, Profile: &tutorhubv1.TutorProfile{Headline: headline + "!"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"headline"}}}
			_, err = theirs.UpdateTutorProfile(ctx, update)
			wantCode(t, err, connect.CodeNotFound)
			updated, err := mine.UpdateTutorProfile(ctx, update)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			_, err = mine.UpdateTutorProfile(ctx, update)
			wantCode(t, err, connect.CodeAborted)
			if _, err := mine.PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: id}); err != nil {
				t.Fatalf("publish: %v", err)
			}
			got, err := anonymous.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id})
			if err != nil || got.GetTutor().GetProfile().GetHeadline() != headline+"!" || updated.GetTutor().GetVersion() <= version {
				t.Fatalf("public read after publish: %v %v", got, err)
			}
			list, err := anonymous.ListTutors(ctx, &tutorhubv1.ListTutorsRequest{PageSize: 100})
			if err != nil || !slices.ContainsFunc(list.GetTutors(), func(x *tutorhubv1.Tutor) bool { return x.GetId() == id }) {
				t.Fatalf("list after publish: %v", err)
			}
			if _, err := mine.UnpublishTutorProfile(ctx, &tutorhubv1.UnpublishTutorProfileRequest{TutorId: id}); err != nil {
				t.Fatalf("unpublish: %v", err)
			}
			_, err = anonymous.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id})
			wantCode(t, err, connect.CodeNotFound)
			_, err = theirs.DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: id})
			wantCode(t, err, connect.CodeNotFound)
			if _, err := mine.DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: id}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		})
	}
	if n, h2 := counter.answers.Load(), counter.h2.Load(); n == 0 || h2 != n {
		t.Fatalf("%d of %d answers came over HTTP/2", h2, n)
	}
}

// chainProfile is a profile complete enough to publish (mathematics, from the seeded catalogue).
func chainProfile(headline string) *tutorhubv1.TutorProfile {
	return &tutorhubv1.TutorProfile{
		Headline:        headline,
		Bio:             "Patient and clear.",
		Subjects:        []*tutorhubv1.TutorSubject{{SubjectId: "d4706666-3b3f-5254-b858-719197bb6436", Levels: []tutorhubv1.Level{tutorhubv1.Level_LEVEL_SECONDARY}}},
		HourlyRateMinor: 4000,
		Currency:        "EUR",
		Languages:       []string{"en"},
		LessonModes:     []tutorhubv1.LessonMode{tutorhubv1.LessonMode_LESSON_MODE_ONLINE},
		TimeZone:        "Europe/Berlin",
		Availability:    []*tutorhubv1.AvailabilitySlot{{DayOfWeek: tutorhubv1.DayOfWeek_DAY_OF_WEEK_MONDAY, StartMinute: 540, EndMinute: 600}},
	}
}
