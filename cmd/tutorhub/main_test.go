package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tutorhub-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tutorhub")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tutorhub:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// baseEnv is a minimal, hermetic environment for the binary: nothing from the developer's
// shell leaks in.
func baseEnv(dbURL string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TUTORHUB_ENV=test",
		"TUTORHUB_HTTP_ADDR=127.0.0.1:0",
		"TUTORHUB_DATABASE_URL=" + dbURL,
		"TUTORHUB_REDIS_URL=" + testenv.RedisURL(),
		"TUTORHUB_REDIS_KEY_PREFIX=test:" + testenv.RandomID() + ":",
		// The local stack's Kratos key set; the test runs in cmd/tutorhub.
		"TUTORHUB_AUTH_JWKS_PATH=" + filepath.Join("..", "..", ".data", "kratos", "jwks.public.json"),
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestBadConfigExitsTwoNamingEveryKey(t *testing.T) {
	t.Parallel()
	env := baseEnv("postgres://x@127.0.0.1:1/none",
		"TUTORHUB_HTTP_ADDR=not-an-address",
		"TUTORHUB_DATABASE_MAX_CONNS=-3",
		"TUTORHUB_LOG_LEVEL=loud",
		"TUTORHUB_RATE_LIMIT_ANONYMOUS=lots",
		"TUTORHUB_TYPO_KEY=1",
		"TUTORHUB_CURSOR_SECRET=short-secret-value",
	)
	for _, args := range [][]string{{"serve"}, {"migrate", "up"}, {"config", "print"}} {
		r := runBinary(t, env, args...)
		if r.code != 2 {
			t.Fatalf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
		for _, key := range []string{"TUTORHUB_HTTP_ADDR", "TUTORHUB_DATABASE_MAX_CONNS", "TUTORHUB_LOG_LEVEL", "TUTORHUB_RATE_LIMIT_ANONYMOUS", "TUTORHUB_TYPO_KEY", "TUTORHUB_CURSOR_SECRET"} {
			if !strings.Contains(r.stderr, key) {
				t.Errorf("%v: stderr does not name %s:\n%s", args, key, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "short-secret-value") {
			t.Errorf("%v: a secret value appears in the error output", args)
		}
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	r := runBinary(t, baseEnv("postgres://app:hunter2-password@127.0.0.1:5432/tutorhub", "TUTORHUB_CURSOR_SECRET=a-long-cursor-secret-of-32-bytes-or-more"), "config", "print")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "hunter2") || strings.Contains(r.stdout, "a-long-cursor-secret") {
		t.Fatalf("config print shows a secret:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "TUTORHUB_DATABASE_URL=<redacted>") || !strings.Contains(r.stdout, "TUTORHUB_HTTP_ADDR=127.0.0.1:0") {
		t.Fatalf("config print:\n%s", r.stdout)
	}
}

func TestMigrateEmptyDatabaseToHead(t *testing.T) {
	t.Parallel()
	env := baseEnv(testenv.EmptyDatabaseURL(t))

	r := runBinary(t, env, "serve")
	if r.code == 0 || !strings.Contains(r.stderr, "pending migrations") || !strings.Contains(r.stderr, "tutorhub migrate up") {
		t.Fatalf("serve on an unmigrated database: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = runBinary(t, env, "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "pending") || strings.Contains(r.stdout, "applied ") {
		t.Fatalf("status before: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, env, "migrate", "up")
	if r.code != 0 || !strings.Contains(r.stdout, "applied 00001") {
		t.Fatalf("migrate up: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, env, "migrate", "status")
	if r.code != 0 || strings.Contains(r.stdout, "pending") {
		t.Fatalf("status after: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, env, "migrate", "up")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to apply") {
		t.Fatalf("second migrate up: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// process is a running `tutorhub serve`.
type process struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs []map[string]any
	done chan struct{} // closed when the process has exited; err is then its result
	err  error
}

func (p *process) Logs() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// startServe starts the binary and waits until it logs the address it listens on.
func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, "serve", "serving", 30*time.Second, env, args...)
}

// startCommand starts `tutorhub SUBCOMMAND ARGS...`, collects its JSON log lines, and waits
// until a line with message ready names the address it serves (kept in process.addr). The
// process is killed when the test ends.
func startCommand(t *testing.T, subcommand, ready string, within time.Duration, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, append([]string{subcommand}, args...)...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, m)
			p.mu.Unlock()
			if m["msg"] == ready {
				addr <- m["addr"].(string)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("%s exited before serving: %v\n%s", subcommand, p.err, stderr.String())
	case <-time.After(within):
		t.Fatalf("%s did not serve within %s\n%s", subcommand, within, stderr.String())
	}
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getStatus(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServeIsReadyAndLogsStructuredRequests(t *testing.T) {
	t.Parallel()
	p := startServe(t, baseEnv(testenv.DatabaseURL(t)))
	base := "http://" + p.addr
	eventually(t, 60*time.Second, "/ready answers 200", func() bool { return getStatus(base+"/ready") == 200 })

	req, _ := http.NewRequest(http.MethodPost, base+"/tutorhub.v1.SubjectService/ListSubjects", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "e2e-request-1")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "mathematics") || res.Header.Get("X-Request-Id") != "e2e-request-1" {
		t.Fatalf("curl-style ListSubjects: %d %s %v", res.StatusCode, body, res.Header)
	}
	eventually(t, 5*time.Second, "an access log line with the request id, procedure and code", func() bool {
		for _, l := range p.Logs() {
			if l["request_id"] == "e2e-request-1" && l["procedure"] == "/tutorhub.v1.SubjectService/ListSubjects" && l["code"] == "ok" && l["duration_ms"] != nil && l["peer"] != nil &&
				l["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" {
				return true
			}
		}
		return false
	})

	res, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(metrics), "rpc_server_call_duration_seconds") {
		t.Fatalf("/metrics: %d, no RPC duration histogram", res.StatusCode)
	}

	grpcurl, err := exec.LookPath("grpcurl")
	if err != nil {
		t.Fatalf("grpcurl is not installed (deploy/tools.sh installs it into .bin): %v", err)
	}
	out, err := exec.Command(grpcurl, "-plaintext", p.addr, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tutorhub.v1.SubjectService") || !strings.Contains(string(out), "grpc.health.v1.Health") {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	out, err = exec.Command(grpcurl, "-plaintext", "-d", `{"page_size": 2}`, p.addr, "tutorhub.v1.SubjectService/ListSubjects").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nextPageToken") {
		t.Fatalf("grpcurl ListSubjects: %v\n%s", err, out)
	}
}

func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	p := startServe(t, baseEnv(testenv.DatabaseURL(t), "TUTORHUB_HTTP_READY_DRAIN_DELAY=1s", "TUTORHUB_HTTP_SHUTDOWN_TIMEOUT=20s"))
	base := "http://" + p.addr
	eventually(t, 60*time.Second, "/ready answers 200", func() bool { return getStatus(base+"/ready") == 200 })

	// A slow request: the body arrives in two halves around the signal.
	body := `{"pageSize": 3}`
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /tutorhub.v1.SubjectService/ListSubjects HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", p.addr, len(body), body[:5])

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "/ready reports draining", func() bool { return getStatus(base+"/ready") == http.StatusServiceUnavailable })
	eventually(t, 10*time.Second, "new connections are refused once the listener closes", func() bool {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})

	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(got), "subjects") {
		t.Fatalf("in-flight request: %d %s", res.StatusCode, got)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after drain: %v", p.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("process did not exit after draining")
	}
}
