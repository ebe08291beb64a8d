package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/cache/redistest"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
)

func TestTutorLifecycle(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner := e.user(t)
	c := e.as(owner)

	draft := &tutorhubv1.TutorProfile{Headline: "Maths", Subjects: fullProfile().GetSubjects()}
	created, err := c.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: draft})
	if err != nil {
		t.Fatal(err)
	}
	tutor := created.GetTutor()
	if tutor.GetVersion() != 1 || tutor.GetPublished() || tutor.GetUserId() != owner.UserID || tutor.GetProfile().GetHeadline() != "Maths" {
		t.Fatalf("created %v", tutor)
	}
	if !slices.Contains(rolesOf(t, e.db, owner.UserID), "tutor") {
		t.Fatal("the creator did not become a tutor")
	}

	t.Run("a second profile for the same user already exists", func(t *testing.T) {
		_, err := c.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: draft})
		wantCode(t, err, connect.CodeAlreadyExists)
	})

	t.Run("publishing an incomplete profile names what is missing", func(t *testing.T) {
		_, err := c.PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: tutor.GetId()})
		wantCode(t, err, connect.CodeFailedPrecondition)
		for _, f := range []string{"bio", "hourly_rate_minor", "currency", "languages", "lesson_modes", "time_zone", "availability"} {
			if !strings.Contains(err.Error(), f) || !slices.Contains(violationFields(t, err), "profile."+f) {
				t.Errorf("error does not name %s: %v", f, err)
			}
		}
	})

	t.Run("an update changes only the masked fields", func(t *testing.T) {
		p := fullProfile()
		p.Headline = "ignored: not in the mask"
		res, err := c.UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
			TutorId: tutor.GetId(), Version: 1, Profile: p,
			UpdateMask: mask("bio", "hourly_rate_minor", "currency", "languages", "lesson_modes", "time_zone", "availability"),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := res.GetTutor()
		if got.GetVersion() != 2 || got.GetProfile().GetHeadline() != "Maths" || got.GetProfile().GetBio() != p.GetBio() ||
			!slices.Equal(got.GetProfile().GetLanguages(), []string{"en-GB", "de"}) || len(got.GetProfile().GetAvailability()) != 2 {
			t.Fatalf("updated %v", got)
		}
		tutor = got
	})

	anon := e.as(nil)
	t.Run("an unpublished profile is invisible to others", func(t *testing.T) {
		_, err := anon.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		wantCode(t, err, connect.CodeNotFound)
		if ids := listIDs(t, anon, &tutorhubv1.ListTutorsRequest{}); slices.Contains(ids, tutor.GetId()) {
			t.Fatal("listed while unpublished")
		}
	})

	t.Run("a complete profile publishes and becomes visible", func(t *testing.T) {
		res, err := c.PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: tutor.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if !res.GetTutor().GetPublished() || res.GetTutor().GetVersion() != 3 {
			t.Fatalf("published %v", res.GetTutor())
		}
		got, err := anon.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		if err != nil || !proto.Equal(got.GetTutor(), res.GetTutor()) {
			t.Fatalf("public read = %v, %v", got.GetTutor(), err)
		}
		if ids := listIDs(t, anon, &tutorhubv1.ListTutorsRequest{}); !slices.Contains(ids, tutor.GetId()) {
			t.Fatal("not listed once published")
		}
	})

	t.Run("a published profile must stay complete", func(t *testing.T) {
		_, err := c.UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
			TutorId: tutor.GetId(), Version: 3, Profile: &tutorhubv1.TutorProfile{}, UpdateMask: mask("bio"),
		})
		wantCode(t, err, connect.CodeFailedPrecondition)
	})

	t.Run("unpublishing hides it again", func(t *testing.T) {
		if _, err := c.UnpublishTutorProfile(ctx, &tutorhubv1.UnpublishTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err := anon.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		wantCode(t, err, connect.CodeNotFound)
		if _, err := c.PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a deleted profile is gone everywhere at once", func(t *testing.T) {
		if _, err := anon.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()}); err != nil {
			t.Fatal(err) // cached now
		}
		if _, err := c.DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
			t.Fatal(err)
		}
		for name, client := range map[string]tutorhubv1connect.TutorServiceClient{"anonymous": anon, "owner": c} {
			_, err := client.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
			wantCode(t, err, connect.CodeNotFound)
			if slices.Contains(listIDs(t, client, &tutorhubv1.ListTutorsRequest{}), tutor.GetId()) {
				t.Fatalf("%s still lists it", name)
			}
		}
		_, err := c.UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{TutorId: tutor.GetId(), Version: 5, Profile: fullProfile(), UpdateMask: mask("bio")})
		wantCode(t, err, connect.CodeNotFound)
		_, err = c.DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: tutor.GetId()})
		wantCode(t, err, connect.CodeNotFound)
		if slices.Contains(rolesOf(t, e.db, owner.UserID), "tutor") {
			t.Fatal("the tutor role outlived the profile")
		}
		if _, err := c.CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: draft}); err != nil {
			t.Fatalf("a new profile after deleting the old one: %v", err)
		}
	})

	want := []string{"tutor.created", "tutor.updated", "tutor.published", "tutor.unpublished", "tutor.published", "tutor.deleted"}
	if got := e.outboxEvents(t, tutor.GetId()); !slices.Equal(got, want) {
		t.Fatalf("outbox events %v, want %v", got, want)
	}
}

func listIDs(t testing.TB, c tutorhubv1connect.TutorServiceClient, req *tutorhubv1.ListTutorsRequest) []string {
	t.Helper()
	var ids []string
	for _, tu := range listAllTutors(t, c, req) {
		ids = append(ids, tu.GetId())
	}
	return ids
}

func listAllTutors(t testing.TB, c tutorhubv1connect.TutorServiceClient, req *tutorhubv1.ListTutorsRequest) []*tutorhubv1.Tutor {
	t.Helper()
	var all []*tutorhubv1.Tutor
	req = proto.CloneOf(req)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not terminate")
		}
		res, err := c.ListTutors(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.GetTutors()...)
		if res.GetNextPageToken() == "" {
			return all
		}
		req.PageToken = res.GetNextPageToken()
	}
}

func TestUpdateTutorProfileConflicts(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), false)

	t.Run("of two concurrent updates from one version, one wins and one is aborted", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
					TutorId: tutor.GetId(), Version: 1, UpdateMask: mask("headline"),
					Profile: &tutorhubv1.TutorProfile{Headline: fmt.Sprintf("writer %d", i)},
				})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case codeOf(err) != connect.CodeAborted:
				t.Fatalf("loser got %v, want Aborted", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d writers won, want exactly 1", won)
		}
		if row := e.storedRow(t, tutor.GetId()); row.Version != 2 {
			t.Fatalf("version %d after one winning write", row.Version)
		}
	})

	t.Run("a stale version is aborted and changes nothing", func(t *testing.T) {
		before := e.storedRow(t, tutor.GetId())
		_, err := e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
			TutorId: tutor.GetId(), Version: 1, UpdateMask: mask("bio"), Profile: &tutorhubv1.TutorProfile{Bio: "lost"},
		})
		wantCode(t, err, connect.CodeAborted)
		if after := e.storedRow(t, tutor.GetId()); !sameRow(before, after) {
			t.Fatal("an aborted update changed the row")
		}
	})
}

func sameRow(a, b storedTutor) bool { return a == b }

func TestTutorBadInputIsRefusedAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), false)
	cases := []struct {
		name   string
		change func(p *tutorhubv1.TutorProfile)
		path   string
		field  string
	}{
		{"unknown subject", func(p *tutorhubv1.TutorProfile) { p.Subjects[0].SubjectId = uuid.NewString() }, "subjects", "profile.subjects[0].subject_id"},
		{"negative price", func(p *tutorhubv1.TutorProfile) { p.HourlyRateMinor = -100 }, "hourly_rate_minor", "profile.hourly_rate_minor"},
		{"absurd price", func(p *tutorhubv1.TutorProfile) { p.HourlyRateMinor = 90_000_00 }, "hourly_rate_minor", "profile.hourly_rate_minor"},
		{"unknown currency", func(p *tutorhubv1.TutorProfile) { p.Currency = "ABC" }, "currency", "profile.currency"},
		{"lower-case currency", func(p *tutorhubv1.TutorProfile) { p.Currency = "eur" }, "currency", "profile.currency"},
		{"overlapping slots", func(p *tutorhubv1.TutorProfile) { p.Availability[1].StartMinute = 590 }, "availability", "profile.availability[1].start_minute"},
		{"inverted slot", func(p *tutorhubv1.TutorProfile) { p.Availability[1].EndMinute = 500 }, "availability", "profile.availability[1].end_minute"},
		{"oversized headline", func(p *tutorhubv1.TutorProfile) { p.Headline = strings.Repeat("h", 121) }, "headline", "profile.headline"},
		{"oversized bio", func(p *tutorhubv1.TutorProfile) { p.Bio = strings.Repeat("b", 5001) }, "bio", "profile.bio"},
		{"control characters", func(p *tutorhubv1.TutorProfile) { p.Headline = "a\x1bb" }, "headline", "profile.headline"},
		{"invalid time zone", func(p *tutorhubv1.TutorProfile) { p.TimeZone = "Europe/Atlantis" }, "time_zone", "profile.time_zone"},
		{"invalid language", func(p *tutorhubv1.TutorProfile) { p.Languages = []string{"en", "xx-invalid-tag!"} }, "languages", "profile.languages[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fullProfile()
			tc.change(p)
			before := e.storedRow(t, tutor.GetId())
			events := len(e.outboxEvents(t, tutor.GetId()))
			_, err := e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
				TutorId: tutor.GetId(), Version: before.Version, Profile: p, UpdateMask: mask(tc.path),
			})
			wantCode(t, err, connect.CodeInvalidArgument)
			if fields := violationFields(t, err); !slices.Contains(fields, tc.field) {
				t.Fatalf("violations %v, want %s", fields, tc.field)
			}
			if after := e.storedRow(t, tutor.GetId()); !sameRow(before, after) || len(e.outboxEvents(t, tutor.GetId())) != events {
				t.Fatal("a refused update changed the row or recorded an event")
			}

			other := e.user(t)
			_, err = e.as(other).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: p})
			wantCode(t, err, connect.CodeInvalidArgument)
			var n int
			if err := e.db.QueryRow(ctx, `SELECT count(*) FROM tutors WHERE user_id = $1`, other.UserID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("a refused create stored %d rows (%v)", n, err)
			}
		})
	}
}

func TestTutorAuthorization(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner, other, admin := e.user(t), e.user(t), e.user(t, "admin")
	published := e.create(t, owner, fullProfile(), true)
	secondOwner := e.user(t)
	unpublished := e.create(t, secondOwner, fullProfile(), false)

	type rpc func(c tutorhubv1connect.TutorServiceClient, id string) error
	rpcs := map[string]rpc{
		"GetTutor": func(c tutorhubv1connect.TutorServiceClient, id string) error {
			_, err := c.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id})
			return err
		},
		"UpdateTutorProfile": func(c tutorhubv1connect.TutorServiceClient, id string) error {
			row := e.storedRow(t, id)
			_, err := c.UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{TutorId: id, Version: row.Version, Profile: &tutorhubv1.TutorProfile{Headline: "changed"}, UpdateMask: mask("headline")})
			return err
		},
		"PublishTutorProfile": func(c tutorhubv1connect.TutorServiceClient, id string) error {
			_, err := c.PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: id})
			return err
		},
		"UnpublishTutorProfile": func(c tutorhubv1connect.TutorServiceClient, id string) error {
			_, err := c.UnpublishTutorProfile(ctx, &tutorhubv1.UnpublishTutorProfileRequest{TutorId: id})
			return err
		},
	}
	// The expected code per caller for a published and an unpublished profile.
	type want struct{ published, unpublished connect.Code }
	const ok = connect.Code(0)
	expect := map[string]map[string]want{
		"GetTutor":              {"anonymous": {ok, connect.CodeNotFound}, "other user": {ok, connect.CodeNotFound}, "owner": {ok, ok}, "admin": {ok, ok}},
		"UpdateTutorProfile":    {"anonymous": {connect.CodeUnauthenticated, connect.CodeUnauthenticated}, "other user": {connect.CodePermissionDenied, connect.CodeNotFound}, "owner": {ok, ok}, "admin": {ok, ok}},
		"PublishTutorProfile":   {"anonymous": {connect.CodeUnauthenticated, connect.CodeUnauthenticated}, "other user": {connect.CodePermissionDenied, connect.CodeNotFound}, "owner": {ok, ok}, "admin": {ok, ok}},
		"UnpublishTutorProfile": {"anonymous": {connect.CodeUnauthenticated, connect.CodeUnauthenticated}, "other user": {connect.CodePermissionDenied, connect.CodeNotFound}, "owner": {ok, ok}, "admin": {ok, ok}},
	}
	// reset puts both profiles back in their states, whatever the previous case did.
	reset := func(t *testing.T) {
		for _, target := range []*tutorhubv1.Tutor{published, unpublished} {
			if _, err := e.db.Exec(ctx, `UPDATE tutors SET published = $2 WHERE id = $1`, target.GetId(), target == published); err != nil {
				t.Fatal(err)
			}
			e.cache.Invalidate(ctx, tutors.CacheKey(uuid.MustParse(target.GetId())))
		}
	}
	callers := map[string]*Caller{"anonymous": nil, "other user": other, "admin": admin}
	ownerOf := map[string]*Caller{published.GetId(): owner, unpublished.GetId(): secondOwner}
	for name, call := range rpcs {
		for _, who := range []string{"anonymous", "other user", "owner", "admin"} {
			for _, target := range []*tutorhubv1.Tutor{published, unpublished} {
				state, w := "published", expect[name][who].published
				if target == unpublished {
					state, w = "unpublished", expect[name][who].unpublished
				}
				t.Run(fmt.Sprintf("%s as %s on a %s profile", name, who, state), func(t *testing.T) {
					reset(t)
					c := callers[who]
					if who == "owner" {
						c = ownerOf[target.GetId()]
					}
					err := call(e.as(c), target.GetId())
					if w == ok && err != nil || w != ok && codeOf(err) != w {
						t.Fatalf("got %v, want %v", err, w)
					}
				})
			}
		}
	}

	t.Run("CreateTutorProfile needs a signed-in caller", func(t *testing.T) {
		_, err := e.as(nil).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: fullProfile()})
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("ListTutors shows unpublished profiles to admins only", func(t *testing.T) {
		reset(t)
		_, err := e.as(nil).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{IncludeUnpublished: true})
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.as(owner).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{IncludeUnpublished: true})
		wantCode(t, err, connect.CodePermissionDenied)
		if ids := listIDs(t, e.as(admin), &tutorhubv1.ListTutorsRequest{IncludeUnpublished: true}); !slices.Contains(ids, unpublished.GetId()) {
			t.Fatal("admin list misses the unpublished profile")
		}
		if ids := listIDs(t, e.as(other), &tutorhubv1.ListTutorsRequest{}); slices.Contains(ids, unpublished.GetId()) || !slices.Contains(ids, published.GetId()) {
			t.Fatalf("public list = %v", ids)
		}
	})
	for who, c := range map[string]*Caller{"anonymous": nil, "other user": other} {
		for _, target := range []*tutorhubv1.Tutor{published, unpublished} {
			t.Run("DeleteTutorProfile is refused to "+who, func(t *testing.T) {
				_, err := e.as(c).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: target.GetId()})
				if err == nil {
					t.Fatal("deleted")
				}
				e.storedRow(t, target.GetId())
			})
		}
	}
	t.Run("DeleteTutorProfile by an admin", func(t *testing.T) {
		if _, err := e.as(admin).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: unpublished.GetId()}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DeleteTutorProfile by the owner", func(t *testing.T) {
		if _, err := e.as(owner).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: published.GetId()}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListTutorsFilters(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	type spec struct {
		subject  string
		level    tutorhubv1.Level
		rate     int64
		currency string
		langs    []string
		modes    []tutorhubv1.LessonMode
	}
	online, inPerson := tutorhubv1.LessonMode_LESSON_MODE_ONLINE, tutorhubv1.LessonMode_LESSON_MODE_IN_PERSON
	specs := []spec{
		{mathsID, tutorhubv1.Level_LEVEL_PRIMARY, 2000, "EUR", []string{"en"}, []tutorhubv1.LessonMode{online}},
		{mathsID, tutorhubv1.Level_LEVEL_ADULT, 3000, "EUR", []string{"de", "en-GB"}, []tutorhubv1.LessonMode{inPerson}},
		{physicsID, tutorhubv1.Level_LEVEL_PRIMARY, 4000, "USD", []string{"fr"}, []tutorhubv1.LessonMode{online, inPerson}},
		{physicsID, tutorhubv1.Level_LEVEL_UNDERGRADUATE, 5000, "USD", []string{"en-US"}, []tutorhubv1.LessonMode{online}},
		{mathsID, tutorhubv1.Level_LEVEL_UNDERGRADUATE, 3000, "GBP", []string{"en"}, []tutorhubv1.LessonMode{online}},
	}
	byName := map[string]int{}
	for i, s := range specs {
		p := fullProfile()
		p.Subjects = []*tutorhubv1.TutorSubject{{SubjectId: s.subject, Levels: []tutorhubv1.Level{s.level}}}
		p.HourlyRateMinor, p.Currency, p.Languages, p.LessonModes = s.rate, s.currency, s.langs, s.modes
		tu := e.create(t, e.user(t), p, true)
		byName[tu.GetId()] = i
	}
	e.create(t, e.user(t), fullProfile(), false) // unpublished: never listed
	cases := []struct {
		name string
		req  *tutorhubv1.ListTutorsRequest
		want []int // indexes into specs, in currency, rate then id order
	}{
		{"no filter", &tutorhubv1.ListTutorsRequest{}, []int{0, 1, 4, 2, 3}},
		{"subject", &tutorhubv1.ListTutorsRequest{SubjectId: mathsID}, []int{0, 1, 4}},
		{"subject and level", &tutorhubv1.ListTutorsRequest{SubjectId: physicsID, Level: tutorhubv1.Level_LEVEL_PRIMARY}, []int{2}},
		{"language matches regional variants", &tutorhubv1.ListTutorsRequest{Language: "en"}, []int{0, 1, 4, 3}},
		{"regional language", &tutorhubv1.ListTutorsRequest{Language: "en-gb"}, []int{1}},
		{"lesson mode", &tutorhubv1.ListTutorsRequest{LessonMode: inPerson}, []int{1, 2}},
		{"currency", &tutorhubv1.ListTutorsRequest{Currency: "USD"}, []int{2, 3}},
		{"minimum rate in a currency", &tutorhubv1.ListTutorsRequest{MinHourlyRateMinor: 3000, Currency: "EUR"}, []int{1}},
		{"maximum rate in a currency", &tutorhubv1.ListTutorsRequest{MaxHourlyRateMinor: 4000, Currency: "USD"}, []int{2}},
		{"rate range and currency", &tutorhubv1.ListTutorsRequest{MinHourlyRateMinor: 2500, MaxHourlyRateMinor: 4500, Currency: "EUR"}, []int{1}},
		{"every filter", &tutorhubv1.ListTutorsRequest{SubjectId: mathsID, Level: tutorhubv1.Level_LEVEL_UNDERGRADUATE, Language: "en", LessonMode: online, Currency: "GBP", MinHourlyRateMinor: 1000, MaxHourlyRateMinor: 9000}, []int{4}},
		{"nothing matches", &tutorhubv1.ListTutorsRequest{SubjectId: physicsID, Language: "de"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int32{1, 2, 100} {
				req := proto.CloneOf(tc.req)
				req.PageSize = size
				var got []int
				for _, tu := range listAllTutors(t, e.as(nil), req) {
					got = append(got, byName[tu.GetId()])
				}
				// Tutors at one rate come in id order, which the test does not control.
				if !sameMultiset(got, tc.want) || !slices.IsSortedFunc(got, func(a, b int) int {
					return cmp.Or(cmp.Compare(specs[a].currency, specs[b].currency), cmp.Compare(specs[a].rate, specs[b].rate))
				}) {
					t.Fatalf("page size %d: got %v, want %v", size, got, tc.want)
				}
			}
		})
	}
	t.Run("invalid filters are refused", func(t *testing.T) {
		for _, req := range []*tutorhubv1.ListTutorsRequest{
			{Level: tutorhubv1.Level_LEVEL_ADULT}, {MinHourlyRateMinor: 500, MaxHourlyRateMinor: 100},
			{SubjectId: "maths"}, {Language: "not a language"}, {Currency: "eur"}, {PageSize: 101},
		} {
			_, err := e.as(nil).ListTutors(context.Background(), req)
			wantCode(t, err, connect.CodeInvalidArgument)
		}
	})
	t.Run("a price filter needs a currency", func(t *testing.T) {
		for _, req := range []*tutorhubv1.ListTutorsRequest{{MinHourlyRateMinor: 3000}, {MaxHourlyRateMinor: 3000}, {MinHourlyRateMinor: 1, MaxHourlyRateMinor: 9000}} {
			_, err := e.as(nil).ListTutors(context.Background(), req)
			wantCode(t, err, connect.CodeInvalidArgument)
			if f := violationFields(t, err); !slices.Equal(f, []string{"currency"}) {
				t.Fatalf("%v: violations on %v, want currency", req, f)
			}
		}
	})
	t.Run("a page token only works with its own filters", func(t *testing.T) {
		res, err := e.as(nil).ListTutors(context.Background(), &tutorhubv1.ListTutorsRequest{PageSize: 1})
		if err != nil || res.GetNextPageToken() == "" {
			t.Fatalf("first page: %v", err)
		}
		_, err = e.as(nil).ListTutors(context.Background(), &tutorhubv1.ListTutorsRequest{PageSize: 1, Currency: "EUR", PageToken: res.GetNextPageToken()})
		wantCode(t, err, connect.CodeInvalidArgument)
		_, err = e.as(nil).ListTutors(context.Background(), &tutorhubv1.ListTutorsRequest{PageToken: res.GetNextPageToken() + "x"})
		wantCode(t, err, connect.CodeInvalidArgument)
	})
}

func sameMultiset(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestListTutorsPaginationUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	q := queries.New(e.db)
	if _, err := q.SeedTutors(ctx, queries.SeedTutorsParams{Seed: 7, First: 1, Count: 400}); err != nil {
		t.Fatal(err)
	}
	// Stable rows: published ones not touched by the writer below.
	var stable []string
	rows, err := e.db.Query(ctx, `SELECT id::text FROM tutors WHERE published AND deleted_at IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		stable = append(stable, id)
	}
	victims := stable[:50]
	stable = stable[50:]

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		next := int64(1000)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := q.SeedTutors(ctx, queries.SeedTutorsParams{Seed: 7, First: next, Count: 3}); err != nil {
				t.Error(err)
				return
			}
			next += 3
			if i < len(victims) {
				if _, err := q.DeleteTutor(ctx, uuid.MustParse(victims[i])); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	var got []*tutorhubv1.Tutor
	for range 3 {
		got = listAllTutors(t, e.as(nil), &tutorhubv1.ListTutorsRequest{PageSize: 7})
	}
	close(stop)
	wg.Wait()

	seen := map[string]bool{}
	for i, tu := range got {
		if seen[tu.GetId()] {
			t.Fatalf("%s listed twice", tu.GetId())
		}
		seen[tu.GetId()] = true
		if i > 0 {
			prev := got[i-1]
			pp, tp := prev.GetProfile(), tu.GetProfile()
			if c := cmp.Or(cmp.Compare(pp.GetCurrency(), tp.GetCurrency()), cmp.Compare(pp.GetHourlyRateMinor(), tp.GetHourlyRateMinor()),
				cmp.Compare(prev.GetId(), tu.GetId())); c >= 0 {
				t.Fatalf("out of order at %d", i)
			}
		}
	}
	for _, id := range stable {
		if !seen[id] {
			t.Fatalf("%s existed throughout and was skipped", id)
		}
	}
}

func TestGetTutorNeverServesAValueOlderThanACommittedWrite(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), true)
	readers := e.as(nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // keep the cache hot and loads in flight while writes commit
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = readers.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
				}
			}
		})
	}
	version := tutor.GetVersion()
	for i := range 30 {
		res, err := e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
			TutorId: tutor.GetId(), Version: version, UpdateMask: mask("headline"),
			Profile: &tutorhubv1.TutorProfile{Headline: fmt.Sprintf("headline %d", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		version = res.GetTutor().GetVersion()
		for range 3 {
			got, err := readers.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetTutor().GetVersion() < version {
				t.Fatalf("read version %d after version %d committed", got.GetTutor().GetVersion(), version)
			}
		}
	}
	close(stop)
	wg.Wait()
	if s := e.cache.Stats(); s.Hits == 0 {
		t.Fatalf("the cache was never hit: %+v", s)
	}
}

func TestGetTutorServesFromPostgresWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newTutorEnv(t, srv.Client(t), "t:")
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), true)
	if _, err := e.as(nil).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	res, err := e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
		TutorId: tutor.GetId(), Version: tutor.GetVersion(), UpdateMask: mask("headline"), Profile: &tutorhubv1.TutorProfile{Headline: "while Redis is down"},
	})
	if err != nil {
		t.Fatalf("a write with Redis down: %v", err)
	}
	for range 5 {
		got, err := e.as(nil).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		if err != nil {
			t.Fatalf("a read with Redis down: %v", err)
		}
		if got.GetTutor().GetVersion() != res.GetTutor().GetVersion() {
			t.Fatal("a read with Redis down returned an old version")
		}
	}
	_, err = e.as(nil).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: uuid.NewString()})
	wantCode(t, err, connect.CodeNotFound)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("degraded calls took %v", d)
	}
	if e.cache.Stats().RedisErrors == 0 {
		t.Fatal("Redis errors were not counted")
	}
}

func TestOutboxRowCommitsOrRollsBackWithTheChange(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), false)
	if got := e.outboxEvents(t, tutor.GetId()); !slices.Equal(got, []string{"tutor.created"}) {
		t.Fatalf("events after create: %v", got)
	}
	var payload map[string]any
	if err := e.db.QueryRow(ctx, `SELECT payload FROM outbox WHERE aggregate_id = $1`, tutor.GetId()).Scan(&payload); err != nil || payload["tutor_id"] != tutor.GetId() || payload["schema"] != float64(tutors.EventSchema) {
		t.Fatalf("payload %v, %v", payload, err)
	}

	// The outbox refuses the next event: the profile change must roll back with it.
	if _, err := e.db.Exec(ctx, `
		CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
		CREATE TRIGGER refuse_event BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_event();`); err != nil {
		t.Fatal(err)
	}
	before := e.storedRow(t, tutor.GetId())
	_, err := e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
		TutorId: tutor.GetId(), Version: before.Version, UpdateMask: mask("headline"), Profile: &tutorhubv1.TutorProfile{Headline: "never stored"},
	})
	wantCode(t, err, connect.CodeInternal)
	if after := e.storedRow(t, tutor.GetId()); !sameRow(before, after) {
		t.Fatal("the change committed without its outbox row")
	}
	_, err = e.as(owner).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: tutor.GetId()})
	wantCode(t, err, connect.CodeInternal)
	e.storedRow(t, tutor.GetId()) // still live

	if _, err := e.db.Exec(ctx, `DROP TRIGGER refuse_event ON outbox`); err != nil {
		t.Fatal(err)
	}
	// The row refuses the change (a CHECK constraint): no event is recorded.
	if _, err := e.db.Exec(ctx, `ALTER TABLE tutors ADD CONSTRAINT no_secret CHECK (headline <> 'secret')`); err != nil {
		t.Fatal(err)
	}
	_, err = e.as(owner).UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
		TutorId: tutor.GetId(), Version: before.Version, UpdateMask: mask("headline"), Profile: &tutorhubv1.TutorProfile{Headline: "secret"},
	})
	wantCode(t, err, connect.CodeInternal)
	if got := e.outboxEvents(t, tutor.GetId()); !slices.Equal(got, []string{"tutor.created"}) {
		t.Fatalf("events after refused changes: %v", got)
	}
}

func TestCreateTutorProfileNeedsAVerifiedEmail(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	unverified := e.unverifiedUser(t)
	_, err := e.as(unverified).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: fullProfile()})
	wantCode(t, err, connect.CodeFailedPrecondition)
	if f := violationFields(t, err); !slices.Equal(f, []string{"email"}) {
		t.Fatalf("violations on %v, want email", f)
	}
	if roles := rolesOf(t, e.db, unverified.UserID); slices.Contains(roles, "tutor") {
		t.Fatal("a refused profile granted the tutor role")
	}
	e.create(t, e.user(t), fullProfile(), false) // verified: allowed

	// With the policy off, an unverified user may become a tutor.
	relaxed := NewTutorServer(tutors.New(e.db, tutors.Options{AllowUnverifiedEmail: true}), nil)
	if _, err := relaxed.CreateTutorProfile(WithCaller(ctx, unverified), &tutorhubv1.CreateTutorProfileRequest{Profile: fullProfile()}); err != nil {
		t.Fatalf("with the policy off: %v", err)
	}
}

func TestTutorWritesAreAuditedWithTheirOutboxEvents(t *testing.T) {
	t.Parallel()
	e := newTutorEnv(t, nil, "")
	ctx := context.Background()
	owner, admin := e.user(t), e.user(t, RoleAdmin)
	tutor := e.create(t, owner, fullProfile(), false)
	if _, err := e.as(admin).PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as(owner).PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
		t.Fatal(err) // already published: no change, nothing recorded
	}
	if _, err := e.as(admin).DeleteTutorProfile(ctx, &tutorhubv1.DeleteTutorProfileRequest{TutorId: tutor.GetId()}); err != nil {
		t.Fatal(err)
	}
	rows, err := e.db.Query(ctx, `SELECT action || ' by ' || actor_id || ' of ' || subject_id || ' v' || (details->>'version')
		FROM audit_events WHERE details->>'tutor_id' = $1 ORDER BY occurred_at, action`, tutor.GetId())
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tutor.created by " + owner.UserID + " of " + owner.UserID + " v1",
		"tutor.published by " + admin.UserID + " of " + owner.UserID + " v2",
		"tutor.deleted by " + admin.UserID + " of " + owner.UserID + " v3",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit log %v, want %v", got, want)
	}
	if events := e.outboxEvents(t, tutor.GetId()); !slices.Equal(events, []string{"tutor.created", "tutor.published", "tutor.deleted"}) {
		t.Fatalf("outbox %v", events)
	}
}
