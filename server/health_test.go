package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
)

// cacheTTL is the readiness cache period the server promises ("about a second").
const cacheTTL = time.Second

// countedCheck counts a check's runs and the most runs ever in flight at once.
type countedCheck struct {
	runs, inFlight, maxInFlight atomic.Int64
}

func (c *countedCheck) wrap(check func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		c.runs.Add(1)
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for {
			m := c.maxInFlight.Load()
			if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		return check(ctx)
	}
}

// maxRuns is the most evaluations the cache allows over elapsed: one, then one more per
// full cache period, since an evaluation starts only when the previous result has expired.
func maxRuns(elapsed time.Duration) int64 { return 1 + int64(elapsed/cacheTTL) }

func TestReadinessChecksRunOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	var pg countedCheck
	h := server.NewHealth([]server.Check{{Name: "postgres", Check: pg.wrap(func(ctx context.Context) error {
		// A slow dependency, so callers pile up behind one evaluation.
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	})}})
	start := time.Now()
	var wg sync.WaitGroup
	var notReady atomic.Int64
	for range 64 {
		wg.Go(func() {
			if _, ok := h.Ready(context.Background()); !ok {
				notReady.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if notReady.Load() != 0 {
		t.Fatalf("%d of 64 callers saw not-ready", notReady.Load())
	}
	if got := pg.maxInFlight.Load(); got != 1 {
		t.Errorf("%d evaluations ran at once, want one at a time", got)
	}
	if got, most := pg.runs.Load(), maxRuns(elapsed); got > most {
		t.Errorf("64 callers over %s ran the check %d times, want at most %d", elapsed, got, most)
	}
}

func TestReadinessNamesTheFailingDependency(t *testing.T) {
	t.Parallel()
	h := server.NewHealth([]server.Check{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "redis", Check: func(ctx context.Context) error { return deadRedis().Ping(ctx).Err() }},
		{Name: "search", Check: func(context.Context) error {
			return errors.New("dial tcp 10.20.30.40:7700: connection refused")
		}},
	})
	res, ok := h.Ready(context.Background())
	b, _ := json.Marshal(res)
	if ok || string(b) != `{"status":"unavailable","failing":["redis","search"]}` {
		t.Fatalf("readiness with Redis and search down: %s", b)
	}
}

func TestBackgroundChecksRunAtStartNotPerRequest(t *testing.T) {
	t.Parallel()
	var migrations countedCheck
	var pending atomic.Bool
	pending.Store(true)
	h := server.NewHealth([]server.Check{{Name: "migrations", Every: time.Hour, Check: migrations.wrap(func(context.Context) error {
		if pending.Load() {
			return errors.New("3 migrations pending on db.internal:5432")
		}
		return nil
	})}})
	if res, ok := h.Ready(context.Background()); ok || !contains(res.Failing, "migrations") {
		t.Fatalf("before its first run a background check must count as failing: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.Start(ctx)
	res, ok := h.Ready(context.Background())
	b, _ := json.Marshal(res)
	if ok || string(b) != `{"status":"unavailable","failing":["migrations"]}` {
		t.Fatalf("pending migrations: %s", b)
	}
	pending.Store(false)
	for range 100 {
		h.Ready(context.Background())
	}
	if got := migrations.runs.Load(); got != 1 {
		t.Fatalf("the background check ran %d times for 100 requests, want only its start-up run", got)
	}
}

// TestReadyFloodDoesNotReachTheDatabase runs two replicas on one database, each with the
// production set of checks (pings on demand, the migration state in the background). A
// flood of /ready on one must neither make the other not-ready nor run checks per request.
func TestReadyFloodDoesNotReachTheDatabase(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	rdb, _ := testenv.Redis(t)
	migrator, err := database.NewMigrator(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = migrator.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	type replica struct {
		url                         string
		postgres, redis, migrations countedCheck
	}
	newReplica := func() *replica {
		r := &replica{}
		h := server.NewHealth([]server.Check{
			{Name: "postgres", Check: r.postgres.wrap(db.Ping)},
			{Name: "redis", Check: r.redis.wrap(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })},
			{Name: "migrations", Every: time.Hour, Check: r.migrations.wrap(func(ctx context.Context) error {
				pending, err := migrator.HasPending(ctx)
				if err == nil && pending {
					err = errors.New("migrations pending")
				}
				return err
			})},
		}, server.ServiceNames...)
		h.Start(ctx)
		r.url = newTestAPI(t, func(o *server.Options) { o.DB = db; o.Health = h }).URL
		return r
	}
	flooded, other := newReplica(), newReplica()

	// Enough idle connections for the flood, so it reuses them instead of opening thousands.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(client.CloseIdleConnections)
	ready := func(url string) (int, string) {
		res, err := client.Get(url + "/ready")
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const floodFor = 1500 * time.Millisecond
	start := time.Now()
	var flood sync.WaitGroup
	var floodRequests atomic.Int64
	for range 16 {
		flood.Go(func() {
			for time.Since(start) < floodFor {
				ready(flooded.url)
				floodRequests.Add(1)
			}
		})
	}
	otherRequests := 0
	for time.Since(start) < floodFor {
		if status, body := ready(other.url); status != http.StatusOK {
			t.Fatalf("the other replica turned not-ready during the flood: %d %s", status, body)
		}
		otherRequests++
	}
	flood.Wait()
	elapsed := time.Since(start)
	if status, body := ready(flooded.url); status != http.StatusOK {
		t.Fatalf("the flooded replica is not ready: %d %s", status, body)
	}
	elapsed = time.Since(start)

	t.Logf("%d /ready on the flooded replica, %d on the other, in %s", floodRequests.Load(), otherRequests, elapsed)
	if floodRequests.Load() < 50 {
		t.Fatalf("only %d flood requests: the flood did not happen", floodRequests.Load())
	}
	for name, r := range map[string]*replica{"flooded": flooded, "other": other} {
		for check, c := range map[string]*countedCheck{"postgres": &r.postgres, "redis": &r.redis} {
			if got, most := c.runs.Load(), maxRuns(elapsed); got > most {
				t.Errorf("%s replica: %s check ran %d times in %s, want at most %d", name, check, got, elapsed, most)
			}
		}
		if got := r.migrations.runs.Load(); got != 1 {
			t.Errorf("%s replica: migration check ran %d times, want once (at start)", name, got)
		}
	}
}

// internalTestAPI starts the API with its internal endpoints split off: the public and the
// internal handler, each on a loopback port speaking HTTP/1.1 and h2c.
func internalTestAPI(t *testing.T) (public, internal string) {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), "tutorhub-test", "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	var o server.Options
	newTestAPI(t, func(opts *server.Options) { o = *opts }) // the options every test server gets
	o.Telemetry = tel
	o.Internal = true
	h, err := server.NewHandlers(o)
	if err != nil {
		t.Fatal(err)
	}
	if h.Internal == nil {
		t.Fatal("Options.Internal set, but no internal handler")
	}
	serve := func(handler http.Handler) string {
		srv := httptest.NewUnstartedServer(handler)
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	return serve(h.Public), serve(h.Internal)
}

func TestInternalListenerTakesMetricsAndReflection(t *testing.T) {
	t.Parallel()
	public, internal := internalTestAPI(t)

	reflection := func(url string) ([]string, error) {
		stream := grpcreflect.NewClient(h2cClient(), url).NewStream(context.Background())
		defer stream.Close()
		names, err := stream.ListServices()
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = string(n)
		}
		return out, err
	}
	t.Run("the public handler answers 404 for metrics and reflection", func(t *testing.T) {
		status, h, body := do(t, http.MethodGet, public+"/metrics", "", nil)
		if status != http.StatusNotFound || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || decodeJSON(t, body)["code"] != "not_found" {
			t.Errorf("public /metrics: %d %s", status, body)
		}
		status, _, body = do(t, http.MethodGet, public+"/metrics", "", map[string]string{"Accept": "text/html"})
		if status != http.StatusNotFound {
			t.Errorf("public /metrics from a browser: %d %s", status, body)
		}
		if status, _, body := do(t, http.MethodGet, public+"/debug/pprof/", "", nil); status != http.StatusNotFound {
			t.Errorf("public /debug/pprof/: %d %.200s", status, body)
		}
		names, err := reflection(public)
		if connect.CodeOf(err) != connect.CodeNotFound && connect.CodeOf(err) != connect.CodeUnimplemented {
			t.Errorf("public reflection: %v %v, want not found", names, err)
		}
	})
	t.Run("the internal handler serves them", func(t *testing.T) {
		status, _, body := do(t, http.MethodGet, internal+"/metrics", "", nil)
		if status != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
			t.Errorf("internal /metrics: %d %.200s", status, body)
		}
		status, _, body = do(t, http.MethodGet, internal+"/debug/pprof/heap?debug=1", "", nil)
		if status != http.StatusOK || !strings.Contains(string(body), "heap profile") {
			t.Errorf("internal /debug/pprof/heap: %d %.200s", status, body)
		}
		names, err := reflection(internal)
		if err != nil || !contains(names, tutorhubv1connect.SubjectServiceName) {
			t.Errorf("internal reflection: %v %v", names, err)
		}
	})
	t.Run("health and readiness are on both", func(t *testing.T) {
		for _, url := range []string{public, internal} {
			for _, path := range []string{"/health", "/ready"} {
				if status, _, body := do(t, http.MethodGet, url+path, "", nil); status != http.StatusOK {
					t.Errorf("%s%s: %d %s", url, path, status, body)
				}
			}
		}
	})
	t.Run("the internal handler serves nothing else", func(t *testing.T) {
		status, _, body := do(t, http.MethodPost, internal+"/tutorhub.v1.SubjectService/ListSubjects", "{}", map[string]string{"Content-Type": "application/json"})
		if status != http.StatusNotFound {
			t.Errorf("an RPC on the internal handler: %d %s", status, body)
		}
	})
}
