package faulttest_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/workflows"
)

// namespace is the namespace the private server creates, with the search attributes the
// workflows set, as deploy/local/up.sh does for the shared one.
const namespace = "tutorhub"

// temporalServer is a private Temporal dev server: its own port and SQLite file, so a test
// may kill and restart it without disturbing any other test.
type temporalServer struct {
	t       *testing.T
	addr    string
	db, log string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startTemporal starts a private dev server for the test and waits until its namespace
// answers; the server is killed when the test ends.
func startTemporal(t *testing.T) *temporalServer {
	t.Helper()
	needTemporalCLI(t)
	dir := t.TempDir()
	s := &temporalServer{t: t, addr: freeAddr(t), db: filepath.Join(dir, "temporal.db"), log: filepath.Join(dir, "temporal.log")}
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
	})
	s.start()
	return s
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *temporalServer) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// start runs the server on its address and database file and waits until it serves the
// namespace.
func (s *temporalServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logFile.Close()
	// The flags of deploy/local/up.sh, but headless, on a port and file of the test's own.
	s.cmd = exec.Command(temporalCLI, "server", "start-dev", "--headless",
		"--ip", "127.0.0.1", "--port", port, "--db-filename", s.db, "--namespace", namespace,
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--search-attribute", workflows.TutorIDAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.EventTypeAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.UserIDAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.UploadIDAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.UploadPurposeAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.BookingIDAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.BookingStateAttribute.GetName()+"=Keyword",
		"--search-attribute", workflows.StripeEventTypeAttribute.GetName()+"=Keyword",
		"--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := s.dial(2 * time.Second)
		if err == nil {
			c.Close()
			return
		}
		if !s.running() || time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			s.t.Fatalf("private Temporal server at %s not ready: %v\n%s", s.addr, err, b)
		}
		time.Sleep(100 * time.Millisecond) // polling for readiness, bounded by the deadline
	}
}

// kill ends the server with SIGKILL, as a crash would, and waits for it to exit.
func (s *temporalServer) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("the Temporal server did not exit after SIGKILL")
	}
}

func (s *temporalServer) dial(timeout time.Duration) (client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return temporalclient.Dial(ctx, config.Temporal{Address: s.addr, Namespace: namespace}, temporalclient.Options{})
}

// client is a client of the server for the test's checks, closed when the test ends; it
// reconnects by itself after a restart.
func (s *temporalServer) client() client.Client {
	s.t.Helper()
	c, err := s.dial(30 * time.Second)
	if err != nil {
		s.t.Fatalf("temporal client: %v", err)
	}
	s.t.Cleanup(c.Close)
	return c
}

// env is the worker's settings for this server.
func (s *temporalServer) env() []string {
	return []string{"TUTORHUB_TEMPORAL_ADDRESS=" + s.addr, "TUTORHUB_TEMPORAL_NAMESPACE=" + namespace}
}
