package faulttest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// workerProcess is a running `tutorhub worker`.
type workerProcess struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	addr string // its metrics listener
	done chan struct{}
	err  error

	mu     sync.Mutex
	stderr strings.Builder
}

// workerEnv is a hermetic environment for the binary: nothing of the developer's shell
// leaks in.
func workerEnv(dbURL string, extra ...string) []string {
	jwks, _ := filepath.Abs(filepath.Join("..", ".data", "kratos", "jwks.public.json"))
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TUTORHUB_ENV=test",
		"TUTORHUB_DATABASE_URL=" + dbURL,
		"TUTORHUB_REDIS_URL=" + testenv.RedisURL(),
		"TUTORHUB_REDIS_KEY_PREFIX=test:" + testenv.RandomID() + ":",
		"TUTORHUB_AUTH_JWKS_PATH=" + jwks,
		"TUTORHUB_WORKER_METRICS_ADDR=127.0.0.1:0",
	}
	return append(env, extra...)
}

// startWorker starts `tutorhub worker` with args and waits until it serves its metrics
// (which it does after it reached the database and Temporal and before its workers and
// relay start). It is killed when the test ends.
func startWorker(t *testing.T, name string, env []string, args ...string) *workerProcess {
	t.Helper()
	p := &workerProcess{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"worker"}, args...)...)
	p.cmd.Env = env
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "serving worker metrics" {
				addr <- m["addr"].(string)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("worker %s exited before serving: %v\n%s", name, p.err, p.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("worker %s did not serve within 60s\n%s", name, p.output())
	}
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *workerProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill ends the worker with SIGKILL: nothing drains, nothing is settled.
func (p *workerProcess) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait("SIGKILL", 30*time.Second)
}

// stop ends the worker with SIGTERM and expects a clean exit.
func (p *workerProcess) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait("SIGTERM", 60*time.Second)
	if p.err != nil {
		p.t.Errorf("worker %s after SIGTERM: %v\n%s", p.name, p.err, p.output())
	}
}

func (p *workerProcess) wait(signal string, within time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("worker %s did not exit within %s of %s", p.name, within, signal)
	}
}

// metric reads one counter or gauge of the worker's /metrics: the sum over its label sets,
// 0 when absent.
func (p *workerProcess) metric(name string) float64 {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		p.t.Fatalf("worker %s metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	sum, _, err := telemetry.SampleSum(string(body), name)
	if err != nil {
		p.t.Fatalf("worker %s: %v", p.name, err)
	}
	return sum
}
