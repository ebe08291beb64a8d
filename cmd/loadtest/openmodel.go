package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The open-model test: requests arrive at a constant rate whatever the server's answers
// (vegeta's attacker), so a slow answer does not slow the arrivals down and latency is not
// hidden by coordinated omission, as it is in the closed-loop scenarios. The rate steps up
// until the mix's p99 passes OpenModelP99Target or requests fail; the knee is the highest
// rate that kept within it.

// OpenModelP99Target is the p99 the mix must keep for a rate to count as served.
const OpenModelP99Target = 100 * time.Millisecond

// openModelRates are the arrival rates tried, in requests per second.
var openModelRates = []int{25, 50, 100, 200, 400, 600, 800, 1200, 1600}

// openModelStep is how long each rate is held.
const openModelStep = 5 * time.Second

// mixEntry is one kind of request of the mix and its share (per 200 requests).
type mixEntry struct {
	Name   string
	Weight int
}

// openModelStepResult is one rate's outcome.
type openModelStepResult struct {
	Rate                int
	Requests            uint64
	Throughput, Success float64
	P50, P99, Max       time.Duration
	Within              bool
	Errors              []string
}

// openModelResult is the whole test: the mix, every step and the knee (0: none kept).
type openModelResult struct {
	Mix   []mixEntry
	Steps []openModelStepResult
	Knee  int
	Step  time.Duration
	P99   time.Duration
	// MaxFailure is the share of requests that may fail at a rate within target.
	MaxFailure float64
}

// Total is the mix's requests per round, the sum of its weights.
func (o *openModelResult) Total() int {
	n := 0
	for _, m := range o.Mix {
		n += m.Weight
	}
	return n
}

// openModelTargets builds the mix's targeter over the seeded data: browse subjects and
// tutor lists, search, view a tutor (mostly popular ones), and, with accounts, sign in and
// refresh a session.
func openModelTargets(base string, subjects, hot, cold []string, users []account) (vegeta.Targeter, []mixEntry) {
	json := http.Header{"Content-Type": []string{"application/json"}}
	words := []string{"exams", "patient", "homework", "beginners", "structured", "explanations", "coaching", "practice"}
	languages := []string{"en", "es", "fr", "de"}
	type kind struct {
		mixEntry
		target func(i int, t *vegeta.Target)
	}
	get := func(t *vegeta.Target, path string) {
		t.Method, t.URL, t.Body, t.Header = http.MethodGet, base+path, nil, nil
	}
	kinds := []kind{
		{mixEntry{"browse subjects (GET /api/v1/subjects)", 30}, func(i int, t *vegeta.Target) {
			get(t, "/api/v1/subjects?page_size=20")
		}},
		{mixEntry{"browse tutors of a subject (GET /api/v1/tutors, with a language every other time)", 40}, func(i int, t *vegeta.Target) {
			q := url.Values{"page_size": {"20"}, "subject_id": {subjects[i%len(subjects)]}}
			if i%2 == 0 {
				q.Set("language", languages[i%len(languages)])
			}
			get(t, "/api/v1/tutors?"+q.Encode())
		}},
		{mixEntry{"search (GET /api/v1/search/tutors)", 20}, func(i int, t *vegeta.Target) {
			get(t, "/api/v1/search/tutors?page_size=20&query="+words[i%len(words)])
		}},
		{mixEntry{"view a popular tutor (GET /api/v1/tutors/{id}, cached)", 80}, func(i int, t *vegeta.Target) {
			get(t, "/api/v1/tutors/"+hot[i%len(hot)])
		}},
		{mixEntry{"view another tutor (GET /api/v1/tutors/{id}, mostly uncached)", 24}, func(i int, t *vegeta.Target) {
			get(t, "/api/v1/tutors/"+cold[i%len(cold)])
		}},
	}
	if len(users) > 0 {
		kinds = append(kinds,
			kind{mixEntry{"refresh a session (POST /api/v1/auth/refresh)", 5}, func(i int, t *vegeta.Target) {
				u := users[i%len(users)]
				t.Method, t.URL, t.Header = http.MethodPost, base+"/api/v1/auth/refresh", json
				t.Body = []byte(fmt.Sprintf(`{"session_token":%q}`, u.session))
			}},
			kind{mixEntry{"sign in (POST /api/v1/auth/login, Argon2id in Kratos)", 1}, func(i int, t *vegeta.Target) {
				u := users[i%len(users)]
				t.Method, t.URL, t.Header = http.MethodPost, base+"/api/v1/auth/login", json
				t.Body = []byte(fmt.Sprintf(`{"email":%q,"password":%q}`, u.email, accountPassword))
			}},
		)
	}
	// One slot per unit of weight, interleaved so every stretch of the run sees the mix.
	var slots []int
	for round, added := 0, true; added; round++ {
		added = false
		for k, kd := range kinds {
			if round < kd.Weight {
				slots = append(slots, k)
				added = true
			}
		}
	}
	var n atomic.Int64
	mix := make([]mixEntry, len(kinds))
	for i, k := range kinds {
		mix[i] = k.mixEntry
	}
	return func(t *vegeta.Target) error {
		i := int(n.Add(1))
		kinds[slots[i%len(slots)]].target(i/len(slots), t)
		return nil
	}, mix
}

// runOpenModel steps the arrival rate up and finds the knee.
func runOpenModel(tr vegeta.Targeter, mix []mixEntry) *openModelResult {
	out := &openModelResult{Mix: mix, Step: openModelStep, P99: OpenModelP99Target, MaxFailure: 0.001}
	for _, rate := range openModelRates {
		logf("open model: %d requests/s for %s", rate, openModelStep)
		// An attacker per step: vegeta's stops itself when its attack ends, and a second
		// Attack on it sends nothing.
		atk := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second), vegeta.MaxWorkers(2000))
		var m vegeta.Metrics
		for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, openModelStep, fmt.Sprint(rate)) {
			m.Add(res)
		}
		m.Close()
		s := openModelStepResult{
			Rate: rate, Requests: m.Requests, Throughput: m.Throughput, Success: m.Success,
			P50: m.Latencies.P50, P99: m.Latencies.P99, Max: m.Latencies.Max,
		}
		if len(m.Errors) > 3 {
			m.Errors = m.Errors[:3]
		}
		for _, e := range m.Errors {
			s.Errors = append(s.Errors, strings.TrimSpace(e))
		}
		s.Within = s.P99 <= OpenModelP99Target && s.Success >= 1-out.MaxFailure
		logf("open model: %d requests/s: success %.1f %%, p50 %s, p99 %s %v", rate, 100*s.Success, ms(s.P50), ms(s.P99), s.Errors)
		out.Steps = append(out.Steps, s)
		if !s.Within {
			break // past the knee: higher rates only queue more
		}
		out.Knee = rate
	}
	return out
}
