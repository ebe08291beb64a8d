package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// The fault scenarios: a second instance of the binary, on the seeded database, reaches
// Redis, PostgreSQL and Kratos through a private Toxiproxy that this tool starts, so a fault
// is injected on its connections alone and the shared services are never touched. For each
// fault a short closed-model load reads and signs in through it, and the page shows what the
// callers saw: each call's p50 and p99 over every answer, the answers by code, and how soon
// after the fault was removed every call succeeded again.

// faultRequestTimeout is the fault instance's default request deadline
// (TUTORHUB_REQUEST_TIMEOUT); the load's requests carry none of their own, so it is theirs.
const faultRequestTimeout = 2 * time.Second

// faultPostgresLatency is the latency added to PostgreSQL's answers in the slow-database
// fault: beyond the request deadline.
const faultPostgresLatency = 2 * faultRequestTimeout

// faultRedisLatency is the latency added to Redis's answers in the slow-Redis fault.
const faultRedisLatency = 500 * time.Millisecond

// faultRecoveryTimeout bounds the wait for every call to succeed again after a fault.
const faultRecoveryTimeout = 30 * time.Second

// codeCount is how many answers had one code ("ok", or a Connect code, or an HTTP status).
type codeCount struct {
	Code string
	N    int
}

// faultCall is one kind of call's answers under one condition.
type faultCall struct {
	Name     string
	Answers  int
	P50, P99 time.Duration
	Codes    []codeCount
}

// faultRow is one condition (healthy or a fault) and its calls.
type faultRow struct {
	Fault string
	Calls []faultCall
	// Recovered is how long after the fault was removed every call succeeded again;
	// RecoveryErr says why that was not seen (empty: seen, or no fault to remove).
	Recovered   time.Duration
	Faulted     bool
	RecoveryErr string
}

// faultsResult is the whole fault run.
type faultsResult struct {
	// Err says why the scenarios did not run (empty: they ran).
	Err            string
	Readers        int
	SignIns        int
	Duration       time.Duration
	RequestTimeout time.Duration
	RedisLatency   time.Duration
	PGLatency      time.Duration
	Recovery       time.Duration
	// Mix is the readers' calls and their shares of every round of reads.
	Mix  []mixEntry
	Rows []faultRow
}

// MixTotal is the reads of one round of the mix.
func (f *faultsResult) MixTotal() int {
	n := 0
	for _, m := range f.Mix {
		n += m.Weight
	}
	return n
}

// toxiproxyBin is where the load tool looks for toxiproxy-server: TUTORHUB_TEST_TOXIPROXY
// as the tests do, else the clone's .bin that deploy/tools.sh fills.
func toxiproxyBin() string {
	if p := os.Getenv("TUTORHUB_TEST_TOXIPROXY"); p != "" {
		return p
	}
	return ".bin/toxiproxy-server"
}

// startToxiproxy starts a private toxiproxy-server on a free loopback port; it dies with
// this process. stop ends it.
func startToxiproxy(bin string) (c *toxiproxy.Client, stop func(), err error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, nil, fmt.Errorf("toxiproxy-server is not at %s (build it with deploy/tools.sh toxiproxy-server)", bin)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	host, port, _ := splitHostPort(addr)
	cmd := exec.Command(bin, "-host", host, "-port", port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	endpoint := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(endpoint + "/version")
		if err == nil {
			res.Body.Close()
			return toxiproxy.NewClient(endpoint), stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("toxiproxy did not answer on %s within 20s: %w", endpoint, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func splitHostPort(addr string) (string, string, error) {
	u, err := url.Parse("//" + addr)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

// proxied returns rawURL with its host:port replaced by a new proxy's, and the proxy.
func proxied(c *toxiproxy.Client, name, rawURL string) (string, *toxiproxy.Proxy, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	// A fixed port: a disabled proxy listens on it again when enabled.
	listen, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	p, err := c.CreateProxy(name, listen, u.Host)
	if err != nil {
		return "", nil, fmt.Errorf("toxiproxy: proxy to %s: %w", u.Host, err)
	}
	u.Host = p.Listen
	return u.String(), p, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// faultCondition is one condition of the run: apply injects the fault, clear removes it
// (both nil: healthy).
type faultCondition struct {
	name         string
	apply, clear func() error
}

func toxic(p *toxiproxy.Proxy, name, kind string, attrs toxiproxy.Attributes) (apply, clear func() error) {
	return func() error {
			_, err := p.AddToxic(name, kind, "downstream", 1, attrs)
			return err
		}, func() error {
			return p.RemoveToxic(name)
		}
}

// runFaults serves bin on dbURL behind a private Toxiproxy and measures each condition for
// d with readers closed-model clients reading tutors and, with users, one client signing in.
func runFaults(bin, dbURL, toxiBin string, hot, cold, subjects []string, users []account, readers int, d time.Duration) *faultsResult {
	out := &faultsResult{Readers: readers, Duration: d, RequestTimeout: faultRequestTimeout,
		RedisLatency: faultRedisLatency, PGLatency: faultPostgresLatency, Recovery: faultRecoveryTimeout}
	if len(users) > 0 {
		out.SignIns = 1
	}
	if err := faults(out, bin, dbURL, toxiBin, hot, cold, subjects, users); err != nil {
		out.Err = err.Error()
		logf("faults: %v", err)
	}
	return out
}

func faults(out *faultsResult, bin, dbURL, toxiBin string, hot, cold, subjects []string, users []account) error {
	if len(hot) == 0 {
		return errors.New("no seeded tutors")
	}
	tp, stopToxi, err := startToxiproxy(toxiBin)
	if err != nil {
		return err
	}
	defer stopToxi()
	redisURL, redis, err := proxied(tp, "redis", envOr("TUTORHUB_REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		return err
	}
	pgURL, pg, err := proxied(tp, "postgres", dbURL)
	if err != nil {
		return err
	}
	kratosPublic, kratos, err := proxied(tp, "kratos-public", envOr("TUTORHUB_KRATOS_PUBLIC_URL", "http://127.0.0.1:4433"))
	if err != nil {
		return err
	}
	kratosAdmin, kratosAdm, err := proxied(tp, "kratos-admin", envOr("TUTORHUB_KRATOS_ADMIN_URL", "http://127.0.0.1:4434"))
	if err != nil {
		return err
	}
	logf("faults: serving a second instance through Toxiproxy")
	srv, base, _, err := startServer(bin, pgURL,
		"TUTORHUB_REDIS_URL="+redisURL,
		"TUTORHUB_KRATOS_PUBLIC_URL="+kratosPublic,
		"TUTORHUB_KRATOS_ADMIN_URL="+kratosAdmin,
		"TUTORHUB_REDIS_KEY_PREFIX=loadtest-faults:",
		"TUTORHUB_REQUEST_TIMEOUT="+faultRequestTimeout.String(),
	)
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()

	tutorsC := tutorhubv1connect.NewTutorServiceClient(transport(), base)
	authC := tutorhubv1connect.NewAuthServiceClient(transport(), base)
	for _, id := range hot {
		_, _ = tutorsC.GetTutor(context.Background(), &tutorhubv1.GetTutorRequest{TutorId: id})
	}
	var hotNext, coldNext, listNext, userNext atomic.Int64
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetTutor, cached (popular tutors)", func(ctx context.Context) error {
			_, err := tutorsC.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: hot[int(hotNext.Add(1))%len(hot)]})
			return err
		}},
		{"GetTutor, uncached (each tutor read about once)", func(ctx context.Context) error {
			_, err := tutorsC.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: cold[int(coldNext.Add(1))%len(cold)]})
			return err
		}},
		{"ListTutors of a subject", func(ctx context.Context) error {
			_, err := tutorsC.ListTutors(ctx, &tutorhubv1.ListTutorsRequest{PageSize: pageSize, SubjectId: subjects[int(listNext.Add(1))%len(subjects)]})
			return err
		}},
	}
	// Of every round of reads: mostly cached profiles, as the open model's mix reads.
	out.Mix = []mixEntry{{calls[0].name, 3}, {calls[1].name, 1}, {calls[2].name, 1}}
	var readSlots []int
	for round, added := 0, true; added; round++ {
		added = false
		for k, m := range out.Mix {
			if round < m.Weight {
				readSlots = append(readSlots, k)
				added = true
			}
		}
	}
	login := func(ctx context.Context) error {
		u := users[int(userNext.Add(1))%len(users)]
		_, err := authC.Login(ctx, &tutorhubv1.LoginRequest{Email: u.email, Password: accountPassword})
		return err
	}
	names := []string{calls[0].name, calls[1].name, calls[2].name}
	if len(users) > 0 {
		names = append(names, "Login (Kratos)")
	}
	healthy := func() bool {
		for _, c := range calls {
			if c.call(context.Background()) != nil {
				return false
			}
		}
		return len(users) == 0 || login(context.Background()) == nil
	}

	conditions := []faultCondition{{name: "healthy (baseline)"}}
	add := func(name string, apply, clear func() error) {
		conditions = append(conditions, faultCondition{name: name, apply: apply, clear: clear})
	}
	add("Redis stopped", redis.Disable, redis.Enable)
	a, c := toxic(redis, "latency", "latency", toxiproxy.Attributes{"latency": faultRedisLatency.Milliseconds()})
	add(fmt.Sprintf("Redis +%s latency", faultRedisLatency), a, c)
	a, c = toxic(pg, "latency", "latency", toxiproxy.Attributes{"latency": faultPostgresLatency.Milliseconds()})
	add(fmt.Sprintf("PostgreSQL +%s latency (beyond the deadline)", faultPostgresLatency), a, c)
	a, c = toxic(pg, "reset", "reset_peer", toxiproxy.Attributes{"timeout": 0})
	add("PostgreSQL connections reset", a, c)
	add("Kratos down", func() error {
		if err := kratos.Disable(); err != nil {
			return err
		}
		return kratosAdm.Disable()
	}, func() error {
		if err := kratos.Enable(); err != nil {
			return err
		}
		return kratosAdm.Enable()
	})
	conditions = append(conditions, faultCondition{name: "healthy again, after every fault"})

	for _, cond := range conditions {
		logf("faults: %s for %s", cond.name, out.Duration)
		if cond.apply != nil {
			if err := cond.apply(); err != nil {
				return fmt.Errorf("%s: %w", cond.name, err)
			}
		}
		row := faultRow{Fault: cond.name, Faulted: cond.apply != nil}
		rec := newRecorder(names)
		ctx, cancel := context.WithTimeout(context.Background(), out.Duration)
		var wg sync.WaitGroup
		for w := range out.Readers {
			wg.Go(func() {
				for i := w; ctx.Err() == nil; i++ {
					k := readSlots[i%len(readSlots)]
					t0 := time.Now()
					err := calls[k].call(context.Background())
					rec.add(k, time.Since(t0), err)
				}
			})
		}
		if len(users) > 0 {
			wg.Go(func() {
				for ctx.Err() == nil {
					t0 := time.Now()
					err := login(context.Background())
					rec.add(3, time.Since(t0), err)
				}
			})
		}
		wg.Wait()
		cancel()
		row.Calls = rec.summary()
		if cond.clear != nil {
			if err := cond.clear(); err != nil {
				return fmt.Errorf("%s: clear: %w", cond.name, err)
			}
			t0 := time.Now()
			for !healthy() {
				if time.Since(t0) > faultRecoveryTimeout {
					row.RecoveryErr = "not within " + secs(faultRecoveryTimeout)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			row.Recovered = time.Since(t0)
			logf("faults: %s removed; every call succeeded again after %s", cond.name, row.Recovered.Round(time.Millisecond))
		}
		out.Rows = append(out.Rows, row)
	}
	return nil
}

// recorder collects each call's latencies and answer codes.
type recorder struct {
	mu    sync.Mutex
	names []string
	lat   [][]time.Duration
	codes []map[string]int
}

func newRecorder(names []string) *recorder {
	r := &recorder{names: names, lat: make([][]time.Duration, len(names)), codes: make([]map[string]int, len(names))}
	for i := range r.codes {
		r.codes[i] = map[string]int{}
	}
	return r
}

func (r *recorder) add(k int, d time.Duration, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[k] = append(r.lat[k], d)
	r.codes[k][code]++
}

func (r *recorder) summary() []faultCall {
	var out []faultCall
	for k, name := range r.names {
		l := r.lat[k]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		c := faultCall{Name: name, Answers: len(l), Codes: sortedCodes(r.codes[k])}
		if len(l) > 0 {
			c.P50, c.P99 = l[(len(l)-1)/2], l[(len(l)-1)*99/100]
		}
		out = append(out, c)
	}
	return out
}

// sortedCodes lists codes by count, most first (then by name, so the order is stable).
func sortedCodes(m map[string]int) []codeCount {
	out := make([]codeCount, 0, len(m))
	for k, v := range m {
		out = append(out, codeCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Code < out[j].Code
	})
	return out
}
