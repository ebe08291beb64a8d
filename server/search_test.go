package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/subjects"
	"github.com/tutorhub/tutorhub/tutors"
)

// searchEnv is a real API server with tutors written through the tutors package and indexed
// through the search package. Until the worker indexes tutors from the outbox (issue 11,
// IndexTutor), the tests fill the index themselves: index reads the tutor as the indexer
// will and upserts (or deletes) its document in the same PostgreSQL index the API searches.
type searchEnv struct {
	api    *testAPI
	tutors *tutors.Service
	engine search.Engine
	client tutorhubv1connect.SearchServiceClient
}

var searchMathsID = uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436")

func newSearchEnv(t testing.TB, opts ...apiOption) *searchEnv {
	t.Helper()
	api := newTestAPI(t, opts...)
	return &searchEnv{
		api:    api,
		tutors: tutors.New(api.DB, tutors.Options{}),
		// The same database and cursor secret as the server's default engine.
		engine: search.NewPostgres(api.DB, pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))),
		client: tutorhubv1connect.NewSearchServiceClient(http.DefaultClient, api.URL),
	}
}

// tutor creates a complete profile with bio for a new user and publishes it when asked.
func (e *searchEnv) tutor(t testing.TB, name, bio string, publish bool) tutors.Tutor {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	if _, err := e.api.DB.Exec(ctx, `INSERT INTO users (id, email, display_name, roles) VALUES ($1, $2, $3, '{student}')`,
		id, id.String()+"@example.com", name); err != nil {
		t.Fatal(err)
	}
	owner := tutors.Actor{UserID: id, EmailVerified: true}
	tu, err := e.tutors.Create(ctx, owner, tutors.Profile{
		Headline: "Patient maths tutor", Bio: bio, HourlyRateMinor: 4500, Currency: "EUR",
		Subjects:  []tutors.Subject{{SubjectID: searchMathsID, Levels: []string{"secondary"}}},
		Languages: []string{"en-GB"}, LessonModes: []string{"online"}, TimeZone: "Europe/Berlin",
		Availability: []tutors.Slot{{Day: 1, Start: 540, End: 600}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if publish {
		if tu, err = e.tutors.Publish(ctx, owner, tu.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.index(t, tu.ID)
	return tu
}

// index does what the indexer will do for an event about tutor id: read the live profile
// and upsert its document, or store a tombstone when the profile is deleted.
func (e *searchEnv) index(t testing.TB, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	tu, err := e.tutors.Get(ctx, &tutors.Actor{Admin: true}, id)
	if tutorhubErrIsNotFound(err) {
		var version int64
		if err := e.api.DB.QueryRow(ctx, `SELECT version FROM tutors WHERE id = $1`, id).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if err := e.engine.Delete(ctx, id, version); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	names := map[uuid.UUID]string{}
	for _, s := range tu.Profile.Subjects {
		sub, err := subjects.New(e.api.DB).Get(ctx, s.SubjectID)
		if err != nil {
			t.Fatal(err)
		}
		names[s.SubjectID] = sub.Name
	}
	if err := e.engine.Upsert(ctx, search.FromTutor(tu, names)); err != nil {
		t.Fatal(err)
	}
}

func tutorhubErrIsNotFound(err error) bool {
	return tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hitIDs(hits []*tutorhubv1.TutorSearchHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.GetTutorId())
	}
	return out
}

// searchViolationFields are the fields an error's buf.validate.Violations detail names.
func searchViolationFields(t *testing.T, err error) []string {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a Connect error: %v", err)
	}
	var out []string
	for _, d := range ce.Details() {
		m, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := m.(*validatepb.Violations); ok {
			for _, x := range v.GetViolations() {
				out = append(out, protovalidate.FieldPathString(x.GetField()))
			}
		}
	}
	return out
}

func TestSearchTutorsFindsOnlyPublishedLiveTutors(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	ctx := context.Background()
	live := e.tutor(t, "Greta Gauss", "I explain logarithms with origami.", true)
	draft := e.tutor(t, "Dieter Draft", "I explain logarithms with music.", false)
	unpublished := e.tutor(t, "Uma Unpublished", "I explain logarithms with chess.", true)
	deleted := e.tutor(t, "Dora Deleted", "I explain logarithms with cooking.", true)

	if _, err := e.tutors.Unpublish(ctx, tutors.Actor{Admin: true}, unpublished.ID); err != nil {
		t.Fatal(err)
	}
	e.index(t, unpublished.ID)
	if err := e.tutors.Delete(ctx, tutors.Actor{Admin: true}, deleted.ID); err != nil {
		t.Fatal(err)
	}
	e.index(t, deleted.ID)

	t.Run("connect", func(t *testing.T) {
		res, err := e.client.SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: "logarithms"})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(res.GetHits()); !slices.Equal(got, []string{live.ID.String()}) {
			t.Fatalf("hits %v, want only %s (not the draft %s, the unpublished %s or the deleted %s)", got, live.ID, draft.ID, unpublished.ID, deleted.ID)
		}
		h := res.GetHits()[0]
		if h.GetDisplayName() != "Greta Gauss" || h.GetCurrency() != "EUR" || h.GetHourlyRateMinor() != 4500 ||
			len(h.GetSubjects()) != 1 || h.GetSubjects()[0].GetSubjectId() != searchMathsID.String() ||
			!slices.Equal(h.GetSubjects()[0].GetLevels(), []tutorhubv1.Level{tutorhubv1.Level_LEVEL_SECONDARY}) ||
			!slices.Equal(h.GetLessonModes(), []tutorhubv1.LessonMode{tutorhubv1.LessonMode_LESSON_MODE_ONLINE}) ||
			h.GetVersion() != live.Version || h.GetScore() <= 0 {
			t.Fatalf("hit %v", h)
		}
	})

	t.Run("a word of the bio, a typo and the subject name find the tutor", func(t *testing.T) {
		for _, q := range []string{"origami", "origamy", "Mathematics", "greta"} {
			res, err := e.client.SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			if got := hitIDs(res.GetHits()); !slices.Contains(got, live.ID.String()) {
				t.Errorf("search %q = %v, want %s", q, got, live.ID)
			}
		}
	})

	t.Run("REST", func(t *testing.T) {
		q := url.Values{"query": {"logarithms"}, "subject_id": {searchMathsID.String()}, "facets": {"SEARCH_FACET_SUBJECT", "SEARCH_FACET_LEVEL"}, "lesson_mode": {"LESSON_MODE_ONLINE"}}
		status, _, body := do(t, http.MethodGet, e.api.URL+"/api/v1/search/tutors?"+q.Encode(), "", nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		m := decodeJSON(t, body)
		hits, _ := m["hits"].([]any)
		if len(hits) != 1 || hits[0].(map[string]any)["tutorId"] != live.ID.String() {
			t.Fatalf("hits %v", m["hits"])
		}
		facets, _ := m["facets"].([]any)
		want := []string{
			`{"facet":"SEARCH_FACET_SUBJECT","values":[{"count":"1","value":"` + searchMathsID.String() + `"}]}`,
			`{"facet":"SEARCH_FACET_LEVEL","values":[{"count":"1","value":"LEVEL_SECONDARY"}]}`,
		}
		if len(facets) != len(want) {
			t.Fatalf("facets %v", facets)
		}
		for i, f := range facets {
			if got := mustJSON(t, f); got != want[i] {
				t.Errorf("facet %d = %s, want %s", i, got, want[i])
			}
		}
	})
}

func TestSearchTutorsPagesAndSortsByPrice(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	ctx := context.Background()
	var want []string
	for _, name := range []string{"Ann", "Ben", "Cay"} {
		want = append(want, e.tutor(t, name+" Pager", "Lessons on trigonometry.", true).ID.String())
	}
	var got []string
	req := &tutorhubv1.SearchTutorsRequest{Query: "trigonometry", PageSize: 2, Sort: tutorhubv1.SearchSort_SEARCH_SORT_PRICE}
	for range 3 {
		res, err := e.client.SearchTutors(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hitIDs(res.GetHits())...)
		if res.GetNextPageToken() == "" {
			break
		}
		req.PageToken = res.GetNextPageToken()
	}
	slices.Sort(want) // equal prices: id order
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
}

func TestSearchTutorsBadInputIsInvalidArgument(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	ctx := context.Background()
	e.tutor(t, "Tom Token", "Lessons on calculus.", true)
	e.tutor(t, "Tia Token", "Lessons on calculus.", true)
	first, err := e.client.SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: "calculus", PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", first, err)
	}
	tok := []byte(first.GetNextPageToken())
	tok[len(tok)/2] ^= 0x01
	for _, tc := range []struct {
		name  string
		req   *tutorhubv1.SearchTutorsRequest
		field string
	}{
		{"empty query", &tutorhubv1.SearchTutorsRequest{}, "query"},
		{"huge query", &tutorhubv1.SearchTutorsRequest{Query: strings.Repeat("x", 201)}, "query"},
		{"a query of punctuation", &tutorhubv1.SearchTutorsRequest{Query: "?!* &|"}, "query"},
		{"too many words", &tutorhubv1.SearchTutorsRequest{Query: strings.Repeat("a ", 13)}, "query"},
		{"unknown level", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Level: 99}, "level"},
		{"unknown lesson mode", &tutorhubv1.SearchTutorsRequest{Query: "calculus", LessonMode: 42}, "lesson_mode"},
		{"unknown currency", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Currency: "XXX"}, "currency"},
		{"malformed currency", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Currency: "euro"}, "currency"},
		{"not a language", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Language: "klingon!"}, "language"},
		{"not a subject id", &tutorhubv1.SearchTutorsRequest{Query: "calculus", SubjectId: "maths"}, "subject_id"},
		{"a subject the catalogue does not hold", &tutorhubv1.SearchTutorsRequest{Query: "calculus", SubjectId: uuid.NewString()}, "subject_id"},
		{"price without currency", &tutorhubv1.SearchTutorsRequest{Query: "calculus", MaxHourlyRateMinor: 100}, "currency"},
		{"unknown sort", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Sort: 7}, "sort"},
		{"unspecified facet", &tutorhubv1.SearchTutorsRequest{Query: "calculus", Facets: []tutorhubv1.SearchFacet{0}}, "facets[0]"},
		{"page size", &tutorhubv1.SearchTutorsRequest{Query: "calculus", PageSize: 101}, "page_size"},
		{"tampered page token", &tutorhubv1.SearchTutorsRequest{Query: "calculus", PageSize: 1, PageToken: string(tok)}, "page_token"},
		{"page token of another search", &tutorhubv1.SearchTutorsRequest{Query: "lessons", PageSize: 1, PageToken: first.GetNextPageToken()}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.SearchTutors(ctx, tc.req)
			wantCode(t, err, connect.CodeInvalidArgument)
			if fields := searchViolationFields(t, err); !slices.Contains(fields, tc.field) {
				t.Fatalf("violations %v do not name %s (%v)", fields, tc.field, err)
			}
		})
	}
	t.Run("REST", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"query=", "query"},
			{"query=%3F%21", "query"},
			{"query=calculus&currency=XXX", "currency"},
			{"query=calculus&page_token=" + url.QueryEscape(string(tok)), "page_token"},
		} {
			status, _, body := do(t, http.MethodGet, e.api.URL+"/api/v1/search/tutors?"+tc.query, "", nil)
			if status != http.StatusBadRequest || !containsViolation(decodeJSON(t, body), tc.field) {
				t.Errorf("GET ?%s = %d %s, want 400 naming %s", tc.query, status, body, tc.field)
			}
		}
	})
}

func TestSearchTutorsIsPublicAndRateLimited(t *testing.T) {
	t.Parallel()
	two := ratelimit.Rate{Limit: 2, Period: time.Minute}
	e := newSearchEnv(t, withRateLimits(server.RateLimits{Enabled: true, Anonymous: two, Authenticated: two}))
	ctx := context.Background()
	for range 2 {
		if _, err := e.client.SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: "anything"}); err != nil {
			t.Fatalf("an anonymous search: %v", err)
		}
	}
	_, err := e.client.SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: "anything"})
	wantCode(t, err, connect.CodeResourceExhausted)
}
