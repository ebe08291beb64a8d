package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replica is a streaming replica of the stack's PostgreSQL (deploy/local/up.sh replica).
// Test databases are created on the primary and replicate physically, so a test reads its
// own database on the replica once the replica has replayed its creation (WaitForDatabase).
type Replica struct {
	t    testing.TB
	Port int
	// Data is the replica's data directory.
	Data string
	env  []string
}

// SharedReplica is the local stack's replica, started if it does not answer. Tests must not
// stop it or pause it: use NewPrivateReplica for that.
func SharedReplica(t testing.TB) *Replica {
	t.Helper()
	port, _ := strconv.Atoi(envOr("TUTORHUB_REPLICA_PORT", "5433"))
	r := &Replica{t: t, Port: port}
	needService(t, "replica", func(ctx context.Context) error { return r.ping(ctx) })
	return r
}

// NewPrivateReplica copies the stack's PostgreSQL into a replica of this test's own (a free
// port, a data directory under .data/test-replicas), which the test may pause and stop; it
// is stopped and deleted when the test ends.
func NewPrivateReplica(t testing.TB) *Replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := filepath.Join(RepoRoot(t), ".data", "test-replicas", RandomID())
	r := &Replica{t: t, Port: port, Data: dir, env: append(os.Environ(),
		"TUTORHUB_REPLICA_PORT="+strconv.Itoa(port), "TUTORHUB_REPLICA_DATA="+dir)}
	t.Cleanup(func() {
		r.Stop()
		_ = os.RemoveAll(dir)
		_ = os.Remove(dir + ".log")
	})
	r.script("up.sh")
	return r
}

func (r *Replica) script(name string) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(r.t), "deploy", "local", name), "replica")
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("deploy/local/%s replica (port %d): %v\n%s", name, r.Port, err, out)
		if os.Getenv("CI") == "true" || name != "up.sh" {
			r.t.Fatal(msg)
		}
		r.t.Skip(msg)
	}
}

// Stop shuts a private replica down (fast shutdown: connections are cut); a stopped one
// stays stopped.
func (r *Replica) Stop() {
	r.t.Helper()
	if r.env == nil {
		r.t.Fatal("the shared replica is not the test's to stop")
	}
	r.script("down.sh")
}

// URL is dbURL's database (on the stack's PostgreSQL, directly or through PgBouncer) on the
// replica.
func (r *Replica) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		r.t.Fatalf("database url: %v", err)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
	return u.String()
}

func (r *Replica) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, r.URL(withDatabase(AdminDatabaseURL(), "postgres")))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Exec runs sql on the replica's postgres database (pg_wal_replay_pause() and the like).
func (r *Replica) Exec(sql string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.URL(withDatabase(AdminDatabaseURL(), "postgres")))
	if err != nil {
		r.t.Fatalf("replica: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		r.t.Fatalf("replica: %s: %v", sql, err)
	}
}

// PauseReplay stops the replica applying WAL (it keeps receiving it): from now on it falls
// behind the primary, as a replica under load does.
func (r *Replica) PauseReplay() { r.Exec("SELECT pg_wal_replay_pause()") }

// ResumeReplay lets the replica catch up.
func (r *Replica) ResumeReplay() { r.Exec("SELECT pg_wal_replay_resume()") }

// WaitForDatabase waits until the replica serves dbURL's database.
func (r *Replica) WaitForDatabase(dbURL string) {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, r.URL(dbURL))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			r.t.Fatalf("the replica did not replay the creation of the test database: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
