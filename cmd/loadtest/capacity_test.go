package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The plan's fixed text holds no figure: every number on docs/capacity.md is computed from
// the run's measurements and the assumptions in capacity.go.
func TestCapacityTemplateQuotesNoNumbers(t *testing.T) {
	static := regexp.MustCompile(`(?s)\{\{.*?\}\}`).ReplaceAllString(capacityTemplate, " ")
	static = strings.ReplaceAll(static, "86,400", "") // seconds in a day, a constant of the formula
	if loc := regexp.MustCompile(`[0-9]`).FindStringIndex(static); loc != nil {
		from, to := max(0, loc[0]-40), min(len(static), loc[1]+40)
		t.Fatalf("capacity.md.tmpl quotes a number in its fixed text: %q", static[from:to])
	}
}

func TestCapacityPlanFollowsTheMeasurements(t *testing.T) {
	rep := report{CPUs: 2, Date: "2026-01-01", PGBench: "tps 17000.5, latency average 0.9 ms",
		Relay: &relayResult{PerSecond: 70}}
	rep.Load = []result{
		{Name: "GetTutor, cache warm (1,000 hot tutors)", RPS: 2000},
		{Name: "GetTutor, cache cold (39000 distinct tutors)", RPS: 800},
		{Name: "ListTutors over 100000 tutors: subject", RPS: 300},
		{Name: "ListTutors over 100000 tutors: subject + level", RPS: 100},
		{Name: "SearchTutors over 100000 tutors: a word", RPS: 40},
		{Name: "ListSubjects, Connect (protobuf)", RPS: 1300},
	}
	rep.bench = parseGoBench(`BenchmarkRefresh/throughput-2 200 15371059 ns/op 65.06 refreshes/s
BenchmarkLogin/throughput-2 200 114885430 ns/op 8.704 logins/s
BenchmarkGetTutor/uncached-2 4116 384376 ns/op
BenchmarkListTutors/subject+level+language-2 96 11851454 ns/op
BenchmarkSearchPostgres/common_word_by_relevance-2 78 19608764 ns/op
BenchmarkWatchStreams-2 1 2075206053 ns/op 56746 bytes/stream`)
	p := rep.plan()
	if !p.Complete {
		t.Fatal("plan incomplete with every measurement given")
	}
	if p.List.Value != 100 {
		t.Errorf("ListTutors measurement = %v, want the slowest row's 100", p.List.Value)
	}
	if p.PGBench.Value != 17000.5 {
		t.Errorf("pgbench = %v", p.PGBench.Value)
	}
	if p.APIReplicas < p.A.MinReplicas || p.StackCores <= 0 || p.ReplicaCores <= 0 {
		t.Errorf("plan = %+v", p)
	}

	// Half the ListTutors rate needs more cores: the plan follows the measurement.
	rep.Load[3].RPS = 50
	if slower := rep.plan(); slower.StackCores <= p.StackCores {
		t.Errorf("stack cores %v with a slower ListTutors, want more than %v", slower.StackCores, p.StackCores)
	}

	path := filepath.Join(t.TempDir(), "capacity.md")
	if err := rep.writeCapacity(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| BenchmarkGetTutor/uncached (one call) | 384376 ns |", "ListTutors (slowest row) | 50.0 req/s"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("capacity.md lacks %q", want)
		}
	}
	if strings.Contains(string(b), "| not measured") || strings.Contains(string(b), "<no value>") {
		t.Error("capacity.md shows a missing figure with every measurement given")
	}
}
