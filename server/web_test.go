package server_test

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tutorhub/tutorhub/server"
)

func withPages(files fs.FS) apiOption {
	return func(o *server.Options) { o.Pages = files }
}

// builtPages is a stand-in for web/dist after `npm run build`.
var builtPages = fstest.MapFS{
	".gitkeep":               {Data: []byte("")},
	"index.html":             {Data: []byte(`<!doctype html><title>tutorhub</title><script type="module" src="/assets/index-abc123.js"></script>`)},
	"assets/index-abc123.js": {Data: []byte(`console.log("tutorhub")`)},
	"favicon.svg":            {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
}

func TestPagesServeTheWebClient(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withPages(builtPages))
	navigate := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		contentType        string
		body               string // a substring the body must hold
		cacheControl       string
	}{
		{"the root serves index.html", http.MethodGet, "/", nil, 200, "text/html", "<title>tutorhub</title>", "no-cache"},
		{"index.html is served at its own name too", http.MethodGet, "/index.html", nil, 200, "text/html", "<title>tutorhub</title>", "no-cache"},
		{"a client-side route falls back to index.html", http.MethodGet, "/tutors/0b5c", navigate, 200, "text/html", "<title>tutorhub</title>", "no-cache"},
		{"a HEAD of a client-side route answers like its GET", http.MethodHead, "/login", navigate, 200, "text/html", "", "no-cache"},
		{"a hashed asset is cached for good", http.MethodGet, "/assets/index-abc123.js", nil, 200, "text/javascript", `console.log("tutorhub")`, "immutable"},
		{"another built file is served revalidated", http.MethodGet, "/favicon.svg", nil, 200, "image/svg+xml", "<svg", "no-cache"},
		{"a missing asset is a JSON 404, not the page", http.MethodGet, "/assets/missing.js", navigate, 404, "application/json", `"not_found"`, ""},
		{"a dot file of the build is not served", http.MethodGet, "/.gitkeep", navigate, 404, "application/json", `"not_found"`, ""},
		{"a non-navigation to an unknown path is a JSON 404", http.MethodGet, "/nope", nil, 404, "application/json", `"not_found"`, ""},
		{"an unknown REST path is a JSON 404 even for a browser", http.MethodGet, "/api/v1/nope", navigate, 404, "application/json", `"not_found"`, ""},
		{"an unknown RPC path is a JSON 404 even for a browser", http.MethodGet, "/tutorhub.v1.NoService/Nope", navigate, 404, "application/json", `"not_found"`, ""},
		{"a POST to a page path is a JSON 404", http.MethodPost, "/login", navigate, 404, "application/json", `"not_found"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := do(t, tc.method, api.URL+tc.path, "", tc.header)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), tc.contentType) {
				t.Errorf("Content-Type %q, want %s", h.Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q does not contain %q", body, tc.body)
			}
			if !strings.Contains(h.Get("Cache-Control"), tc.cacheControl) {
				t.Errorf("Cache-Control %q, want %q", h.Get("Cache-Control"), tc.cacheControl)
			}
			if tc.status == http.StatusOK && h.Get("Content-Security-Policy") != server.PageCSP {
				t.Errorf("Content-Security-Policy %q, want the page policy", h.Get("Content-Security-Policy"))
			}
		})
	}
}

func TestPagesPolicyAllowsNothingInline(t *testing.T) {
	t.Parallel()
	for _, directive := range strings.Split(server.PageCSP, ";") {
		if strings.Contains(directive, "unsafe-") {
			t.Errorf("page CSP directive %q relaxes the policy", strings.TrimSpace(directive))
		}
	}
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(server.PageCSP, want) {
			t.Errorf("page CSP lacks %q", want)
		}
	}
}

func TestPagesRevalidateIndexByETag(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withPages(builtPages))
	_, h, _ := do(t, http.MethodGet, api.URL+"/", "", nil)
	etag := h.Get("ETag")
	if etag == "" {
		t.Fatal("index.html has no ETag")
	}
	status, _, body := do(t, http.MethodGet, api.URL+"/tutors", "", map[string]string{"Accept": "text/html", "If-None-Match": etag})
	if status != http.StatusNotModified {
		t.Fatalf("conditional GET: %d %s, want 304", status, body)
	}
}

func TestPagesSayWhenTheClientIsNotBuilt(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withPages(fstest.MapFS{".gitkeep": {Data: []byte("")}}))
	status, h, body := do(t, http.MethodGet, api.URL+"/tutors", "", map[string]string{"Accept": "text/html"})
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "./just web-build") {
		t.Fatalf("GET /tutors without a build: %d %s", status, body)
	}
	if h.Get("Content-Security-Policy") != server.PageCSP {
		t.Errorf("Content-Security-Policy %q, want the page policy", h.Get("Content-Security-Policy"))
	}
	// The API is unaffected.
	status, _, body = do(t, http.MethodGet, api.URL+"/api/v1/subjects", "", nil)
	if status != http.StatusOK {
		t.Fatalf("REST list subjects: %d %s", status, body)
	}
}

func TestPagesPolicyAllowsOnlyTheStorageBeyondSelf(t *testing.T) {
	t.Parallel()
	if got := server.PageCSPWith(nil); got != server.PageCSP {
		t.Errorf("no storage: %q, want PageCSP", got)
	}
	got := server.PageCSPWith([]string{"http://127.0.0.1:7070"})
	for _, want := range []string{"img-src 'self' data: http://127.0.0.1:7070;", "connect-src 'self' http://127.0.0.1:7070;", "script-src 'self';", "default-src 'self';", "form-action 'self'"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Count(got, "127.0.0.1:7070") != 2 {
		t.Errorf("%q: the storage is allowed beyond images and connections", got)
	}
}
