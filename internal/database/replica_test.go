package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// replicaFixture is a test database on the primary with one row (k = 'a'), the same database
// on a private replica, and a Router over both, checking every 20 ms.
type replicaFixture struct {
	primary *pgxpool.Pool
	replica *testenv.Replica
	router  *database.Router
}

func newReplicaFixture(t *testing.T, maxLag time.Duration) *replicaFixture {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.DirectDatabaseURL(t)
	primary, err := database.Open(ctx, dbURL, database.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	if _, err := primary.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v text NOT NULL); INSERT INTO kv VALUES ('a', 'v1')"); err != nil {
		t.Fatal(err)
	}
	rep := testenv.NewPrivateReplica(t)
	rep.WaitForDatabase(dbURL)
	replicaPool, err := database.OpenReplica(rep.URL(dbURL), database.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replicaPool.Close)
	rdb, prefix := testenv.Redis(t)
	router := database.NewRouter(primary, replicaPool, database.RouterOptions{
		MaxLag: maxLag, CheckInterval: 20 * time.Millisecond, Redis: rdb, KeyPrefix: prefix,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); router.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	f := &replicaFixture{primary: primary, replica: rep, router: router}
	f.waitFor(t, "the replica in service with the row replayed", func() bool {
		return router.State().Usable && f.read(t, context.Background()) == "v1"
	})
	return f
}

// read reads the row through the router, counting where it went.
func (f *replicaFixture) read(t *testing.T, ctx context.Context) string {
	t.Helper()
	var v string
	if err := f.router.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil {
		t.Fatalf("read through the router: %v", err)
	}
	return v
}

func (f *replicaFixture) write(t *testing.T, v string) {
	t.Helper()
	if _, err := f.primary.Exec(context.Background(), "UPDATE kv SET v = $1 WHERE k = 'a'", v); err != nil {
		t.Fatal(err)
	}
}

func (f *replicaFixture) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; replica state %+v", what, f.router.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkedAfter waits for a check that started after now, so the state reflects what the
// test did before.
func (f *replicaFixture) checkedAfter(t *testing.T, now time.Time) {
	t.Helper()
	f.waitFor(t, "a check after the change", func() bool { return f.router.State().CheckedAt.After(now) })
}

func TestRouterSendsPublicReadsToTheReplicaAndTheWritersReadsToThePrimaryUntilReplayed(t *testing.T) {
	f := newReplicaFixture(t, time.Hour)
	ctx := context.Background()
	writer := database.WithReader(ctx, "writer")
	other := database.WithReader(ctx, "other")

	// The replica stops applying WAL: what it serves from now on is visibly older.
	f.replica.PauseReplay()
	f.write(t, "v2")
	if err := f.router.NoteWrite(ctx, "writer"); err != nil {
		t.Fatal(err)
	}
	f.checkedAfter(t, time.Now())
	if !f.router.State().Usable {
		t.Fatalf("replica out of service within the lag bound: %+v", f.router.State())
	}

	replicaBefore := f.router.Reads(database.TargetReplica)
	if got := f.read(t, ctx); got != "v1" {
		t.Errorf("anonymous read = %q, want the replica's v1", got)
	}
	if got := f.read(t, other); got != "v1" {
		t.Errorf("another user's read = %q, want the replica's v1", got)
	}
	if got := f.router.Reads(database.TargetReplica) - replicaBefore; got != 2 {
		t.Errorf("reads on the replica = %d, want 2", got)
	}
	primaryBefore := f.router.Reads(database.TargetPrimary)
	if got := f.read(t, writer); got != "v2" {
		t.Errorf("the writer's read = %q, want their own write v2 (from the primary)", got)
	}
	if got := f.router.Reads(database.TargetPrimary) - primaryBefore; got != 1 {
		t.Errorf("reads on the primary = %d, want 1", got)
	}

	// Once the replica has replayed the write, the writer reads from it again.
	f.replica.ResumeReplay()
	f.waitFor(t, "the writer's reads back on the replica", func() bool {
		before := f.router.Reads(database.TargetReplica)
		v := f.read(t, writer)
		return f.router.Reads(database.TargetReplica) > before && v == "v2"
	})
}

func TestRouterSendsReadsToThePrimaryWhileTheReplicaLagsBeyondTheBound(t *testing.T) {
	f := newReplicaFixture(t, 10*time.Second)
	ctx := context.Background()

	f.replica.PauseReplay()
	f.write(t, "v2")
	written := f.primaryLSN(t)
	f.waitFor(t, "the replica out of service for its lag", func() bool {
		st := f.router.State()
		return !st.Usable && strings.Contains(st.Reason, "lag")
	})
	st := f.router.State()
	if st.LagBytes <= 0 || st.Lag <= 10*time.Second {
		t.Errorf("lag = %d bytes, %s; want both measured beyond the bound", st.LagBytes, st.Lag)
	}
	if got := f.read(t, ctx); got != "v2" {
		t.Errorf("anonymous read while the replica lags = %q, want the primary's v2", got)
	}

	// Within the bound the replica may serve reads that are up to 10 s old, so "caught up"
	// means in service with v2's commit replayed, not merely in service.
	f.replica.ResumeReplay()
	f.waitFor(t, "the replica back in service with v2 replayed", func() bool {
		st := f.router.State()
		return st.Usable && st.ReplayLSN >= written
	})
	replicaBefore := f.router.Reads(database.TargetReplica)
	if got := f.read(t, ctx); got != "v2" {
		t.Errorf("read after catching up = %q, want v2", got)
	}
	if f.router.Reads(database.TargetReplica) == replicaBefore {
		t.Error("the read after catching up was not answered by the replica")
	}
}

// primaryLSN is the primary's WAL position now: every commit before this call is at or below it.
func (f *replicaFixture) primaryLSN(t *testing.T) int64 {
	t.Helper()
	var lsn int64
	if err := f.primary.QueryRow(context.Background(), "SELECT (pg_current_wal_lsn() - '0/0')::bigint").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}

func TestRouterReadsFromThePrimaryWhenTheReplicaStops(t *testing.T) {
	f := newReplicaFixture(t, time.Hour)
	ctx := context.Background()
	f.write(t, "v2")
	f.waitFor(t, "the replica to replay v2", func() bool { return f.read(t, ctx) == "v2" })

	f.replica.Stop()
	// The first read after the stop fails on the replica and is answered by the primary.
	before := f.router.Reads(database.TargetPrimary)
	if got := f.read(t, ctx); got != "v2" {
		t.Errorf("read after the replica stopped = %q, want v2", got)
	}
	if f.router.Reads(database.TargetPrimary) == before {
		t.Error("the read after the replica stopped was not answered by the primary")
	}
	f.checkedAfter(t, time.Now())
	if st := f.router.State(); st.Usable || !strings.Contains(st.Reason, "unreachable") {
		t.Errorf("state after the replica stopped = %+v, want out of service, unreachable", st)
	}
	for range 3 {
		before := f.router.Reads(database.TargetPrimary)
		if got := f.read(t, ctx); got != "v2" || f.router.Reads(database.TargetPrimary) != before+1 {
			t.Fatalf("read while the replica is down = %q (primary reads %d -> %d)", got, before, f.router.Reads(database.TargetPrimary))
		}
	}
}

func TestRouterWithoutReplicaReadsThePrimary(t *testing.T) {
	ctx := context.Background()
	primary := testenv.Postgres(t)
	r := database.NewRouter(primary, nil, database.RouterOptions{})
	if st := r.Check(ctx); st.Usable {
		t.Fatalf("state without a replica = %+v, want out of service", st)
	}
	var one int
	if err := r.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("read = %d, %v", one, err)
	}
	if r.Reads(database.TargetPrimary) != 1 {
		t.Errorf("primary reads = %d, want 1", r.Reads(database.TargetPrimary))
	}
	if err := r.NoteWrite(ctx, "u"); err != nil {
		t.Errorf("NoteWrite without a replica: %v", err)
	}
}
