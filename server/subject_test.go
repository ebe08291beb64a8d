package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// protocols are the ways a client can call the API; every RPC behaves the same over each.
func protocols(api *testAPI) map[string]tutorhubv1connect.SubjectServiceClient {
	return map[string]tutorhubv1connect.SubjectServiceClient{
		"connect+json":  tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithProtoJSON()),
		"connect+proto": tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL),
		"connect+get":   tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithHTTPGet()),
		"grpc":          tutorhubv1connect.NewSubjectServiceClient(h2cClient(), api.URL, connect.WithGRPC()),
		"grpc-web":      tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithGRPCWeb()),
	}
}

// violations returns the field violations an InvalidArgument error carries.
func violations(t *testing.T, err error) []*validatepb.Violation {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("error = %v, want InvalidArgument", err)
	}
	for _, d := range ce.Details() {
		m, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := m.(*validatepb.Violations); ok {
			return v.GetViolations()
		}
	}
	t.Fatalf("InvalidArgument without buf.validate.Violations detail: %v", err)
	return nil
}

func fieldOf(v *validatepb.Violation) string { return protovalidate.FieldPathString(v.GetField()) }

func listAll(t *testing.T, c tutorhubv1connect.SubjectServiceClient, req *tutorhubv1.ListSubjectsRequest) []*tutorhubv1.Subject {
	t.Helper()
	var all []*tutorhubv1.Subject
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("pagination does not terminate")
		}
		res, err := c.ListSubjects(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.GetSubjects()...)
		if res.GetNextPageToken() == "" {
			return all
		}
		req = proto.CloneOf(req)
		req.PageToken = res.GetNextPageToken()
	}
}

func TestListSubjectsSameOverEveryProtocol(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	var want *tutorhubv1.ListSubjectsResponse
	for name, c := range protocols(api) {
		res, err := c.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 100})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.GetSubjects()) < 20 {
			t.Fatalf("%s: %d subjects, want the seeded catalogue", name, len(res.GetSubjects()))
		}
		if want == nil {
			want = res
		} else if !proto.Equal(want, res) {
			t.Fatalf("%s answered differently", name)
		}
	}
	status, header, body := do(t, http.MethodGet, api.URL+"/api/v1/subjects?page_size=100", "", nil)
	if status != http.StatusOK || header.Get("Content-Type") != "application/json" {
		t.Fatalf("REST: %d %s %s", status, header.Get("Content-Type"), body)
	}
	var rest tutorhubv1.ListSubjectsResponse
	if err := protojson.Unmarshal(body, &rest); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(want, &rest) {
		t.Fatal("REST answered differently from Connect")
	}
	// A plain JSON POST without Connect headers, as curl sends it.
	status, _, body = do(t, http.MethodPost, api.URL+"/tutorhub.v1.SubjectService/ListSubjects", `{"pageSize":100}`, map[string]string{"Content-Type": "application/json"})
	var plain tutorhubv1.ListSubjectsResponse
	if status != http.StatusOK || protojson.Unmarshal(body, &plain) != nil || !proto.Equal(want, &plain) {
		t.Fatalf("plain JSON POST: %d %s", status, body)
	}
}

func TestListSubjectsPaginates(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := protocols(api)["connect+proto"]
	all := listAll(t, c, &tutorhubv1.ListSubjectsRequest{PageSize: 100})
	paged := listAll(t, c, &tutorhubv1.ListSubjectsRequest{PageSize: 7})
	if len(paged) != len(all) {
		t.Fatalf("paging by 7 gave %d subjects, one page gave %d", len(paged), len(all))
	}
	seen := map[string]bool{}
	for i, s := range paged {
		if seen[s.GetId()] {
			t.Fatalf("duplicate %s", s.GetSlug())
		}
		seen[s.GetId()] = true
		if i > 0 && paged[i-1].GetName() > s.GetName() {
			t.Fatalf("out of order: %s before %s", paged[i-1].GetName(), s.GetName())
		}
	}

	t.Run("a category filter keeps to the category on every page", func(t *testing.T) {
		for _, s := range listAll(t, c, &tutorhubv1.ListSubjectsRequest{PageSize: 2, Category: "Languages"}) {
			if s.GetCategory() != "Languages" {
				t.Fatalf("%s is in %s", s.GetSlug(), s.GetCategory())
			}
		}
	})

	t.Run("rows inserted and deleted between pages cause no duplicates or gaps", func(t *testing.T) {
		ctx := context.Background()
		first, err := c.ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{PageSize: 5})
		if err != nil {
			t.Fatal(err)
		}
		// Before the cursor: must not appear. After it: must appear exactly once.
		if _, err := api.DB.Exec(ctx, `INSERT INTO subjects (slug, name, category) VALUES ('aaa-early', 'AAA Early', 'Test'), ('zzz-late', 'ZZZ Late', 'Test')`); err != nil {
			t.Fatal(err)
		}
		last := first.GetSubjects()[4]
		if _, err := api.DB.Exec(ctx, `DELETE FROM subjects WHERE id = $1`, last.GetId()); err != nil {
			t.Fatal(err)
		}
		rest := listAll(t, c, &tutorhubv1.ListSubjectsRequest{PageSize: 5, PageToken: first.GetNextPageToken()})
		seen := map[string]int{}
		for _, s := range append(first.GetSubjects(), rest...) {
			seen[s.GetSlug()]++
		}
		for slug, n := range seen {
			if n > 1 {
				t.Fatalf("%s seen %d times", slug, n)
			}
		}
		if seen["aaa-early"] != 0 || seen["zzz-late"] != 1 {
			t.Fatalf("inserted rows: early seen %d, late seen %d", seen["aaa-early"], seen["zzz-late"])
		}
		if len(seen) != len(all)+1 {
			t.Fatalf("saw %d subjects, want %d (a gap)", len(seen), len(all)+1)
		}
	})
}

func TestListSubjectsRefusesBadInput(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	first, err := protocols(api)["connect+proto"].ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	tok := first.GetNextPageToken()
	cases := []struct {
		name  string
		req   *tutorhubv1.ListSubjectsRequest
		field string
	}{
		{"page size above the maximum", &tutorhubv1.ListSubjectsRequest{PageSize: 101}, "page_size"},
		{"negative page size", &tutorhubv1.ListSubjectsRequest{PageSize: -1}, "page_size"},
		{"tampered page token", &tutorhubv1.ListSubjectsRequest{PageToken: tok[:len(tok)-2] + "AA"}, "page_token"},
		{"garbage page token", &tutorhubv1.ListSubjectsRequest{PageToken: "not a token"}, "page_token"},
		{"page token from another filter", &tutorhubv1.ListSubjectsRequest{PageToken: tok, Category: "STEM"}, "page_token"},
		{"oversized page token", &tutorhubv1.ListSubjectsRequest{PageToken: string(make([]byte, 513))}, "page_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for proto, c := range protocols(api) {
				_, err := c.ListSubjects(context.Background(), tc.req)
				vs := violations(t, err)
				if len(vs) == 0 || fieldOf(vs[0]) != tc.field || vs[0].GetRuleId() == "" || vs[0].GetMessage() == "" {
					t.Fatalf("%s: violations %v, want one on %s with rule and message", proto, vs, tc.field)
				}
			}
		})
	}

	t.Run("REST answers 400 with the same violations in JSON", func(t *testing.T) {
		for _, q := range []string{"page_size=101", "page_token=forged"} {
			status, header, body := do(t, http.MethodGet, api.URL+"/api/v1/subjects?"+q, "", nil)
			if status != http.StatusBadRequest || header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %s %s", q, status, header.Get("Content-Type"), body)
			}
			m := decodeJSON(t, body)
			if m["code"] != "invalid_argument" || !containsViolation(m, q[:strings.IndexByte(q, '=')]) {
				t.Fatalf("%s: %s", q, body)
			}
		}
	})
}

func TestGetSubject(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := protocols(api)["connect+proto"]
	list, err := c.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := list.GetSubjects()[0]
	for name, c := range protocols(api) {
		res, err := c.GetSubject(context.Background(), &tutorhubv1.GetSubjectRequest{Id: want.GetId()})
		if err != nil || !proto.Equal(res.GetSubject(), want) {
			t.Fatalf("%s: %v %v", name, res, err)
		}
		_, err = c.GetSubject(context.Background(), &tutorhubv1.GetSubjectRequest{Id: "00000000-0000-4000-8000-000000000000"})
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("%s: unknown id: %v, want NotFound", name, err)
		}
		vs := violations(t, func() error {
			_, err := c.GetSubject(context.Background(), &tutorhubv1.GetSubjectRequest{Id: "42"})
			return err
		}())
		if fieldOf(vs[0]) != "id" {
			t.Fatalf("%s: %v", name, vs)
		}
	}
	status, _, body := do(t, http.MethodGet, api.URL+"/api/v1/subjects/"+want.GetId(), "", nil)
	if status != http.StatusOK || !strings.Contains(string(body), want.GetSlug()) {
		t.Fatalf("REST get: %d %s", status, body)
	}
	status, _, body = do(t, http.MethodGet, api.URL+"/api/v1/subjects/00000000-0000-4000-8000-000000000000", "", nil)
	if status != http.StatusNotFound || decodeJSON(t, body)["code"] != "not_found" {
		t.Fatalf("REST get unknown: %d %s", status, body)
	}
}
