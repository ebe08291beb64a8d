// Command loadtest measures tutorhub end to end: it builds the binary, serves it against a
// fresh database on this machine, drives each scenario at a fixed concurrency for a fixed
// time over loopback, measures pgbench -S and redis-benchmark in the same run for scale, and
// writes the results into docs/benchmarks.md between the loadtest markers.
//
//	go run ./cmd/loadtest -out docs/benchmarks.md [-duration 10s] [-concurrency 16]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// scenario is one kind of request, issued repeatedly by each worker.
type scenario struct {
	name string
	// setup prepares per-run state (clients) and returns the request function.
	setup func(base string) func(ctx context.Context) error
}

// result is one scenario's measurement.
type result struct {
	name          string
	requests      int64
	errors        int64
	rps           float64
	p50, p95, p99 time.Duration
}

func main() {
	out := flag.String("out", "docs/benchmarks.md", "Markdown file to write the results into")
	duration := flag.Duration("duration", 10*time.Second, "how long each scenario runs")
	concurrency := flag.Int("concurrency", 16, "concurrent clients per scenario")
	tutors := flag.Int("tutors", 100000, "tutors to seed for the tutor scenarios (0 skips them)")
	gobench := flag.String("gobench", "", "output of `go test -bench` to include in the report")
	websize := flag.String("websize", "", "output of web/scripts/size.mjs to include in the report")
	load := flag.Bool("load", true, "run the load scenarios (false: only include the given outputs)")
	adminURL := flag.String("database", envOr("TUTORHUB_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "maintenance database URL")
	flag.Parse()
	if *gobench != "" {
		if err := writeGoBench(*out, *gobench); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
	if *websize != "" {
		if err := writeWebSize(*out, *websize); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
	if !*load {
		return
	}
	if err := run(*out, *duration, *concurrency, *tutors, *adminURL); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(out string, duration time.Duration, concurrency, tutors int, adminURL string) error {
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

	srv, base, err := startServer(bin, dbURL)
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()

	all := scenarios()
	if tutors > 0 {
		logf("seeding %d tutors", tutors)
		seed := command(bin, "dev", "seed", "--tutors", fmt.Sprint(tutors))
		seed.Env = append(os.Environ(), "TUTORHUB_ENV=test", "TUTORHUB_DATABASE_URL="+dbURL)
		if err := seed.Run(); err != nil {
			return fmt.Errorf("seed tutors: %w", err)
		}
		ts, err := tutorScenarios(ctx, dbURL, tutors)
		if err != nil {
			return err
		}
		all = append(all, ts...)
	}
	var results []result
	for _, sc := range all {
		logf("scenario %s: %d clients for %s", sc.name, concurrency, duration)
		results = append(results, drive(sc.name, sc.setup(base), concurrency, duration))
	}
	pg := pgbench(ctx, adminURL, concurrency, duration)
	rd := redisBenchmark(concurrency)
	return writeReport(out, results, pg, rd, concurrency, duration)
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

func startServer(bin, dbURL string) (*exec.Cmd, string, error) {
	addr := "127.0.0.1:18099"
	cmd := exec.Command(bin, "serve", "--migrate")
	cmd.Env = append(os.Environ(),
		"TUTORHUB_ENV=test",
		"TUTORHUB_HTTP_ADDR="+addr,
		"TUTORHUB_DATABASE_URL="+dbURL,
		"TUTORHUB_DATABASE_MAX_CONNS=16",
		"TUTORHUB_RATE_LIMIT_ENABLED=false",
		"TUTORHUB_REDIS_KEY_PREFIX=loadtest:",
		"TUTORHUB_LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(base + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd, base, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, "", fmt.Errorf("server not ready within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	listReq := &tutorhubv1.ListSubjectsRequest{PageSize: 20}
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
		connectScenario("ListSubjects, Connect (protobuf)", transport),
		connectScenario("ListSubjects, Connect (JSON)", transport, connect.WithProtoJSON()),
		connectScenario("ListSubjects, gRPC (h2c)", h2c, connect.WithGRPC()),
		{name: "ListSubjects, REST GET /api/v1/subjects", setup: func(base string) func(context.Context) error {
			c := transport()
			url := base + "/api/v1/subjects?page_size=20"
			return func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				res, err := c.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					return fmt.Errorf("status %d", res.StatusCode)
				}
				return nil
			}
		}},
	}
}

// tutorScenarios read tutors the way the public does: single profiles with a warm and a cold
// cache, and filtered lists, over the seeded catalogue.
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
	return []scenario{
		{name: "GetTutor, cache warm (1,000 hot tutors)", setup: getTutor(hot, true)},
		{name: fmt.Sprintf("GetTutor, cache cold (%d distinct tutors, each read about once)", len(cold)), setup: getTutor(cold, false)},
		// A price range needs a currency: prices compare only within one.
		{name: fmt.Sprintf("ListTutors over %d tutors: subject + currency + price range", tutors), setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: 20, SubjectId: subjects[i%len(subjects)], Currency: "EUR", MinHourlyRateMinor: 2000, MaxHourlyRateMinor: 6000}
		})},
		{name: fmt.Sprintf("ListTutors over %d tutors: subject + level + language + online", tutors), setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: 20, SubjectId: subjects[i%len(subjects)], Level: tutorhubv1.Level(1 + i%3), Language: languages[i%len(languages)], LessonMode: tutorhubv1.LessonMode_LESSON_MODE_ONLINE}
		})},
		{name: fmt.Sprintf("ListTutors over %d tutors: language + in person", tutors), setup: listTutors(func(i int) *tutorhubv1.ListTutorsRequest {
			return &tutorhubv1.ListTutorsRequest{PageSize: 20, Language: languages[i%len(languages)], LessonMode: tutorhubv1.LessonMode_LESSON_MODE_IN_PERSON}
		})},
	}, nil
}

// drive runs fn from n workers for d and summarises the latencies.
func drive(name string, fn func(context.Context) error, n int, d time.Duration) result {
	// Warm up connections and caches outside the measurement.
	for i := 0; i < n; i++ {
		_ = fn(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var errs atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
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
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
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
		name: name, requests: int64(len(all)), errors: errs.Load(),
		rps: float64(len(all)) / elapsed.Seconds(),
		p50: pct(0.50), p95: pct(0.95), p99: pct(0.99),
	}
}

// pgbench measures PostgreSQL's own select-only throughput on this machine.
func pgbench(ctx context.Context, adminURL string, clients int, d time.Duration) string {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return "pgbench not installed (Debian package postgresql-contrib)"
	}
	name := fmt.Sprintf("tutorhub_pgbench_%d", os.Getpid())
	dbURL, drop, err := createDatabase(ctx, adminURL, name)
	if err != nil {
		return "pgbench: " + err.Error()
	}
	defer drop()
	logf("pgbench -S: %d clients for %s", clients, d)
	if out, err := exec.Command("pgbench", "-i", "-q", "-s", "10", dbURL).CombinedOutput(); err != nil {
		return "pgbench -i failed: " + string(out)
	}
	out, err := exec.Command("pgbench", "-S", "-c", fmt.Sprint(clients), "-j", "2", "-T", fmt.Sprint(int(d.Seconds())), dbURL).CombinedOutput()
	if err != nil {
		return "pgbench failed: " + string(out)
	}
	return summarise(string(out), `tps = ([0-9.]+)`, `latency average = ([0-9.]+ ms)`, "tps %s, latency average %s")
}

// redisBenchmark measures Redis's own GET throughput on this machine.
func redisBenchmark(clients int) string {
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		return "redis-benchmark not installed (Debian package redis-tools)"
	}
	logf("redis-benchmark GET: %d clients", clients)
	out, err := exec.Command("redis-benchmark", "-t", "get", "-n", "200000", "-c", fmt.Sprint(clients), "-q").CombinedOutput()
	if err != nil {
		return "redis-benchmark failed: " + string(out)
	}
	return summarise(string(out), `([0-9.]+) requests per second`, `p50=([0-9.]+ msec)`, "%s requests/s, p50 %s")
}

func summarise(out, first, second, format string) string {
	a := regexp.MustCompile(first).FindStringSubmatch(out)
	b := regexp.MustCompile(second).FindStringSubmatch(out)
	if a == nil || b == nil {
		return strings.TrimSpace(out)
	}
	return fmt.Sprintf(format, a[1], b[1])
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func writeReport(path string, results []result, pg, rd string, concurrency int, d time.Duration) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Measured %s on %d cores (%s), %s, by `go run ./cmd/loadtest -duration %s -concurrency %d` (`./just bench`).\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), runtime.Version(), d, concurrency)
	fmt.Fprintf(&b, "The server, PostgreSQL, Redis and the load generator share the machine; all traffic is loopback.\n\n")
	fmt.Fprintf(&b, "| scenario | requests/s | p50 | p95 | p99 | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d |\n", r.name, r.rps, ms(r.p50), ms(r.p95), ms(r.p99), r.errors)
	}
	fmt.Fprintf(&b, "\nFor scale, in the same run with the same concurrency:\n\n")
	fmt.Fprintf(&b, "- `pgbench -S -c %d -j 2 -T %d` (select-only, scale 10): %s\n", concurrency, int(d.Seconds()), pg)
	fmt.Fprintf(&b, "- `redis-benchmark -t get -n 200000 -c %d`: %s\n", concurrency, rd)
	return spliceSection(path, "loadtest", b.String())
}

// spliceSection replaces the text between <!-- NAME:begin --> and <!-- NAME:end --> in path,
// appending the section when the markers are absent.
func spliceSection(path, name, body string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	section := begin + "\n" + body + end
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + section + s[j+len(end):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	if m := regexp.MustCompile(`model name\s*:\s*(.+)`).FindSubmatch(b); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return "unknown CPU"
}

// writeGoBench puts the `go test -bench` results (benchmark lines and the machine header)
// into the gobench section.
func writeGoBench(path, input string) error {
	raw, err := os.ReadFile(input)
	if err != nil {
		return err
	}
	var keep []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:") {
			keep = append(keep, line)
		}
	}
	body := fmt.Sprintf("Measured %s by `go test -run '^$' -bench . -benchmem ./...` (`./just bench`):\n\n```\n%s\n```\n",
		time.Now().UTC().Format("2006-01-02"), strings.Join(keep, "\n"))
	return spliceSection(path, "gobench", body)
}

// writeWebSize puts the web client's bundle size into the websize section.
func writeWebSize(path, input string) error {
	raw, err := os.ReadFile(input)
	if err != nil {
		return err
	}
	text := string(raw)
	if i := strings.Index(text, "web bundle"); i >= 0 {
		text = text[i:] // the report, without the build's own output before it
	}
	body := fmt.Sprintf("Measured %s by `node web/scripts/size.mjs` (`./just web-size`, part of `./just bench`): every file a first page load fetches, gzip level 9.\n\n```\n%s\n```\n",
		time.Now().UTC().Format("2006-01-02"), strings.TrimSpace(text))
	return spliceSection(path, "websize", body)
}
