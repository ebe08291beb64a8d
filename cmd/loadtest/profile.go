package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
)

// The per-layer breakdown: while a profiled scenario runs, the load tool samples the served
// binary's CPU (/debug/pprof/profile) and its allocations (the allocs profile's delta over
// the same seconds) on its internal listener, and charges every sample to one layer of the
// request path. Some layers claim everything called beneath them (the innermost such frame
// names the sample: a protobuf reflection under validation is validation's, a query under a
// cache miss the database's); otherwise the innermost frame of any layer does (protobuf under
// Connect's codec is serialisation). Samples with no such frame (the scheduler, the garbage
// collector's background work, the HTTP server's own reading and writing) go to
// "runtime and net/http".

// layer is one part of the request path and the function-name prefixes that belong to it.
type layer struct {
	name     string
	claims   bool
	prefixes []string
}

// layers are matched from the innermost frame outwards; within one frame, the first layer
// whose prefix matches wins, so the more specific prefixes come first.
var layers = []layer{
	// Claiming layers: their frames are on the stack only while doing their own work (the
	// interceptor closures that call the next one are named below, without a claim).
	{"request logging", true, []string{"log/slog.", "github.com/tutorhub/tutorhub/internal/logging."}},
	{"telemetry", true, []string{"go.opentelemetry.io/", "github.com/prometheus/"}},
	{"rate limiting", true, []string{"github.com/tutorhub/tutorhub/internal/ratelimit.", "github.com/go-redis/redis_rate/", "github.com/tutorhub/tutorhub/server.userLimiter.spend", "github.com/tutorhub/tutorhub/server.decide"}},
	{"authentication", true, []string{"github.com/tutorhub/tutorhub/internal/accesstoken.", "github.com/tutorhub/tutorhub/server.(*authenticator).", "github.com/tutorhub/tutorhub/serviceaccounts."}},
	{"validation", true, []string{"buf.build/go/protovalidate", "github.com/google/cel-go/", "github.com/tutorhub/tutorhub/server.validator.check"}},
	{"cache (Redis)", true, []string{"github.com/tutorhub/tutorhub/internal/cache."}},
	{"database (pgx)", true, []string{"github.com/jackc/pgx/", "github.com/jackc/puddle/", "github.com/tutorhub/tutorhub/queries."}},
	// The rest: the innermost frame names the sample.
	{"telemetry", false, []string{"connectrpc.com/otelconnect."}},
	{"rate limiting", false, []string{"github.com/tutorhub/tutorhub/server.clientLimiter.", "github.com/tutorhub/tutorhub/server.limit"}},
	{"authentication", false, []string{"github.com/tutorhub/tutorhub/server.authenticate"}},
	{"validation", false, []string{"github.com/tutorhub/tutorhub/server.validator."}},
	{"serialisation", false, []string{"google.golang.org/protobuf/", "encoding/json.", "connectrpc.com/connect.(*protoBinaryCodec)", "connectrpc.com/connect.(*protoJSONCodec)"}},
	{"REST transcoding", false, []string{"connectrpc.com/vanguard.", "github.com/tutorhub/tutorhub/server.restRequests", "github.com/tutorhub/tutorhub/server.restErrors", "github.com/tutorhub/tutorhub/server.(*errorRewriter)", "github.com/tutorhub/tutorhub/server.readBounded"}},
	{"handler", false, []string{"github.com/tutorhub/tutorhub/server.(*TutorServer).", "github.com/tutorhub/tutorhub/server.(*SubjectServer).", "github.com/tutorhub/tutorhub/server.(*SearchServer).", "github.com/tutorhub/tutorhub/tutors.", "github.com/tutorhub/tutorhub/subjects.", "github.com/tutorhub/tutorhub/search.", "github.com/tutorhub/tutorhub/internal/pagetoken.", "github.com/tutorhub/tutorhub/server.newKeyset", "github.com/tutorhub/tutorhub/server.page", "github.com/tutorhub/tutorhub/server.tutorProto", "github.com/tutorhub/tutorhub/server.subjectProto"}},
	{"Connect protocol", false, []string{"connectrpc.com/connect.", "github.com/tutorhub/tutorhub/server.observe", "github.com/tutorhub/tutorhub/server.aroundCall", "github.com/tutorhub/tutorhub/server.observer."}},
	{"edge middleware", false, []string{"github.com/tutorhub/tutorhub/server.(*edge).", "github.com/tutorhub/tutorhub/server.withCORS", "github.com/rs/cors.", "net/http.(*ServeMux).", "github.com/tutorhub/tutorhub/server.newRequestID"}},
}

const otherLayer = "runtime and net/http"

// layerOf is the layer of a stack, innermost frame first.
func layerOf(stack []string) string {
	inner := ""
	for _, fn := range stack {
		if l, ok := layerOfFunc(fn); ok {
			if l.claims {
				return l.name
			}
			if inner == "" {
				inner = l.name
			}
		}
	}
	if inner == "" {
		return otherLayer
	}
	return inner
}

func layerOfFunc(fn string) (layer, bool) {
	for _, l := range layers {
		for _, p := range l.prefixes {
			if strings.HasPrefix(fn, p) {
				return l, true
			}
		}
	}
	return layer{}, false
}

// layerShare is one layer's part of a profiled scenario.
type layerShare struct {
	Layer string
	// CPU is the layer's share of the sampled CPU time; CPUPerRequest the time it spent per
	// request.
	CPU           float64
	CPUPerRequest time.Duration
	// Allocs and Bytes are what the layer allocated per request.
	Allocs, Bytes float64
}

// profileResult is the breakdown of one profiled scenario.
type profileResult struct {
	Scenario string
	Requests int64
	// CPUPerRequest is the served binary's sampled CPU time divided by the requests served
	// while it was sampled; AllocsPerRequest and BytesPerRequest the same for allocations.
	CPUPerRequest                     time.Duration
	AllocsPerRequest, BytesPerRequest float64
	Layers                            []layerShare
	// Top is the hottest functions by their own (flat) CPU time.
	Top []string
	Err string
}

// profiler samples the served binary's profiles over its internal listener.
type profiler struct {
	base string // http://internal-addr
	dir  string // where the raw profiles are kept, for go tool pprof; "" keeps none
}

// sample fetches the CPU profile and the allocations' delta over the next seconds.
func (p profiler) sample(ctx context.Context, name string, seconds int) (cpu, allocs *profile.Profile, err error) {
	type got struct {
		p   *profile.Profile
		err error
	}
	fetch := func(path string, file string) <-chan got {
		ch := make(chan got, 1)
		go func() {
			p, err := p.fetch(ctx, path, file)
			ch <- got{p, err}
		}()
		return ch
	}
	slug := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-")
	c := fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), slug+".cpu.pprof")
	a := fetch(fmt.Sprintf("/debug/pprof/allocs?seconds=%d", seconds), slug+".allocs.pprof")
	gc, ga := <-c, <-a
	if gc.err != nil {
		return nil, nil, gc.err
	}
	return gc.p, ga.p, ga.err
}

func (p profiler) fetch(ctx context.Context, path, file string) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %.200s", path, res.Status, raw)
	}
	if p.dir != "" {
		_ = os.WriteFile(p.dir+"/"+file, raw, 0o644)
	}
	return profile.ParseData(raw)
}

// breakdown charges the samples of cpu and allocs to layers, per request of requests.
func breakdown(name string, requests int64, cpu, allocs *profile.Profile) profileResult {
	r := profileResult{Scenario: name, Requests: requests}
	if requests == 0 {
		return r
	}
	type acc struct{ cpuNS, objects, bytes float64 }
	by := map[string]*acc{}
	get := func(l string) *acc {
		if by[l] == nil {
			by[l] = &acc{}
		}
		return by[l]
	}
	var totalCPU float64
	flat := map[string]float64{}
	if i := valueIndex(cpu, "cpu"); i >= 0 {
		for _, s := range cpu.Sample {
			stack := frames(s)
			v := float64(s.Value[i])
			get(layerOf(stack)).cpuNS += v
			totalCPU += v
			if len(stack) > 0 {
				flat[stack[0]] += v
			}
		}
	}
	var totalObjects, totalBytes float64
	if allocs != nil {
		oi, bi := valueIndex(allocs, "alloc_objects"), valueIndex(allocs, "alloc_space")
		for _, s := range allocs.Sample {
			if oi < 0 || bi < 0 {
				break
			}
			a := get(layerOf(frames(s)))
			a.objects += float64(s.Value[oi])
			a.bytes += float64(s.Value[bi])
			totalObjects += float64(s.Value[oi])
			totalBytes += float64(s.Value[bi])
		}
	}
	n := float64(requests)
	r.CPUPerRequest = time.Duration(totalCPU / n)
	r.AllocsPerRequest, r.BytesPerRequest = totalObjects/n, totalBytes/n
	for l, a := range by {
		share := layerShare{Layer: l, CPUPerRequest: time.Duration(a.cpuNS / n), Allocs: a.objects / n, Bytes: a.bytes / n}
		if totalCPU > 0 {
			share.CPU = a.cpuNS / totalCPU
		}
		r.Layers = append(r.Layers, share)
	}
	sort.Slice(r.Layers, func(i, j int) bool { return r.Layers[i].CPU > r.Layers[j].CPU })
	type fn struct {
		name string
		v    float64
	}
	var fns []fn
	for k, v := range flat {
		fns = append(fns, fn{k, v})
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].v > fns[j].v })
	for i := 0; i < len(fns) && i < 8; i++ {
		r.Top = append(r.Top, fmt.Sprintf("%s %.1f%%", fns[i].name, 100*fns[i].v/totalCPU))
	}
	return r
}

// valueIndex is the index of the sample value of type typ, or -1.
func valueIndex(p *profile.Profile, typ string) int {
	if p == nil {
		return -1
	}
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return -1
}

// frames are a sample's function names, innermost first (inlined calls included).
func frames(s *profile.Sample) []string {
	var out []string
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				out = append(out, line.Function.Name)
			}
		}
	}
	return out
}

// samplePeakRSS samples the process's resident set size every interval from now on, starting
// from floor, until the returned function is called; that returns the highest sample.
func samplePeakRSS(pid int, every time.Duration, floor int64) (peak func() int64) {
	top := floor
	stop := sampleEvery(every, func() {
		if m, err := readMem(pid); err == nil && m.RSS > top {
			top = m.RSS
		}
	})
	return func() int64 {
		stop()
		return top
	}
}

// sampleEvery calls read every period, on a goroutine of its own, until the returned
// function is called; that returns once the goroutine has ended, so the caller may then use
// what read wrote without a lock.
func sampleEvery(every time.Duration, read func()) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				read()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// procMem is a process's memory from /proc/PID/status, in KiB: its resident set (VmRSS),
// that set's high-water mark (VmHWM), and the file-backed part of it (RssFile: the binary's
// own text and read-only data, which no setting of the runtime bounds).
type procMem struct {
	RSS, HWM, File int64
}

// readMem reads a process's procMem.
func readMem(pid int) (procMem, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			m.HWM, _ = strconv.ParseInt(f[1], 10, 64)
		case "RssFile:":
			m.File, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return m, nil
}

// sampleDuring starts sampling the server's profiles for the scenario's duration (less a
// second, so the sample ends before the clients stop) and returns a function that waits for
// the breakdown; done counts the requests completed so far.
func sampleDuring(ctx context.Context, p profiler, name string, d time.Duration, done *atomic.Int64) func() *profileResult {
	seconds := int(d/time.Second) - 1
	if seconds < 1 {
		seconds = 1
	}
	ch := make(chan *profileResult, 1)
	go func() {
		before := done.Load()
		cpu, allocs, err := p.sample(ctx, name, seconds)
		requests := done.Load() - before
		if err != nil {
			ch <- &profileResult{Scenario: name, Err: err.Error()}
			return
		}
		r := breakdown(name, requests, cpu, allocs)
		ch <- &r
	}()
	return func() *profileResult { return <-ch }
}

// memoryResult is the served binary's resident memory: at rest after start-up and seeding,
// at its peak while Connections keep-alive clients read through it, and at rest again.
type memoryResult struct {
	Connections int
	// Every is how often each client sends a request; its connection idles in between, as a
	// browser's does, so the load is a sustained rate (Connections / Every) the instance can
	// serve rather than a closed loop that only measures its in-flight limit.
	Every time.Duration
	// TargetKB is the most the server may hold under the load.
	TargetKB int64
	// BaselineKB is before the scenarios; LoadKB the highest VmRSS sampled under the load,
	// PeakKB the process's high-water mark (VmHWM) by then; FileKB the part of VmRSS at the
	// end of the load that is file-backed (RssFile: the binary's own text and read-only
	// data, which no setting of the runtime bounds); RestKB after the clients closed their
	// connections and the server was idle for RestAfter.
	BaselineKB, LoadKB, PeakKB, FileKB, RestKB int64
	RestAfter                                  time.Duration
	// Requests were answered 200; Shed were refused with Retry-After (503 from the in-flight
	// limit, 429 from the database pool's acquire timeout); Errors are every other failure.
	Requests, Shed, Errors int64
	RPS                    float64
	P99                    time.Duration
}

// measureMemory holds m.Connections keep-alive connections, each a client reading a warm
// tutor over REST every m.Every for d (their first requests spread over one period, so the
// rate is even), sampling the server's RSS meanwhile, then closes them and reads it again
// once the server has been idle a while.
func measureMemory(m *memoryResult, base string, pid int, ids []string, d time.Duration) error {
	if len(ids) == 0 {
		return fmt.Errorf("memory scenario: no tutors")
	}
	if m.Every <= 0 {
		return fmt.Errorf("memory scenario: -keepalive-every must be positive")
	}
	logf("memory: %d keep-alive connections for %s, each sending a request every %s", m.Connections, d, m.Every)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = m.Connections
	t.MaxIdleConns = m.Connections
	c := &http.Client{Transport: t, Timeout: 30 * time.Second}
	// Warm the tutors' cache entries outside the measurement, as the other warm scenarios do.
	for _, id := range ids {
		_ = restGet(context.Background(), c, base+"/api/v1/tutors/"+id)
	}
	peak := samplePeakRSS(pid, 100*time.Millisecond, 0)
	var shed, errs, next atomic.Int64
	lat := make([][]time.Duration, m.Connections)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range m.Connections {
		wg.Go(func() {
			at := start.Add(m.Every * time.Duration(w) / time.Duration(m.Connections))
			for {
				time.Sleep(time.Until(at))
				if time.Now().After(end) {
					return
				}
				t0 := time.Now()
				switch code, err := restStatus(context.Background(), c, base+"/api/v1/tutors/"+ids[int(next.Add(1))%len(ids)]); {
				case err != nil:
					errs.Add(1)
				case code == http.StatusOK:
					lat[w] = append(lat[w], time.Since(t0))
				case code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests:
					shed.Add(1)
				default:
					errs.Add(1)
				}
				// A client that fell behind does not burst to catch up.
				if at = at.Add(m.Every); at.Before(time.Now()) {
					at = time.Now()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	m.LoadKB = peak()
	if mem, err := readMem(pid); err == nil {
		m.PeakKB, m.FileKB = mem.HWM, mem.File
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	m.Requests, m.Shed, m.Errors = int64(len(all)), shed.Load(), errs.Load()
	m.RPS = float64(len(all)) / elapsed.Seconds()
	if len(all) > 0 {
		m.P99 = all[int(float64(len(all)-1)*0.99)]
	}
	t.CloseIdleConnections()
	// The runtime hands freed memory back to the OS in the background; give it a while.
	m.RestAfter = 10 * time.Second
	time.Sleep(m.RestAfter)
	rest, _ := readMem(pid)
	m.RestKB = rest.RSS
	logf("memory: RSS %d KiB at rest, at most %d KiB under %d connections (high-water mark %d KiB, %d KiB file-backed), %d KiB at rest after %s; %d answered (%.0f/s, p99 %s), %d shed, %d errors",
		m.BaselineKB, m.LoadKB, m.Connections, m.PeakKB, m.FileKB, m.RestKB, m.RestAfter, m.Requests, m.RPS, m.P99, m.Shed, m.Errors)
	return nil
}
