package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/server"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{"a well-formed id is echoed", "req-123.abc:XYZ", true},
		{"no id gets a generated one", "", false},
		{"an id with spaces is replaced", "bad id", false},
		{"an id with markup is replaced", `x"><script>`, false},
		{"an overlong id is replaced", strings.Repeat("a", 129), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/health", nil)
			if tc.sent != "" {
				req.Header["X-Request-Id"] = []string{tc.sent}
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := res.Header.Get("X-Request-Id")
			if tc.kept && got != tc.sent {
				t.Fatalf("got %q, want %q echoed", got, tc.sent)
			}
			if !tc.kept && (got == "" || got == tc.sent || len(got) != 32) {
				t.Fatalf("got %q, want a fresh generated id", got)
			}
		})
	}
	// Every log line of a request carries its id.
	_, _, _ = do(t, http.MethodGet, api.URL+"/api/v1/subjects?page_size=1", "", map[string]string{"X-Request-Id": "trace-me-42"})
	// The access line is written after the response, so poll for it.
	deadline := time.Now().Add(5 * time.Second)
	for !hasLogLine(t, api.Logs.String(), func(m map[string]any) bool {
		return m["request_id"] == "trace-me-42" && m["procedure"] == "/tutorhub.v1.SubjectService/ListSubjects" && m["code"] == "ok" && m["path"] == "/api/v1/subjects"
	}) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with the request id:\n%s", api.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasLogLine reports whether any JSON log line satisfies match; a non-JSON line fails the test.
func hasLogLine(t *testing.T, logs string, match func(map[string]any) bool) bool {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if match(m) {
			return true
		}
	}
	return false
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	for _, path := range []string{"/health", "/api/v1/subjects", "/no/such/route", "/docs"} {
		_, h, _ := do(t, http.MethodGet, api.URL+path, "", nil)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if h.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q lacks frame-ancestors 'none'", path, h.Get("Content-Security-Policy"))
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent over plain HTTP", path)
		}
	}
}

func TestHSTSOnlyForTLSViaTrustedProxy(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")), func(o *server.Options) { o.HSTS = true })
	_, h, _ := do(t, http.MethodGet, api.URL+"/health", "", map[string]string{"X-Forwarded-Proto": "https"})
	if !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("HSTS missing behind a TLS-terminating trusted proxy: %v", h)
	}
	_, h, _ = do(t, http.MethodGet, api.URL+"/health", "", nil)
	if h.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS sent for a plain-HTTP request")
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withCORS("https://app.example"))
	preflight := func(origin string) http.Header {
		_, h, _ := do(t, http.MethodOptions, api.URL+"/tutorhub.v1.SubjectService/ListSubjects", "", map[string]string{
			"Origin":                         origin,
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "connect-protocol-version,content-type,x-grpc-web,x-user-agent",
		})
		return h
	}
	h := preflight("https://app.example")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("allowed origin refused: %v", h)
	}
	allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"connect-protocol-version", "x-grpc-web", "content-type"} {
		if !strings.Contains(allowed, want) {
			t.Errorf("preflight does not allow %s: %q", want, allowed)
		}
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin allowed: %v", h)
	}
	_, h, _ = do(t, http.MethodPost, api.URL+"/tutorhub.v1.SubjectService/ListSubjects", "{}", map[string]string{"Origin": "https://app.example", "Content-Type": "application/json"})
	if !strings.Contains(strings.ToLower(h.Get("Access-Control-Expose-Headers")), "grpc-status-details-bin") {
		t.Fatalf("error details header not exposed: %v", h)
	}
}

func TestUnknownRoutesAnswerJSON404(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodGet, "/api/v1/nope"},
		{http.MethodPost, "/api/v1/subjects"},
		{http.MethodPost, "/tutorhub.v1.NoService/Nope"},
	} {
		status, h, body := do(t, tc.method, api.URL+tc.path, "{}", map[string]string{"Content-Type": "application/json"})
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, status, body)
			continue
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: content type %q body %s", tc.method, tc.path, h.Get("Content-Type"), body)
			continue
		}
		m := decodeJSON(t, body)
		if m["code"] == nil {
			t.Errorf("%s %s: no code in %s", tc.method, tc.path, body)
		}
	}
}

// countingReader is an endless-looking body of spaces that counts how much of it was sent,
// so a test can tell whether the server kept reading far past its limit. The transport reads
// it on its own goroutine, hence the atomic counter.
type countingReader struct {
	n     atomic.Int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	sent := c.n.Load()
	if sent >= c.limit {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = ' '
	}
	if int64(len(p)) > c.limit-sent {
		p = p[:c.limit-sent]
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func TestOversizedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	const total = 64 << 20 // 64 MiB against a 64 KiB limit
	t.Run("declared length over the limit is refused before reading", func(t *testing.T) {
		body := &countingReader{limit: total}
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/tutorhub.v1.SubjectService/ListSubjects", body)
		req.ContentLength = total
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusRequestEntityTooLarge || decodeJSON(t, b)["code"] != "resource_exhausted" {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
		}
		if n := body.n.Load(); n > 8<<20 {
			t.Fatalf("server read %d bytes of an oversized body", n)
		}
	})
	t.Run("a chunked body is cut off at the limit", func(t *testing.T) {
		body := &countingReader{limit: total}
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/tutorhub.v1.SubjectService/ListSubjects", io.MultiReader(strings.NewReader(`{"pageSize": 1`), body))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
		}
		if n := body.n.Load(); n > 8<<20 {
			t.Fatalf("server read %d bytes of an oversized body", n)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withRateLimits(server.RateLimits{
		Enabled:       true,
		Anonymous:     ratelimit.Rate{Limit: 3, Period: time.Minute},
		Authenticated: ratelimit.Rate{Limit: 3, Period: time.Minute},
	}))
	c := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = c.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1})
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Fatalf("after the budget: %v, want ResourceExhausted", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range ce.Details() {
		if m, err := d.Value(); err == nil {
			if r, ok := m.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() < time.Second {
		t.Fatalf("no RetryInfo detail: %v", ce.Details())
	}
	status, h, body := do(t, http.MethodGet, api.URL+"/api/v1/subjects", "", nil)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" || decodeJSON(t, body)["code"] != "resource_exhausted" {
		t.Fatalf("REST: %d Retry-After=%q %s", status, h.Get("Retry-After"), body)
	}
}

func TestRateLimitFailsOpenWithoutRedis(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, func(o *server.Options) {
		o.Limiter = ratelimit.New(deadRedis(), "x:", true, o.Logger)
	})
	c := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL)
	if _, err := c.ListSubjects(context.Background(), &tutorhubv1.ListSubjectsRequest{PageSize: 1}); err != nil {
		t.Fatalf("fail-open limiter refused a request: %v", err)
	}
	if !strings.Contains(api.Logs.String(), "rate limiter unavailable") {
		t.Fatal("degraded limiter did not log a warning")
	}
}

func TestHealthReadinessAndReflection(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	status, _, body := do(t, http.MethodGet, api.URL+"/ready", "", nil)
	m := decodeJSON(t, body)
	if status != 200 || m["status"] != "ok" {
		t.Fatalf("/ready: %d %s", status, body)
	}
	hc := grpchealth.NewClient(h2cClient(), api.URL, connect.WithGRPC())
	res, err := hc.Check(context.Background(), &grpchealth.CheckRequest{Service: tutorhubv1connect.SubjectServiceName})
	if err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("grpc health: %v %v", res, err)
	}
	rc := grpcreflect.NewClient(h2cClient(), api.URL)
	stream := rc.NewStream(context.Background())
	names, err := stream.ListServices()
	stream.Close()
	if err != nil || !contains(names, tutorhubv1connect.SubjectServiceName) {
		t.Fatalf("reflection: %v %v", names, err)
	}

	api.Health.Drain()
	status, _, body = do(t, http.MethodGet, api.URL+"/ready", "", nil)
	if status != http.StatusServiceUnavailable || decodeJSON(t, body)["status"] != "draining" {
		t.Fatalf("/ready while draining: %d %s", status, body)
	}
	res, err = hc.Check(context.Background(), &grpchealth.CheckRequest{Service: tutorhubv1connect.SubjectServiceName})
	if err != nil || res.Status != grpchealth.StatusNotServing {
		t.Fatalf("grpc health while draining: %v %v", res, err)
	}
}

func TestAPIDocs(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	status, h, body := do(t, http.MethodGet, api.URL+"/api/v1/openapi.json", "", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi: %d %s", status, h.Get("Content-Type"))
	}
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &spec); err != nil || spec.Paths["/api/v1/subjects"]["get"] == nil {
		t.Fatalf("openapi document lacks GET /api/v1/subjects: %v", err)
	}
	status, h, body = do(t, http.MethodGet, api.URL+"/docs", "", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("/api/v1/subjects/{id}")) {
		t.Fatalf("/docs: %d %s", status, h.Get("Content-Type"))
	}
	if strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") || bytes.Contains(body, []byte("<script")) {
		t.Fatal("/docs needs inline code")
	}
}

func contains[T ~string](xs []T, x string) bool {
	for _, v := range xs {
		if string(v) == x {
			return true
		}
	}
	return false
}
