package server_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tutorhub/tutorhub/server"
)

// TestMain runs the package's tests, then checks that no secret the run created (every
// password, token, code and cookie a test noted, and every bearer token, session cookie and
// session token header that crossed the test clients' default transport) appears in any log
// of the run: the captured slog output of every test API, and what Kratos logged meanwhile.
func TestMain(m *testing.M) {
	http.DefaultTransport = &secretRecorder{next: http.DefaultTransport}
	kratosLog, kratosStart := kratosLogPath(), int64(-1)
	if kratosLog != "" {
		if fi, err := os.Stat(kratosLog); err == nil {
			kratosStart = fi.Size()
		}
	}
	code := m.Run()
	if code == 0 {
		code = checkSuiteLogs(kratosLog, kratosStart)
	}
	os.Exit(code)
}

// checkSuiteLogs scans every log of the run for every registered secret; 1 when one leaked.
func checkSuiteLogs(kratosLog string, kratosStart int64) int {
	logs := map[string]string{}
	suiteLogs.mu.Lock()
	for i, b := range suiteLogs.bufs {
		logs[fmt.Sprintf("API log #%d", i)] = b.String()
	}
	suiteLogs.mu.Unlock()
	if kratosStart >= 0 {
		if f, err := os.Open(kratosLog); err == nil {
			if _, err := f.Seek(kratosStart, io.SeekStart); err == nil {
				b, _ := io.ReadAll(f)
				logs["Kratos log "+kratosLog] = string(b)
			}
			f.Close()
		}
	} else {
		fmt.Fprintln(os.Stderr, "secrets-in-logs: no Kratos log found; checked the API logs only")
	}
	secrets := suiteSecrets.list()
	if len(secrets) == 0 || len(logs) == 0 {
		return 0
	}
	found := leaks(logs, secrets)
	if testing.Verbose() {
		size := 0
		for _, l := range logs {
			size += len(l)
		}
		fmt.Printf("secrets-in-logs: %d secrets checked against %d logs (%d bytes)\n", len(secrets), len(logs), size)
	}
	for _, l := range found {
		fmt.Fprintln(os.Stderr, "secrets-in-logs:", l)
	}
	if len(found) > 0 {
		return 1
	}
	return 0
}

// leaks names each secret found in a log, without repeating the secret.
func leaks(logs map[string]string, secrets []string) []string {
	var out []string
	for _, name := range sortedKeys(logs) {
		for _, s := range secrets {
			if containsSecret(logs[name], s) {
				out = append(out, fmt.Sprintf("a secret (%d chars, starting %.4q) appears in the %s", len(s), s, name))
			}
		}
	}
	return out
}

// The suite's log scan finds a planted secret in any log, and only there.
func TestSecretScanFindsPlantedSecrets(t *testing.T) {
	logs := map[string]string{
		"API log #0": `{"msg":"request","token":"eyJhbGciOiJFUzI1NiJ9.planted"}`,
		"Kratos log": `{"msg":"code sent","took":"1234567ms"}`,
	}
	got := leaks(logs, []string{"eyJhbGciOiJFUzI1NiJ9.planted", "123456", "never-logged-secret"})
	if len(got) != 1 || !strings.Contains(got[0], "API log #0") {
		t.Fatalf("leaks = %q, want the token in the API log alone (a code inside a longer number does not count)", got)
	}
	if kratosLogPath() == "" {
		t.Fatal("no Kratos log found beside the Kratos key set: the suite would scan the API logs only")
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// secretRegistry is the set of secrets the whole run created.
type secretRegistry struct {
	mu  sync.Mutex
	set map[string]struct{}
}

var suiteSecrets = &secretRegistry{set: map[string]struct{}{}}

// add registers secrets; values too short to be told apart from ordinary text are skipped.
func (r *secretRegistry) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 6 {
			r.set[s] = struct{}{}
		}
	}
}

func (r *secretRegistry) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.set))
	for s := range r.set {
		out = append(out, s)
	}
	return out
}

// suiteLogs are the captured logs of every test API of the run.
var suiteLogs struct {
	mu   sync.Mutex
	bufs []*syncBuffer
}

// registerLog adds a test API's log to the ones TestMain scans.
func registerLog(b *syncBuffer) {
	suiteLogs.mu.Lock()
	defer suiteLogs.mu.Unlock()
	suiteLogs.bufs = append(suiteLogs.bufs, b)
}

// secretRecorder registers the credentials that pass through the test clients: bearer
// tokens and session cookies sent, session cookies set.
type secretRecorder struct{ next http.RoundTripper }

func (r *secretRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		suiteSecrets.add(tok)
	}
	for _, c := range req.Cookies() {
		if c.Name == server.SessionCookie || c.Name == server.CSRFCookie {
			suiteSecrets.add(c.Value)
		}
	}
	res, err := r.next.RoundTrip(req)
	if err == nil {
		for _, c := range res.Cookies() {
			if c.Name == server.SessionCookie || c.Name == server.CSRFCookie {
				suiteSecrets.add(c.Value)
			}
		}
	}
	return res, err
}

// kratosLogPath is the log of the Kratos the tests use: TUTORHUB_TEST_KRATOS_LOG, else the
// kratos.log beside the key set the tests verify with (the local stack writes both into
// the data directory of the clone that started Kratos; other clones link to its keys).
func kratosLogPath() string {
	if p := os.Getenv("TUTORHUB_TEST_KRATOS_LOG"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		keys := filepath.Join(dir, ".data", "kratos", "jwks.public.json")
		if real, err := filepath.EvalSymlinks(keys); err == nil {
			return filepath.Join(filepath.Dir(real), "kratos.log")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
