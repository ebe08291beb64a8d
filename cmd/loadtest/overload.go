package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tutorhub/tutorhub/internal/telemetry"
)

// Overload: the open model's mix arriving at three times the highest rate the instance
// sustained within the target (the open model's knee), for a short window, against an
// instance whose in-flight limit is sized as docs/resilience.md advises. The page shows what
// the admitted requests cost, how many were refused and how fast, whether each refusal
// carried Retry-After, and the server's resident memory meanwhile against at rest.

// overloadFactor is the multiple of the knee the overload drives.
const overloadFactor = 3

// overloadMinInFlight is the overloaded instance's TUTORHUB_MIN_IN_FLIGHT: one request per
// core, the least that keeps every core busy (docs/resilience.md).
var overloadMinInFlight = runtime.NumCPU()

// overloadWarmUp is how long the fresh instance serves the mix before anything is measured.
const overloadWarmUp = 3 * time.Second

// overloadResult is the overload run's outcome.
type overloadResult struct {
	// Err says why it did not run (empty: it ran).
	Err string
	// Knee is the rate the overload multiplies; KneeHere is true when it was stepped up to
	// on this run's overload instance (no open model ran before).
	Knee     int
	KneeHere bool
	Factor   int
	Rate     int
	Window   time.Duration
	// MaxInFlight is the instance's TUTORHUB_MAX_IN_FLIGHT; MaxConns its pool's size.
	MaxInFlight, MaxConns int
	// LatencyTarget is the instance's TUTORHUB_LATENCY_TARGET (0: a fixed limit); MinInFlight
	// its adaptive limit's floor.
	LatencyTarget time.Duration
	MinInFlight   int
	// LimitLow, LimitHigh and LimitEnd are the in-flight limit the instance reported (its
	// tutorhub_shed_limit gauge) during the window: lowest, highest, and at its end.
	LimitLow, LimitHigh, LimitEnd int
	P99Target                     time.Duration
	// Mix is the open model's mix, as it drives it.
	Mix []mixEntry

	Requests                 int
	Admitted                 int
	AdmittedP50, AdmittedP99 time.Duration
	// Refused are the 503 (shed) and 429 (pool exhausted) answers; RetryAfter how many of
	// them carried a Retry-After header.
	Refused                int
	RefusedP50, RefusedP99 time.Duration
	RetryAfter             int
	// Other are the remaining answers by HTTP status ("error" for no answer).
	Other []codeCount
	// RestKB is the server's VmRSS at rest before the window, PeakKB the highest sampled
	// during it.
	RestKB, PeakKB int64
}

// AdmittedWithin reports whether the admitted requests kept the open model's p99 target.
func (o *overloadResult) AdmittedWithin() bool {
	return o.Admitted > 0 && o.AdmittedP99 <= o.P99Target
}

// runOverload serves bin on dbURL with an in-flight limit of maxInFlight and drives the mix
// at overloadFactor times knee (knee 0: found first on this instance) for window.
func runOverload(bin, dbURL string, knee, maxInFlight int, target, window time.Duration, targets func(base string) (vegeta.Targeter, []mixEntry), hot []string) *overloadResult {
	out := &overloadResult{Knee: knee, Factor: overloadFactor, Window: window, MaxInFlight: maxInFlight, MaxConns: loadMaxConns,
		LatencyTarget: target, MinInFlight: overloadMinInFlight, P99Target: OpenModelP99Target}
	if err := overload(out, bin, dbURL, targets, hot); err != nil {
		out.Err = err.Error()
		logf("overload: %v", err)
	}
	return out
}

func overload(out *overloadResult, bin, dbURL string, targets func(base string) (vegeta.Targeter, []mixEntry), hot []string) error {
	logf("overload: serving a third instance, at most %d requests in flight (latency target %s)", out.MaxInFlight, out.LatencyTarget)
	srv, base, internal, err := startServer(bin, dbURL,
		fmt.Sprintf("TUTORHUB_MAX_IN_FLIGHT=%d", out.MaxInFlight),
		"TUTORHUB_LATENCY_TARGET="+out.LatencyTarget.String(),
		fmt.Sprintf("TUTORHUB_MIN_IN_FLIGHT=%d", out.MinInFlight),
		"TUTORHUB_REDIS_KEY_PREFIX=loadtest-overload:",
	)
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()
	c := transport()
	for _, id := range hot {
		_ = restGet(context.Background(), c, base+"/api/v1/tutors/"+id)
	}
	tr, mix := targets(base)
	out.Mix = mix
	// A fresh instance: fill its pool, caches and the database's buffers with the mix first.
	warm := out.Knee
	if warm == 0 {
		warm = openModelRates[0]
	}
	logf("overload: warming up at %d requests/s for %s", warm, overloadWarmUp)
	for range vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second)).Attack(tr, vegeta.Rate{Freq: warm, Per: time.Second}, overloadWarmUp, "warm-up") {
	}
	if out.Knee == 0 {
		out.KneeHere = true
		om := runOpenModel(tr, mix)
		out.Knee = om.Knee
		if out.Knee == 0 {
			first := om.Steps[0]
			return fmt.Errorf("not even %d requests/s kept the p99 within %s (p99 %s, success %s): nothing to multiply",
				first.Rate, ms(OpenModelP99Target), ms(first.P99), pctOf(first.Success))
		}
	}
	if out.Knee == 0 {
		return fmt.Errorf("the open model found no rate that kept the p99 within %s: nothing to multiply", ms(OpenModelP99Target))
	}
	out.Rate = out.Factor * out.Knee
	if mem, err := readMem(srv.Process.Pid); err == nil {
		out.RestKB = mem.RSS
	}

	peak := samplePeakRSS(srv.Process.Pid, 50*time.Millisecond, out.RestKB)
	limits := sampleGauge(c, internal, "tutorhub_shed_limit", 100*time.Millisecond)
	logf("overload: %d requests/s (%d x %d) for %s", out.Rate, out.Factor, out.Knee, out.Window)
	atk := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second), vegeta.MaxWorkers(4000))
	var admitted, refused []time.Duration
	other := map[string]int{}
	for res := range atk.Attack(tr, vegeta.Rate{Freq: out.Rate, Per: time.Second}, out.Window, "overload") {
		out.Requests++
		switch {
		case res.Code >= 200 && res.Code < 300:
			admitted = append(admitted, res.Latency)
		case res.Code == http.StatusServiceUnavailable || res.Code == http.StatusTooManyRequests:
			refused = append(refused, res.Latency)
			if res.Headers.Get("Retry-After") != "" {
				out.RetryAfter++
			}
		case res.Code == 0:
			other["error"]++
		default:
			other[fmt.Sprint(res.Code)]++
		}
	}
	out.PeakKB = peak()
	out.LimitLow, out.LimitHigh, out.LimitEnd = limits()
	out.Admitted, out.Refused = len(admitted), len(refused)
	out.AdmittedP50, out.AdmittedP99 = percentiles(admitted)
	out.RefusedP50, out.RefusedP99 = percentiles(refused)
	out.Other = sortedCodes(other)
	logf("overload: %d requests, %d admitted (p99 %s), %d refused (p99 %s, %d with Retry-After), other %v; RSS %d KiB at rest, at most %d KiB",
		out.Requests, out.Admitted, ms(out.AdmittedP99), out.Refused, ms(out.RefusedP99), out.RetryAfter, out.Other, out.RestKB, out.PeakKB)
	return nil
}

// sampleGauge reads the gauge name from the instance's /metrics on its internal listener
// every period until the returned function is called, which gives the lowest, highest and
// last value read (zeros when none was).
func sampleGauge(c *http.Client, internal, name string, every time.Duration) func() (low, high, last int) {
	var low, high, last int
	seen := false
	read := func() {
		v, err := scrapeGauge(c, internal, name)
		if err != nil {
			return
		}
		if !seen || v < low {
			low = v
		}
		if !seen || v > high {
			high = v
		}
		last, seen = v, true
	}
	stop := sampleEvery(every, read)
	return func() (int, int, int) {
		stop()
		read()
		return low, high, last
	}
}

// scrapeGauge reads one unlabelled gauge from a Prometheus text exposition at
// internal (http://host:port) + /metrics.
func scrapeGauge(c *http.Client, internal, name string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, internal+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	return gaugeValue(string(body), name)
}

// gaugeValue finds name's sample in a Prometheus text exposition (with or without labels).
func gaugeValue(exposition, name string) (int, error) {
	v, found, err := telemetry.SampleSum(exposition, name)
	if err == nil && !found {
		err = fmt.Errorf("no %s in the exposition", name)
	}
	return int(v), err
}

// percentiles returns the p50 and p99 of l (zeros when empty), sorting it.
func percentiles(l []time.Duration) (p50, p99 time.Duration) {
	if len(l) == 0 {
		return 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[(len(l)-1)/2], l[(len(l)-1)*99/100]
}
