package main

import (
	_ "embed"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed benchmarks.md.tmpl
var pageTemplate string

// report is everything docs/benchmarks.md shows; the page is rendered from it alone, so
// every figure on the page comes from one run.
type report struct {
	Date, CPU, GoVersion string
	CPUs                 int
	Concurrency          int
	Duration             time.Duration
	PageSize             int

	// LoadCommand and Load are empty when the load test did not run.
	LoadCommand string
	Load        []result
	// Indexed is the number of seeded tutors put into the search index for the SearchTutors
	// rows; Relay and Lag are the asynchronous path's scenarios, nil when they did not run.
	Indexed int
	Relay   *relayResult
	Lag     *lagResult
	// Profiles are the per-layer breakdowns of the profiled scenarios; Memory the served
	// binary's resident memory under many keep-alive connections (nil: not measured).
	Profiles []profileResult
	Memory   *memoryResult
	// OpenModel is the constant-arrival-rate test (nil: not run).
	OpenModel *openModelResult
	// Faults are the mix's answers under each dependency fault, Overload the open model's
	// mix at three times its knee (nil: not run).
	Faults   *faultsResult
	Overload *overloadResult
	// Targets are the goals of the hot read path, each judged from this run's figures.
	Targets []target

	PGBenchCommand, PGBench       string
	PGBenchScale                  int
	RedisBenchCommand, RedisBench string
	// PGBenchCPU and RedisBenchCPU are the CPU each process spent while they ran (nil: not
	// measured).
	PGBenchCPU, RedisBenchCPU *cpuUsage

	// GoBench is the kept lines of `go test -bench` output; AuthCalls the calls each auth
	// sub-benchmark made.
	GoBench   string
	AuthCalls int64
	WebSize   string

	// Bookings are issue 14's figures, from the Go benchmarks.
	Bookings []benchFigure

	// Prose holds the sentences of "Reading the numbers" whose figures come from this run
	// (ListTutors with its leading space, as it may be empty).
	Prose struct{ Verify, Login, ListTutors, Credentials string }

	bench goBench
}

// readInputs takes the outputs of `go test -bench` and web/scripts/size.mjs, when given.
func (r *report) readInputs(gobench, websize string) error {
	if gobench != "" {
		raw, err := os.ReadFile(gobench)
		if err != nil {
			return err
		}
		r.bench = parseGoBench(string(raw))
		r.GoBench = strings.Join(r.bench.lines, "\n")
		r.AuthCalls = r.bench.runs["BenchmarkLogin/latency"]
	}
	if websize != "" {
		raw, err := os.ReadFile(websize)
		if err != nil {
			return err
		}
		text := string(raw)
		if i := strings.Index(text, "web bundle"); i >= 0 {
			text = text[i:] // the report, without the build's own output before it
		}
		r.WebSize = strings.TrimSpace(text)
	}
	return nil
}

// write renders the page into path, replacing the file.
func (r *report) write(path string) error {
	r.Date = time.Now().UTC().Format("2006-01-02")
	r.CPUs, r.CPU, r.GoVersion = runtime.NumCPU(), cpuModel(), runtime.Version()
	r.PGBenchScale = pgbenchScale
	r.writeProse()
	r.Bookings = r.bookingFigures()
	r.Targets = r.judge()
	for _, t := range r.Targets {
		fmt.Fprintf(os.Stderr, "[loadtest] target: %s: %s (%s)\n", t.Name, t.Verdict(), t.Measured)
		if t.Bound != "" {
			fmt.Fprintf(os.Stderr, "[loadtest]   bounded by: %s\n", t.Bound)
		}
	}
	tmpl, err := template.New("benchmarks.md").Funcs(template.FuncMap{"ms": ms, "secs": secs, "missed": missed, "us": us, "pct": pctOf, "mib": mib, "codes": codes}).Parse(pageTemplate)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, r); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeProse derives the figures the prose quotes from the Go benchmarks and the load test.
func (r *report) writeProse() {
	notMeasured := "(Not measured in this run.)"
	r.Prose.Verify, r.Prose.Login = notMeasured, notMeasured
	if v, ok := r.bench.metric("BenchmarkVerifyAccessToken", "ns/op"); ok {
		r.Prose.Verify = fmt.Sprintf("It took %s per token", human(v))
		if l, ok := r.loadResult("ListSubjects, Connect (protobuf)"); ok && l.P50 > 0 {
			r.Prose.Verify += fmt.Sprintf(", %.1f %% of the median ListSubjects request above (Connect, protobuf, %d clients)",
				100*v/float64(l.P50.Nanoseconds()), l.Clients)
		}
		r.Prose.Verify += "."
	}
	login, ok1 := r.bench.metric("BenchmarkLogin/latency", "p50-ms")
	refresh, ok2 := r.bench.metric("BenchmarkRefresh/latency", "p50-ms")
	if ok1 && ok2 {
		r.Prose.Login = fmt.Sprintf("One call at a time, a login took %.1f ms (median) and a refresh %.1f ms, so about %.0f ms (%.0f %%) of a login is %s plus its login flow.",
			login, refresh, login-refresh, 100*(login-refresh)/login, argon2Description())
	}
	logins, ok1 := r.bench.metric("BenchmarkLogin/throughput", "logins/s")
	refreshes, ok2 := r.bench.metric("BenchmarkRefresh/throughput", "refreshes/s")
	if ok1 && ok2 {
		s := fmt.Sprintf("With many calls in flight the machine completed %.0f logins/s against %.0f refreshes/s.", logins, refreshes)
		if r.Prose.Login == notMeasured {
			r.Prose.Login = s
		} else {
			r.Prose.Login += " " + s
		}
	}
	r.Prose.Credentials = notMeasured
	tokenReads, ok1 := r.bench.metric("BenchmarkAuthenticatedRead/access_token/throughput", "reads/s")
	keyReads, ok2 := r.bench.metric("BenchmarkAuthenticatedRead/service_account_key/throughput", "reads/s")
	if ok1 && ok2 {
		r.Prose.Credentials = fmt.Sprintf("With many calls in flight, GetTutor completed %.0f reads/s with a user's access token and %.0f reads/s with a service-account key.",
			tokenReads, keyReads)
		tokenP50, ok1 := r.bench.metric("BenchmarkAuthenticatedRead/access_token/latency", "p50-ms")
		keyP50, ok2 := r.bench.metric("BenchmarkAuthenticatedRead/service_account_key/latency", "p50-ms")
		if ok1 && ok2 {
			r.Prose.Credentials += fmt.Sprintf(" One call at a time, the median read took %.2f ms with the token and %.2f ms with the key.", tokenP50, keyP50)
		}
	}
	if v, ok := r.bench.metric("BenchmarkListTutors/subject+level+language", "ns/op"); ok {
		r.Prose.ListTutors = fmt.Sprintf(" (the Go benchmark's %s)", human(v))
	}
}

func (r *report) loadResult(prefix string) (result, bool) {
	for _, l := range r.Load {
		if strings.HasPrefix(l.Name, prefix) {
			return l, true
		}
	}
	return result{}, false
}

// argon2Description is Kratos's password hash as deploy/kratos/kratos.yml configures it.
func argon2Description() string {
	const plain = "Kratos's Argon2id check"
	raw, err := os.ReadFile("deploy/kratos/kratos.yml")
	if err != nil {
		return plain
	}
	block := regexp.MustCompile(`(?m)^  argon2:\n((?:    .*\n)+)`).FindSubmatch(raw)
	if block == nil {
		return plain
	}
	mem := regexp.MustCompile(`(?m)^\s+memory:\s*(\S+)`).FindSubmatch(block[1])
	iter := regexp.MustCompile(`(?m)^\s+iterations:\s*(\d+)`).FindSubmatch(block[1])
	if mem == nil || iter == nil {
		return plain
	}
	return fmt.Sprintf("%s (%s, %s passes, from deploy/kratos/kratos.yml)", plain, mem[1], iter[1])
}

// goBench is `go test -bench` output: the lines worth showing, and each benchmark's
// iterations and metrics by name (without the -GOMAXPROCS suffix) and unit.
type goBench struct {
	lines   []string
	runs    map[string]int64
	metrics map[string]map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func parseGoBench(out string) goBench {
	g := goBench{runs: map[string]int64{}, metrics: map[string]map[string]float64{}}
	var pkg, cpu string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, " ")
		switch {
		// `go test` repeats these per package and per command; show each change once.
		case strings.HasPrefix(line, "pkg:"):
			if line != pkg {
				pkg = line
				g.lines = append(g.lines, line)
			}
		case strings.HasPrefix(line, "cpu:"):
			if line != cpu {
				cpu = line
				g.lines = append(g.lines, line)
			}
		case strings.HasPrefix(line, "Benchmark"):
			g.lines = append(g.lines, line)
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			name := procsSuffix.ReplaceAllString(f[0], "")
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			g.runs[name] = n
			m := map[string]float64{}
			for i := 2; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					m[f[i+1]] = v
				}
			}
			g.metrics[name] = m
		}
	}
	return g
}

func (g goBench) metric(name, unit string) (float64, bool) {
	v, ok := g.metrics[name][unit]
	return v, ok
}

// human writes a duration in nanoseconds in the unit that reads best.
func human(ns float64) string {
	if ns < 1e6 {
		return fmt.Sprintf("%.0f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ms", ns/1e6)
}

// missed counts the committed writes the lag scenario never saw in the index.
func missed(l *lagResult) int { return l.Writes - l.Searchable }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

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

// target is one goal of the hot read path and whether this run met it.
type target struct {
	Name, Goal, Measured string
	// Bound says what held an unmet target back, from the CPU by process of its scenario.
	Bound string
	// Known is false when a figure the target needs was not measured in this run.
	Known, Met bool
}

// Verdict is "met", "not met" or "not measured".
func (t target) Verdict() string {
	switch {
	case !t.Known:
		return "not measured"
	case t.Met:
		return "met"
	}
	return "not met"
}

// ListTutorsP99Target is the p99 every ListTutors filter must stay under.
const ListTutorsP99Target = 50 * time.Millisecond

// judge computes the targets from the load results and the machine's own figures.
func (r *report) judge() []target {
	redisRPS, redisOK := firstFloat(r.RedisBench, `([0-9.]+) requests/s`)
	pgTPS, pgOK := firstFloat(r.PGBench, `tps ([0-9.]+)`)
	var out []target
	// baseCPU is the baseline's CPU by process, serving the groups that serve it.
	ratio := func(name, scenario string, base float64, baseOK bool, baseName string, baseCPU *cpuUsage, serving []string, share float64) {
		t := target{Name: name, Goal: fmt.Sprintf(">= %.0f %% of %s", 100*share, baseName)}
		l, ok := r.loadResult(scenario)
		if ok && baseOK && base > 0 {
			t.Known = true
			t.Met = l.RPS >= share*base
			t.Measured = fmt.Sprintf("%.0f req/s = %.1f %% of %.0f", l.RPS, 100*l.RPS/base, base)
			if !t.Met {
				t.Bound = bound(l, share*base) + baselineCost(baseName, baseCPU, serving...)
			}
		}
		out = append(out, t)
	}
	redis, pg := []string{cpuRedis}, []string{cpuPostgreSQL}
	ratio("cached GetTutor, REST", "GetTutor, cache warm (1,000 hot tutors), REST", redisRPS, redisOK, "redis-benchmark GET", r.RedisBenchCPU, redis, 0.25)
	ratio("cached GetTutor, Connect", "GetTutor, cache warm (1,000 hot tutors)", redisRPS, redisOK, "redis-benchmark GET", r.RedisBenchCPU, redis, 0.25)
	ratio("uncached GetTutor, Connect", "GetTutor, cache cold", pgTPS, pgOK, "pgbench -S", r.PGBenchCPU, pg, 0.50)
	warm, okWarm := r.loadResult("GetTutor, cache warm (1,000 hot tutors)")
	var serving []string
	if warm.CPU != nil {
		serving = warm.CPU.serving()
	}
	ratio("ListSubjects, Connect", "ListSubjects, Connect (protobuf)", warm.RPS, okWarm, "cached GetTutor (Connect)", warm.CPU, serving, 1)
	for _, l := range r.Load {
		if !strings.HasPrefix(l.Name, "ListTutors") {
			continue
		}
		t := target{Name: l.Name, Goal: "p99 < " + ms(ListTutorsP99Target), Known: l.Requests > 0}
		t.Met = t.Known && l.P99 < ListTutorsP99Target && l.Errors == 0
		t.Measured = fmt.Sprintf("p99 %s at %d clients", ms(l.P99), l.Clients)
		if t.Known && !t.Met {
			t.Bound = bound(l, 0)
			if l.Errors > 0 {
				t.Bound = fmt.Sprintf("%d errors; %s", l.Errors, t.Bound)
			}
		}
		out = append(out, t)
	}
	return out
}

func firstFloat(s, pattern string) (float64, bool) {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func pctOf(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) }

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// codes writes answers by code as "ok 120, unavailable 3".
func codes(cs []codeCount) string {
	if len(cs) == 0 {
		return "–"
	}
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", c.Code, c.N)
	}
	return b.String()
}

// OverloadFactor is the multiple of the knee the overload scenario drives.
func (r *report) OverloadFactor() int { return overloadFactor }

// benchFigure is one figure the page names, read from a Go benchmark's metrics.
type benchFigure struct {
	Name, Benchmark string
	// Measured is empty when the benchmark did not run or reported no such metric.
	Measured string
}

// bookingFigures are the booking and payment figures issue 14 asks for.
func (r *report) bookingFigures() []benchFigure {
	requests := benchFigure{Name: "booking requests/s with contention on popular tutors", Benchmark: "BenchmarkRequestBooking"}
	if rps, ok := r.bench.metric("BenchmarkRequestBooking", "requests/s"); ok {
		requests.Measured = fmt.Sprintf("%.0f requests/s", rps)
		if c, ok := r.bench.metric("BenchmarkRequestBooking", "conflicts/op"); ok {
			requests.Measured += fmt.Sprintf(", %.1f %% refused as taken", 100*c)
		}
	}
	latency := func(name, bench string) benchFigure {
		f := benchFigure{Name: name, Benchmark: bench}
		p50, ok1 := r.bench.metric(bench, "p50-ms")
		p99, ok2 := r.bench.metric(bench, "p99-ms")
		if ok1 && ok2 {
			f.Measured = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms over %d webhooks", p50, p99, r.bench.runs[bench])
		}
		return f
	}
	return []benchFigure{
		requests,
		latency("webhook to booking confirmed (through Temporal)", "BenchmarkWebhookToConfirmed"),
		latency("webhook to charge applied (in process, no Temporal)", "BenchmarkWebhookToApplied"),
	}
}
