package server_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRESTRefusesRequestsABrowserSendsWithoutPreflight covers the calls another site can make
// a visitor's browser send without asking (a form post, a no-cors fetch): REST writes must
// declare application/json, which a browser sends cross-origin only after a CORS preflight.
func TestRESTRefusesRequestsABrowserSendsWithoutPreflight(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	const register = `{"email":"victim@example.com","password":"correct horse battery staple 42","displayName":"V"}`
	cases := []struct {
		name, method, path, contentType, body string
	}{
		{"text/plain register", http.MethodPost, "/api/v1/auth/register", "text/plain", register},
		{"text/plain with charset", http.MethodPost, "/api/v1/auth/register", "text/plain;charset=UTF-8", register},
		{"form-urlencoded recovery mail", http.MethodPost, "/api/v1/auth/recovery", "application/x-www-form-urlencoded", `{"email":"victim@example.com"}=`},
		{"multipart form", http.MethodPost, "/api/v1/auth/recovery", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"},
		{"no content type with a body", http.MethodPost, "/api/v1/auth/register", "", register},
		{"no content type and no body", http.MethodPost, "/api/v1/auth/logout-all", "", ""},
		{"a JSON-looking type that is not JSON", http.MethodPost, "/api/v1/auth/register", "application/jsonp", register},
		{"an unparsable content type", http.MethodPost, "/api/v1/auth/register", "application/json; =", register},
		{"PATCH as text/plain", http.MethodPatch, "/api/v1/users/me", "text/plain", `{}`},
		{"DELETE without content type", http.MethodDelete, "/api/v1/tutors/00000000-0000-4000-8000-000000000000", "", ""},
		{"PUT as a form", http.MethodPut, "/api/v1/users/me", "application/x-www-form-urlencoded", "a=b"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is 415", func(t *testing.T) {
			header := map[string]string{}
			if tc.contentType != "" {
				header["Content-Type"] = tc.contentType
			}
			status, h, body := do(t, tc.method, api.URL+tc.path, tc.body, header)
			if status != http.StatusUnsupportedMediaType || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %q %s", status, h.Get("Content-Type"), body)
			}
			m := decodeJSON(t, body)
			if m["code"] != "invalid_argument" || !strings.Contains(m["message"].(string), "application/json") {
				t.Fatalf("error body %s", body)
			}
		})
	}
	// Nothing above reached Kratos or the database.
	if strings.Contains(api.Logs.String(), `"procedure"`) {
		t.Fatalf("a refused request reached an RPC:\n%s", api.Logs.String())
	}

	t.Run("application/json with a charset reaches the RPC", func(t *testing.T) {
		status, _, body := do(t, http.MethodPost, api.URL+"/api/v1/auth/login", `{}`, map[string]string{"Content-Type": "application/json; charset=utf-8"})
		if status != http.StatusBadRequest || !containsViolation(decodeJSON(t, body), "email") {
			t.Fatalf("want the RPC's own validation error, got %d %s", status, body)
		}
	})
	t.Run("a bodyless POST with the JSON content type works", func(t *testing.T) {
		u := api.signUp(t)
		status, _, body := do(t, http.MethodPost, api.URL+"/api/v1/auth/logout-all", "", map[string]string{
			"Content-Type": "application/json", "Authorization": "Bearer " + u.AccessToken,
		})
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("GET needs no content type", func(t *testing.T) {
		if status, _, body := do(t, http.MethodGet, api.URL+"/api/v1/subjects?page_size=1", "", nil); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
	})
}

func TestRESTRequestEncodings(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	gzipped := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.String()
	}
	cases := []struct {
		name, encoding, body string
		status               int
		reachesRPC           bool // the RPC's validation answers, naming the email field
	}{
		{"a gzip body is inflated and reaches the RPC", "gzip", gzipped(`{"email":"not an email"}`), http.StatusBadRequest, true},
		{"identity is no encoding", "identity", `{"email":"not an email"}`, http.StatusBadRequest, true},
		{"a corrupt gzip body is 400", "gzip", "this is not gzip", http.StatusBadRequest, false},
		{"another encoding is 415", "br", "\x0b\x02\x80{}\x03", http.StatusUnsupportedMediaType, false},
		{"stacked encodings are 415", "gzip, gzip", gzipped(gzipped(`{}`)), http.StatusUnsupportedMediaType, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := do(t, http.MethodPost, api.URL+"/api/v1/auth/login", tc.body, map[string]string{
				"Content-Type": "application/json", "Content-Encoding": tc.encoding,
			})
			if status != tc.status || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %q %s", status, h.Get("Content-Type"), body)
			}
			m := decodeJSON(t, body)
			if m["code"] != "invalid_argument" {
				t.Fatalf("code %v, want invalid_argument: %s", m["code"], body)
			}
			if containsViolation(m, "email") != tc.reachesRPC {
				t.Fatalf("reached the RPC's validation: %v, want %v: %s", !tc.reachesRPC, tc.reachesRPC, body)
			}
		})
	}
}

func TestRESTBodyOverTheLimitIs413(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t) // 64 KiB body limit
	body := &countingReader{limit: 4 << 20}
	req, err := http.NewRequest(http.MethodPost, api.URL+"/api/v1/auth/login", io.MultiReader(strings.NewReader(`{"email": "`), body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked: nothing declares the size up front
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || decodeJSON(t, b)["code"] != "resource_exhausted" || strings.Contains(string(b), "MaxBytesReader") {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
}
