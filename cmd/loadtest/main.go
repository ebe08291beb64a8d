// Command loadtest measures tutorhub end to end and writes docs/benchmarks.md whole: it builds
// the binary, serves it against a fresh database on this machine (seeded, then analysed),
// drives each scenario at a fixed concurrency for a fixed time over loopback (Login and Refresh
// over a pool of accounts, at one client for latency and at the full concurrency for
// throughput), measures pgbench -S and redis-benchmark in the same run for scale, and renders
// the page from benchmarks.md.tmpl with these results, the Go benchmarks' output and the web
// bundle's size. Every figure on the page comes from this run.
//
// With the tutors seeded, it also puts them into the search index (through the search package)
// for the SearchTutors rows, and, against the local Temporal dev server, measures the outbox
// relay draining a backlog (events/s) and the lag from a tutor write to its version in the
// index at a fixed write rate, with the relay and the search worker running in this process.
//
// It also serves a second instance whose Redis, PostgreSQL and Kratos connections pass through
// a private Toxiproxy and measures a mix of reads and sign-ins under each fault (faults.go),
// and a third whose in-flight limit is sized to its pool, driven at three times the open
// model's knee (overload.go).
//
//	go run ./cmd/loadtest -out docs/benchmarks.md [-duration 10s] [-concurrency 16] [-tutors 100000]
//	    [-accounts 32] [-relay-events 5000] [-lag-rate 20] [-lag-duration 15s]
//	    [-gobench FILE] [-websize FILE] [-faults=false] [-fault-duration 5s] [-fault-readers 8]
//	    [-toxiproxy .bin/toxiproxy-server] [-overload=false] [-overload-window 10s] [-overload-in-flight 64]
//	    [-keepalive 1000] [-keepalive-every 1s]
//
// The memory scenario alone, quickly (-only matches no other scenario; it needs tutors):
//
//	go run ./cmd/loadtest -only '^memory$' -tutors 3000 -accounts 0 -relay-events 0 -lag-rate 0 \
//	    -open-model=false -faults=false -overload=false -out /tmp/mem.md -capacity ''
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// scenario is one kind of request, issued repeatedly by each worker.
type scenario struct {
	name string
	// clients overrides -concurrency (1: a latency measurement).
	clients int
	// setup prepares per-run state (clients) and returns the request function.
	setup func(base string) func(ctx context.Context) error
	// profile samples the server's CPU and allocations while the scenario runs, for the
	// per-layer breakdown.
	profile bool
}

// result is one scenario's measurement.
type result struct {
	Name          string
	Clients       int
	Requests      int64
	Errors        int64
	RPS           float64
	P50, P95, P99 time.Duration
	// CPU is how the machine's cores were spent while it ran (nil: not measured).
	CPU *cpuUsage
}

// pageSize is the page every list scenario asks for.
const pageSize = 20

// loadMaxConns is the database pool of every instance the load test serves.
const loadMaxConns = 16

func main() {
	out := flag.String("out", "docs/benchmarks.md", "Markdown file to write the results into")
	capacity := flag.String("capacity", "docs/capacity.md", "Markdown file to write the capacity plan computed from the results into (empty: none)")
	duration := flag.Duration("duration", 10*time.Second, "how long each scenario runs")
	concurrency := flag.Int("concurrency", 16, "concurrent clients per scenario")
	tutors := flag.Int("tutors", 100000, "tutors to seed for the tutor scenarios (0 skips them)")
	gobench := flag.String("gobench", "", "output of `go test -bench` to include in the report")
	websize := flag.String("websize", "", "output of web/scripts/size.mjs to include in the report")
	accounts := flag.Int("accounts", 32, "accounts the Login and Refresh scenarios rotate over (0 skips them)")
	relayEvents := flag.Int("relay-events", 5000, "outbox events the relay scenario drains (0 skips it)")
	lagRate := flag.Int("lag-rate", 20, "tutor writes per second in the write-to-searchable scenario (0 skips it; needs -tutors)")
	lagDuration := flag.Duration("lag-duration", 15*time.Second, "how long the write-to-searchable scenario writes")
	load := flag.Bool("load", true, "run the load scenarios (false: only include the given outputs)")
	only := flag.String("only", "", "run only the scenarios whose name matches this regular expression (for a targeted measurement; the page then shows only those)")
	profiles := flag.String("profiles", "", "directory to keep the raw CPU and allocation profiles in, for go tool pprof")
	keepAlive := flag.Int("keepalive", 1000, "keep-alive connections the memory scenario holds (0 skips it)")
	keepAliveEvery := flag.Duration("keepalive-every", time.Second, "how often each of the memory scenario's clients sends a request (its connection idles between)")
	openModel := flag.Bool("open-model", true, "step a constant arrival rate of a realistic mix up to its knee (needs -tutors)")
	faultsOn := flag.Bool("faults", true, "measure the mix of reads and sign-ins under each dependency fault, through a private Toxiproxy (needs -tutors)")
	faultDuration := flag.Duration("fault-duration", 5*time.Second, "how long each fault's load runs")
	faultReaders := flag.Int("fault-readers", 8, "concurrent reading clients under each fault (one more signs in)")
	toxiBin := flag.String("toxiproxy", toxiproxyBin(), "toxiproxy-server binary for the fault scenarios")
	overloadOn := flag.Bool("overload", true, "drive the open model's mix at three times its knee (needs -tutors)")
	overloadWindow := flag.Duration("overload-window", 10*time.Second, "how long the overload lasts")
	overloadInFlight := flag.Int("overload-in-flight", 4*loadMaxConns, "TUTORHUB_MAX_IN_FLIGHT of the overloaded instance, the adaptive limit's ceiling (docs/resilience.md: a few times the pool)")
	overloadTarget := flag.Duration("overload-latency-target", OpenModelP99Target/2, "TUTORHUB_LATENCY_TARGET of the overloaded instance (0s: a fixed limit of -overload-in-flight)")
	adminURL := flag.String("database", testenv.AdminDatabaseURL(), "maintenance database URL (default as the tests': TUTORHUB_TEST_DATABASE_URL, else TUTORHUB_PG_* and PGPASSWORD)")
	flag.Parse()
	rep := report{Concurrency: *concurrency, Duration: *duration, PageSize: pageSize}
	if err := rep.readInputs(*gobench, *websize); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if *load {
		if *tutors == 0 {
			*lagRate = 0 // the scenario writes seeded tutors
		}
		rep.LoadCommand = fmt.Sprintf("go run ./cmd/loadtest -duration %s -concurrency %d -tutors %d -accounts %d -relay-events %d -lag-rate %d -lag-duration %s -fault-duration %s -fault-readers %d -overload-window %s -overload-in-flight %d -overload-latency-target %s -keepalive %d -keepalive-every %s",
			*duration, *concurrency, *tutors, *accounts, *relayEvents, *lagRate, *lagDuration, *faultDuration, *faultReaders, *overloadWindow, *overloadInFlight, *overloadTarget, *keepAlive, *keepAliveEvery)
		async := asyncOptions{relayEvents: *relayEvents, lagRate: *lagRate, lagDuration: *lagDuration}
		opts := runOptions{keepAlive: *keepAlive, keepAliveEvery: *keepAliveEvery, profiles: *profiles, openModel: *openModel,
			faults: *faultsOn, faultDuration: *faultDuration, faultReaders: *faultReaders, toxiproxy: *toxiBin,
			overload: *overloadOn, overloadWindow: *overloadWindow, overloadInFlight: *overloadInFlight, overloadTarget: *overloadTarget}
		if *only != "" {
			re, err := regexp.Compile(*only)
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadtest: -only:", err)
				os.Exit(1)
			}
			opts.only = re
		}
		if err := run(&rep, *tutors, *accounts, async, opts, *adminURL); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
	if err := rep.write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if *capacity != "" {
		if err := rep.writeCapacity(*capacity); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
}

// asyncOptions size the scenarios of the asynchronous path; zero skips one.
type asyncOptions struct {
	relayEvents, lagRate int
	lagDuration          time.Duration
}

// runOptions are the load test's knobs beyond the scenarios' sizes.
type runOptions struct {
	only           *regexp.Regexp // nil: every scenario
	keepAlive      int
	keepAliveEvery time.Duration
	profiles       string
	openModel      bool

	faults        bool
	faultDuration time.Duration
	faultReaders  int
	toxiproxy     string

	overload         bool
	overloadWindow   time.Duration
	overloadInFlight int
	overloadTarget   time.Duration
}

// selected reports whether the run includes the scenario (or section) of that name.
func (o runOptions) selected(name string) bool { return o.only == nil || o.only.MatchString(name) }

func run(rep *report, tutors, accounts int, async asyncOptions, opts runOptions, adminURL string) error {
	duration, concurrency := rep.Duration, rep.Concurrency
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tutorhub-loadtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tutorhub")
	logf("building tutorhub")
	if err := command("go", "build", "-o", bin, "./cmd/tutorhub").Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	dbName := fmt.Sprintf("tutorhub_loadtest_%d", os.Getpid())
	dbURL, drop, err := createDatabase(ctx, adminURL, dbName)
	if err != nil {
		return err
	}
	defer drop()

	srv, base, internalBase, err := startServer(bin, dbURL)
	if err != nil {
		return err
	}
	prof := profiler{base: internalBase, dir: opts.profiles}
	if opts.profiles != "" {
		if err := os.MkdirAll(opts.profiles, 0o755); err != nil {
			return err
		}
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()

	all := scenarios()
	if tutors > 0 {
		logf("seeding %d tutors", tutors)
		seed := command(bin, "dev", "seed", "--tutors", fmt.Sprint(tutors))
		seed.Env = append(apiEnviron(), "TUTORHUB_ENV=test", "TUTORHUB_DATABASE_URL="+dbURL)
		if err := seed.Run(); err != nil {
			return fmt.Errorf("seed tutors: %w", err)
		}
		logf("indexing the seeded tutors for search")
		t0 := time.Now()
		indexed, err := withPool(ctx, dbURL, indexTutors)
		if err != nil {
			return err
		}
		if indexed != tutors {
			return fmt.Errorf("indexed %d tutors of the %d seeded", indexed, tutors)
		}
		logf("indexed %d tutors in %s", indexed, time.Since(t0).Round(time.Second))
		rep.Indexed = indexed
		// Fresh statistics, so the planner sees the seeded catalogue as production would
		// after autovacuum caught up, not the empty tables migrations left.
		if err := analyze(ctx, dbURL); err != nil {
			return err
		}
		ts, err := tutorScenarios(ctx, dbURL, tutors)
		if err != nil {
			return err
		}
		all = append(all, ts...)
	}
	var users []account
	if accounts > 0 {
		logf("registering %d accounts", accounts)
		if users, err = registerAccounts(ctx, base, accounts); err != nil {
			return err
		}
		all = append(all, authScenarios(users, concurrency)...)
	}
	rep.Memory = &memoryResult{Connections: opts.keepAlive, Every: opts.keepAliveEvery, TargetKB: 150 * 1024}
	if mem, err := readMem(srv.Process.Pid); err == nil {
		rep.Memory.BaselineKB = mem.RSS
	}
	for _, sc := range all {
		if opts.only != nil && !opts.only.MatchString(sc.name) {
			continue
		}
		n := concurrency
		if sc.clients > 0 {
			n = sc.clients
		}
		logf("scenario %s: %d clients for %s", sc.name, n, duration)
		var sampler func(done *atomic.Int64) func() *profileResult
		if sc.profile {
			sampler = func(done *atomic.Int64) func() *profileResult {
				return sampleDuring(ctx, prof, sc.name, duration, done)
			}
		}
		res, pr := drive(sc.name, sc.setup(base), n, duration, sampler, srv.Process.Pid)
		rep.Load = append(rep.Load, res)
		if pr != nil {
			rep.Profiles = append(rep.Profiles, *pr)
		}
	}
	if opts.openModel && tutors > 0 && (opts.only == nil || opts.only.MatchString("open model")) {
		tr, mix := openModelTargets(base, subjectIDs, hotTutors, coldTutors, users)
		rep.OpenModel = runOpenModel(tr, mix)
	}
	if opts.faults && tutors > 0 && opts.selected("under faults") {
		rep.Faults = runFaults(bin, dbURL, opts.toxiproxy, hotTutors, coldTutors[len(coldTutors)/2:], subjectIDs, users, opts.faultReaders, opts.faultDuration)
	}
	if opts.overload && tutors > 0 && opts.selected("overload") {
		knee := 0
		if rep.OpenModel != nil {
			knee = rep.OpenModel.Knee
		}
		targets := func(base string) (vegeta.Targeter, []mixEntry) {
			return openModelTargets(base, subjectIDs, hotTutors, coldTutors, users)
		}
		rep.Overload = runOverload(bin, dbURL, knee, opts.overloadInFlight, opts.overloadTarget, opts.overloadWindow, targets, hotTutors)
	}
	if opts.keepAlive > 0 && tutors > 0 {
		if err := measureMemory(rep.Memory, base, srv.Process.Pid, hotTutors, duration); err != nil {
			return err
		}
	} else {
		rep.Memory = nil
	}
	if async.relayEvents > 0 || async.lagRate > 0 {
		if err := runAsync(ctx, rep, dbURL, async); err != nil {
			return err
		}
	}
	rep.PGBenchCommand, rep.PGBench, rep.PGBenchCPU = pgbench(ctx, adminURL, concurrency, duration)
	rep.RedisBenchCommand, rep.RedisBench, rep.RedisBenchCPU = redisBenchmark(concurrency)
	return nil
}

func analyze(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[loadtest] "+format+"\n", args...)
}

func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

func createDatabase(ctx context.Context, adminURL, name string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL (start the stack with deploy/local/up.sh): %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, err
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// freeAddr is a loopback address with a port no one listens on now, so two load tests on
// one machine do not collide.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer serves bin as production would on the request path: JSON request logs (one
// line per request, into /dev/null) and rate limiting on, every budget sized so no scenario
// spends it, but each request still pays for its checks in Redis. extra are further
// TUTORHUB_ variables (KEY=value) that override these.
func startServer(bin, dbURL string, extra ...string) (cmd *exec.Cmd, base, internal string, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	internalAddr, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	cmd = exec.Command(bin, "serve", "--migrate")
	const ample = "1000000/1s"
	cmd.Env = append(apiEnviron(),
		"TUTORHUB_ENV=test",
		"TUTORHUB_HTTP_ADDR="+addr,
		"TUTORHUB_HTTP_INTERNAL_ADDR="+internalAddr,
		"TUTORHUB_DATABASE_URL="+dbURL,
		fmt.Sprintf("TUTORHUB_DATABASE_MAX_CONNS=%d", loadMaxConns),
		"TUTORHUB_RATE_LIMIT_ENABLED=true",
		"TUTORHUB_RATE_LIMIT_ANONYMOUS="+ample,
		"TUTORHUB_RATE_LIMIT_AUTHENTICATED="+ample,
		"TUTORHUB_RATE_LIMIT_AUTH="+ample,
		"TUTORHUB_RATE_LIMIT_AUTH_ACCOUNT="+ample,
		"TUTORHUB_RATE_LIMIT_AUTH_GLOBAL="+ample,
		"TUTORHUB_REDIS_KEY_PREFIX=loadtest:",
		"TUTORHUB_LOG_LEVEL=info",
		"TUTORHUB_LOG_FORMAT=json",
	)
	// os/exec keeps the last of duplicate keys.
	cmd.Env = append(cmd.Env, extra...)
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, "", "", err
	}
	// An *os.File, so the server writes its log lines (stdout) straight to it, with no
	// copying goroutine in this process; startup errors (stderr) still show.
	cmd.Stdout, cmd.Stderr = devNull, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", "", err
	}
	base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(base + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd, base, "http://" + internalAddr, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, "", "", fmt.Errorf("server not ready within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiEnviron is this process's environment without the TUTORHUB_ variables only the local
// scripts and the tests read (TUTORHUB_PG_*, TUTORHUB_TEST_*): the API refuses unknown ones.
func apiEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUTORHUB_PG_") && !strings.HasPrefix(kv, "TUTORHUB_TEST_") {
			env = append(env, kv)
		}
	}
	return env
}

func transport() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

func h2c() *http.Client {
	t := &http.Transport{}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

func scenarios() []scenario {
	listReq := &tutorhubv1.ListSubjectsRequest{PageSize: pageSize}
	connectScenario := func(name string, client func() *http.Client, opts ...connect.ClientOption) scenario {
		return scenario{name: name, setup: func(base string) func(context.Context) error {
			c := tutorhubv1connect.NewSubjectServiceClient(client(), base, opts...)
			return func(ctx context.Context) error {
				_, err := c.ListSubjects(ctx, listReq)
				return err
			}
		}}
	}
	return []scenario{
		func() scenario {
			sc := connectScenario("ListSubjects, Connect (protobuf)", transport)
			sc.profile = true
			return sc
		}(),
		connectScenario("ListSubjects, Connect (JSON)", transport, connect.WithProtoJSON()),
		connectScenario("ListSubjects, gRPC (h2c)", h2c, connect.WithGRPC()),
		{name: "ListSubjects, REST GET /api/v1/subjects", profile: true, setup: func(base string) func(context.Context) error {
			c := transport()
			url := fmt.Sprintf("%s/api/v1/subjects?page_size=%d", base, pageSize)
			return func(ctx context.Context) error { return restGet(ctx, c, url) }
		}},
	}
}

// tutorScenarios read tutors the way the public does: single profiles with a warm and a cold
// cache, filtered lists, and searches (searchScenarios), over the seeded catalogue.
func tutorScenarios(ctx context.Context, dbURL string, tutors int) ([]scenario, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var ids, subjects []string
	rows, err := conn.Query(ctx, `SELECT id::text FROM tutors WHERE published AND deleted_at IS NULL ORDER BY md5(id::text) LIMIT 40000`)
	if err != nil {
		return nil, err
	}
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	rows, err = conn.Query(ctx, `SELECT id::text FROM subjects ORDER BY name`)
	if err != nil {
		return nil, err
	}
	if subjects, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, err
	}
	if len(ids) < 2000 || len(subjects) == 0 {
		return nil, fmt.Errorf("seeded data too small: %d published tutors, %d subjects", len(ids), len(subjects))
	}
	hot, cold := ids[:1000], ids[1000:]
	hotTutors, coldTutors, subjectIDs = hot, cold, subjects
	coldREST, cold := cold[:len(cold)/2], cold[len(cold)/2:]
	getTutor := func(pool []string, warm bool) func(base string) func(context.Context) error {
		return func(base string) func(context.Context) error {
			c := tutorhubv1connect.NewTutorServiceClient(transport(), base)
			if warm {
				for _, id := range pool {
					_, _ = c.GetTutor(context.Background(), &tutorhubv1.GetTutorRequest{TutorId: id})
				}
			}
			var next atomic.Int64
			return func(ctx context.Context) error {
				id := pool[int(next.Add(1))%len(pool)]
				_, err := c.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: id})
				return err
			}
		}
	}
	listTutors := func(build func(i int) *tutorhubv1.ListTutorsRequest) func(base string) func(context.Context) error {
		return func(base string) func(context.Context) error {
			c := tutorhubv1connect.NewTutorServiceClient(transport(), base)
			var next atomic.Int64
			return func(ctx context.Context) error {
				_, err := c.ListTutors(ctx, build(int(next.Add(1))))
				return err
			}
		}
	}
	languages := []string{"en", "es", "fr", "de", "zh", "ar", "pt", "it"}
	restGetTutor := func(pool []string, warm bool) func(base string) func(context.Context) error {
		return func(base string) func(context.Context) error {
			c := transport()
			get := func(ctx context.Context, id string) error {
				return restGet(ctx, c, base+"/api/v1/tutors/"+id)
			}
			if warm {
				for _, id := range pool {
					_ = get(context.Background(), id)
				}
			}
			var next atomic.Int64
			return func(ctx context.Context) error {
				return get(ctx, pool[int(next.Add(1))%len(pool)])
			}
		}
	}
	return append([]scenario{
		{name: "GetTutor, cache warm (1,000 hot tutors)", setup: getTutor(hot, true), profile: true},
		{name: "GetTutor, cache warm (1,000 hot tutors), REST GET /api/v1/tutors/{id}", setup: restGetTutor(hot, true), profile: true},
		{name: fmt.Sprintf("GetTutor, cache cold (%d distinct tutors, each read about once)", len(cold)), setup: getTutor(cold, false), profile: true},
		{name: fmt.Sprintf("GetTutor, cache cold (%d distinct tutors, each read about once), REST", len(coldREST)), setup: restGetTutor(coldREST, false)},
		// A price range needs a currency: prices compare only within one.
		{name: fmt.Sprintf("ListTutors over %d tutors: subject + currency + price range", tutors), setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: pageSize, SubjectId: subjects[i%len(subjects)], Currency: "EUR", MinHourlyRateMinor: 2000, MaxHourlyRateMinor: 6000}
		})},
		{name: fmt.Sprintf("ListTutors over %d tutors: subject + level + language + online", tutors), profile: true, setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: pageSize, SubjectId: subjects[i%len(subjects)], Level: tutorhubv1.Level(1 + i%3), Language: languages[i%len(languages)], LessonMode: tutorhubv1.LessonMode_LESSON_MODE_ONLINE}
		})},
		{name: fmt.Sprintf("ListTutors over %d tutors: language + in person", tutors), setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: pageSize, Language: languages[i%len(languages)], LessonMode: tutorhubv1.LessonMode_LESSON_MODE_IN_PERSON}
		})},
	}, searchScenarios(subjects, tutors)...), nil
}

// restGet is one GET that must answer 200, its body read whole.
func restGet(ctx context.Context, c *http.Client, url string) error {
	code, err := restStatus(ctx, c, url)
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d", code)
	}
	return err
}

// restStatus GETs url and returns the status, having read the body so the connection is kept.
func restStatus(ctx context.Context, c *http.Client, url string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// hotTutors are the ids of the warm-cache scenarios, coldTutors of the rest, and
// subjectIDs the catalogue's (set by tutorScenarios).
var hotTutors, coldTutors, subjectIDs []string

// drive runs fn from n workers for d and summarises the latencies; with sampler, it profiles
// the server meanwhile (sampler starts with the measurement and its result is waited for).
// With the server's pid (0: none), it measures the CPU each process spent over the
// measurement.
func drive(name string, fn func(context.Context) error, n int, d time.Duration, sampler func(done *atomic.Int64) func() *profileResult, server int) (result, *profileResult) {
	// Warm up connections and caches outside the measurement.
	for i := 0; i < n; i++ {
		_ = fn(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var errs, done atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	var cpu *cpuMeter
	if server > 0 {
		cpu = startCPU(server)
	}
	start := time.Now()
	var profiled func() *profileResult
	if sampler != nil {
		profiled = sampler(&done)
	}
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := fn(context.Background())
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var used *cpuUsage
	if cpu != nil {
		used = cpu.stop(done.Load() + errs.Load())
	}
	var pr *profileResult
	if profiled != nil {
		pr = profiled()
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	return result{
		Name: name, Clients: n, Requests: int64(len(all)), Errors: errs.Load(),
		RPS: float64(len(all)) / elapsed.Seconds(),
		P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), CPU: used,
	}, pr
}

const (
	pgbenchScale  = 10
	pgbenchJobs   = 2
	redisRequests = 200000
)

// pgbench measures PostgreSQL's own select-only throughput on this machine; it returns the
// command it ran, a summary of the result and the CPU each process spent meanwhile.
func pgbench(ctx context.Context, adminURL string, clients int, d time.Duration) (string, string, *cpuUsage) {
	args := []string{"-S", "-c", fmt.Sprint(clients), "-j", fmt.Sprint(pgbenchJobs), "-T", fmt.Sprint(int(d.Seconds()))}
	shown := "pgbench " + strings.Join(args, " ")
	if _, err := exec.LookPath("pgbench"); err != nil {
		return shown, "pgbench not installed (Debian package postgresql-contrib)", nil
	}
	name := fmt.Sprintf("tutorhub_pgbench_%d", os.Getpid())
	dbURL, drop, err := createDatabase(ctx, adminURL, name)
	if err != nil {
		return shown, "pgbench: " + err.Error(), nil
	}
	defer drop()
	logf("pgbench -S: %d clients for %s", clients, d)
	if out, err := exec.Command("pgbench", "-i", "-q", "-s", fmt.Sprint(pgbenchScale), dbURL).CombinedOutput(); err != nil {
		return shown, "pgbench -i failed: " + string(out), nil
	}
	cpu := startCPU(0)
	out, err := exec.Command("pgbench", append(args, dbURL)...).CombinedOutput()
	if err != nil {
		return shown, "pgbench failed: " + string(out), nil
	}
	// -S: one SELECT a transaction.
	n, _ := firstFloat(string(out), `transactions actually processed: ([0-9]+)`)
	return shown, summarise(string(out), `tps = ([0-9.]+)`, `latency average = ([0-9.]+ ms)`, "tps %s, latency average %s"), cpu.stop(int64(n))
}

// redisBenchmark measures Redis's own GET throughput on this machine; it returns the command
// it ran, a summary of the result and the CPU each process spent meanwhile.
func redisBenchmark(clients int) (string, string, *cpuUsage) {
	args := []string{"-t", "get", "-n", fmt.Sprint(redisRequests), "-c", fmt.Sprint(clients)}
	shown := "redis-benchmark " + strings.Join(args, " ")
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		return shown, "redis-benchmark not installed (Debian package redis-tools)", nil
	}
	logf("redis-benchmark GET: %d clients", clients)
	cpu := startCPU(0)
	out, err := exec.Command("redis-benchmark", append(args, "-q")...).CombinedOutput()
	if err != nil {
		return shown, "redis-benchmark failed: " + string(out), nil
	}
	return shown, summarise(string(out), `([0-9.]+) requests per second`, `p50=([0-9.]+ msec)`, "%s requests/s, p50 %s"), cpu.stop(redisRequests)
}

func summarise(out, first, second, format string) string {
	a := regexp.MustCompile(first).FindStringSubmatch(out)
	b := regexp.MustCompile(second).FindStringSubmatch(out)
	if a == nil || b == nil {
		return strings.TrimSpace(out)
	}
	return fmt.Sprintf(format, a[1], b[1])
}

// accountPassword is the password of every account the load tool registers.
const accountPassword = "load test battery staple 42"

// account is a registered user the auth scenarios sign in as.
type account struct{ email, session string }

// registerAccounts registers n fresh accounts through the API, signs each in once, and keeps
// their session tokens for Refresh.
func registerAccounts(ctx context.Context, base string, n int) ([]account, error) {
	c := tutorhubv1connect.NewAuthServiceClient(transport(), base)
	run := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().Unix())
	users := make([]account, 0, n)
	for i := range n {
		email := fmt.Sprintf("loadtest.%s.%d@test.tutorhub.local", run, i)
		if _, err := c.Register(ctx, &tutorhubv1.RegisterRequest{Email: email, Password: accountPassword, DisplayName: "Load Test"}); err != nil {
			return nil, fmt.Errorf("register %s (is Kratos running? deploy/local/up.sh): %w", email, err)
		}
		// Register signs nobody in (it answers alike for known addresses): the session
		// comes from a sign-in.
		res, err := c.Login(ctx, &tutorhubv1.LoginRequest{Email: email, Password: accountPassword})
		if err != nil {
			return nil, fmt.Errorf("sign in %s: %w", email, err)
		}
		if res.GetTokens().GetSessionToken() == "" {
			return nil, fmt.Errorf("sign in %s: no session token", email)
		}
		users = append(users, account{email: email, session: res.GetTokens().GetSessionToken()})
	}
	return users, nil
}

// authScenarios sign in (one Argon2id hash in Kratos each) and refresh (no hash) over the
// pool of accounts, so no account's rate limit or lockout row shapes the figures: once with
// one client, for latency, and once at full concurrency, for throughput.
func authScenarios(users []account, concurrency int) []scenario {
	rotate := func(call func(c tutorhubv1connect.AuthServiceClient, ctx context.Context, u account) error) func(base string) func(context.Context) error {
		return func(base string) func(context.Context) error {
			c := tutorhubv1connect.NewAuthServiceClient(transport(), base)
			var next atomic.Int64
			return func(ctx context.Context) error {
				return call(c, ctx, users[int(next.Add(1))%len(users)])
			}
		}
	}
	login := rotate(func(c tutorhubv1connect.AuthServiceClient, ctx context.Context, u account) error {
		_, err := c.Login(ctx, &tutorhubv1.LoginRequest{Email: u.email, Password: accountPassword})
		return err
	})
	refresh := rotate(func(c tutorhubv1connect.AuthServiceClient, ctx context.Context, u account) error {
		_, err := c.Refresh(ctx, &tutorhubv1.RefreshRequest{SessionToken: u.session})
		return err
	})
	loginName := fmt.Sprintf("Login over %d accounts (Argon2id in Kratos)", len(users))
	refreshName := fmt.Sprintf("Refresh over %d sessions (no password hash)", len(users))
	return []scenario{
		{name: loginName + ": latency", clients: 1, setup: login},
		{name: loginName + ": throughput", clients: concurrency, setup: login},
		{name: refreshName + ": latency", clients: 1, setup: refresh},
		{name: refreshName + ": throughput", clients: concurrency, setup: refresh},
	}
}
