package main

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

//go:embed capacity.md.tmpl
var capacityTemplate string

// assumptions are the capacity plan's inputs that no benchmark measures; docs/capacity.md
// states each one, and the plan is only as good as they are.
type assumptions struct {
	Registered        float64 // registered users
	DailyActive       float64 // fraction of registered users active on a day
	SessionsPerDay    float64 // sessions per daily active user
	ListsPerSession   float64 // ListTutors pages per session
	SearchesPerSess   float64 // SearchTutors calls per session
	ViewsPerSession   float64 // GetTutor calls per session
	CacheHitRatio     float64 // share of GetTutor served from the cache
	SubjectsPerSess   float64 // ListSubjects calls per session
	RefreshPerSession float64 // token refreshes per session
	LoginsPerSession  float64 // password sign-ins per session (the rest resume a session)
	WritesPerSession  float64 // profile edits, uploads, settings: each one outbox event
	PeakFactor        float64 // peak hour's request rate over the day's average
	Growth            float64 // growth the plan must absorb before it is redone
	Utilisation       float64 // target CPU utilisation at peak
	CoresPerReplica   float64 // cores of one API or worker replica
	MinReplicas       float64 // replicas kept for availability
	TutorShare        float64 // registered users who are tutors
	WatchingAtPeak    float64 // daily actives holding a notification stream at peak
	BytesPerUser      float64 // users, roles and settings rows with their indexes
	BytesPerTutor     float64 // a profile and its search document, with indexes
	BytesPerEvent     float64 // an outbox row, its audit row and notifications, per write
	AvatarBytes       float64 // a tutor's avatar
	DocumentBytes     float64 // a tutor's credential documents
	HistoryDays       float64 // Temporal namespace retention
	HistoryBytes      float64 // a closed workflow's history
	CacheEntryBytes   float64 // one cached tutor profile in Redis
	SessionKeyBytes   float64 // per active user: revocation and rate-limit keys
}

var defaultAssumptions = assumptions{
	Registered: 1e6, DailyActive: 0.10, SessionsPerDay: 2,
	ListsPerSession: 5, SearchesPerSess: 2, ViewsPerSession: 8, CacheHitRatio: 0.8,
	SubjectsPerSess: 1, RefreshPerSession: 1, LoginsPerSession: 0.2, WritesPerSession: 0.2,
	PeakFactor: 4, Growth: 2, Utilisation: 0.6, CoresPerReplica: 2, MinReplicas: 3,
	TutorShare: 0.05, WatchingAtPeak: 0.1,
	BytesPerUser: 2 << 10, BytesPerTutor: 6 << 10, BytesPerEvent: 3 << 10,
	AvatarBytes: 200 << 10, DocumentBytes: 4 << 20,
	HistoryDays: 7, HistoryBytes: 16 << 10,
	CacheEntryBytes: 3 << 10, SessionKeyBytes: 512,
}

// measure is one named measurement of the run the plan is computed from.
type measure struct {
	Name  string  // as docs/benchmarks.md names it
	Value float64 // 0 when not measured
	Unit  string
}

func (m measure) OK() bool { return m.Value > 0 }

func (m measure) String() string {
	if !m.OK() {
		return "not measured in this run"
	}
	return fmt.Sprintf("%s %s", num(m.Value), m.Unit)
}

// capacityPlan is docs/capacity.md's content: the measurements, and every figure derived
// from them and the assumptions.
type capacityPlan struct {
	A    assumptions
	CPUs int
	Date string

	// Measurements (whole-stack rates on CPUs cores, as docs/benchmarks.md shows them).
	WarmGet, ColdGet, List, Search, Subjects measure
	Refresh, Login                           measure
	PGBench, Relay                           measure
	ColdGetTime, ListTime, SearchTime        measure // one call's time, ns
	StreamBytes                              measure

	// Demand at peak (requests per second, growth included).
	DailySessions                                                    float64
	PeakWarmGet, PeakColdGet, PeakList, PeakSearch, PeakSubjects     float64
	PeakRefresh, PeakLogin, PeakWrites, PeakTotal                    float64
	StackCores, DBCores, ReplicaCores, PrimaryCores, APICores        float64
	APIReplicas, ServerConns, ClientConns, PGMaxConns, ReplicaServer float64
	WorkflowStarts, RelayReplicas, WorkerReplicas                    float64
	Streams, StreamMemory                                            float64
	HistoryStorage, RedisCache, RedisSessions, RedisTotal            float64
	DBGrowthYear, ObjectsYear, DBWorkingSet                          float64
	Complete                                                         bool
}

var tpsPattern = regexp.MustCompile(`tps ([0-9.]+)`)

// plan computes the capacity plan from this run's measurements.
func (r *report) plan() capacityPlan {
	a := defaultAssumptions
	p := capacityPlan{A: a, CPUs: r.CPUs, Date: r.Date}
	rps := func(name string) measure {
		m := measure{Name: name, Unit: "req/s"}
		if l, ok := r.loadResult(name); ok && l.Errors == 0 {
			m.Value = l.RPS
		}
		return m
	}
	// The slowest of several scenarios of one RPC: the plan holds for every filter.
	slowest := func(prefix string) measure {
		m := measure{Name: prefix + " (slowest row)", Unit: "req/s"}
		for _, l := range r.Load {
			if strings.HasPrefix(l.Name, prefix) && l.Errors == 0 && (m.Value == 0 || l.RPS < m.Value) {
				m.Value = l.RPS
			}
		}
		return m
	}
	bench := func(name, unit, shown string) measure {
		v, _ := r.bench.metric(name, unit)
		return measure{Name: name, Value: v, Unit: shown}
	}
	p.WarmGet = rps("GetTutor, cache warm")
	p.ColdGet = rps("GetTutor, cache cold")
	p.List = slowest("ListTutors")
	p.Search = slowest("SearchTutors")
	p.Subjects = rps("ListSubjects, Connect (protobuf)")
	p.Refresh = bench("BenchmarkRefresh/throughput", "refreshes/s", "refreshes/s")
	p.Login = bench("BenchmarkLogin/throughput", "logins/s", "logins/s")
	p.PGBench = measure{Name: "pgbench -S", Unit: "TPS"}
	if m := tpsPattern.FindStringSubmatch(r.PGBench); m != nil {
		p.PGBench.Value, _ = strconv.ParseFloat(m[1], 64)
	}
	p.Relay = measure{Name: "Relay throughput", Unit: "events/s"}
	if r.Relay != nil {
		p.Relay.Value = r.Relay.PerSecond
	}
	p.ColdGetTime = bench("BenchmarkGetTutor/uncached", "ns/op", "ns")
	p.ListTime = bench("BenchmarkListTutors/subject+level+language", "ns/op", "ns")
	p.SearchTime = bench("BenchmarkSearchPostgres/common_word_by_relevance", "ns/op", "ns")
	p.StreamBytes = bench("BenchmarkWatchStreams", "bytes/stream", "bytes")

	cpus := float64(max(r.CPUs, 1))
	p.DailySessions = a.Registered * a.DailyActive * a.SessionsPerDay
	peak := func(perSession float64) float64 {
		return p.DailySessions * perSession / 86400 * a.PeakFactor * a.Growth
	}
	p.PeakWarmGet = peak(a.ViewsPerSession * a.CacheHitRatio)
	p.PeakColdGet = peak(a.ViewsPerSession * (1 - a.CacheHitRatio))
	p.PeakList = peak(a.ListsPerSession)
	p.PeakSearch = peak(a.SearchesPerSess)
	p.PeakSubjects = peak(a.SubjectsPerSess)
	p.PeakRefresh = peak(a.RefreshPerSession)
	p.PeakLogin = peak(a.LoginsPerSession)
	p.PeakWrites = peak(a.WritesPerSession)
	p.PeakTotal = p.PeakWarmGet + p.PeakColdGet + p.PeakList + p.PeakSearch + p.PeakSubjects + p.PeakRefresh + p.PeakLogin + p.PeakWrites

	need := []struct {
		demand float64
		m      measure
	}{
		{p.PeakWarmGet, p.WarmGet}, {p.PeakColdGet, p.ColdGet}, {p.PeakList, p.List},
		{p.PeakSearch, p.Search}, {p.PeakSubjects, p.Subjects}, {p.PeakRefresh, p.Refresh},
		// A write costs about what an uncached read does, plus its asynchronous work.
		{p.PeakWrites, p.ColdGet},
	}
	p.Complete = p.ColdGetTime.OK() && p.ListTime.OK() && p.SearchTime.OK() && p.Relay.OK() && p.StreamBytes.OK() && p.Login.OK()
	for _, n := range need {
		if !n.m.OK() {
			p.Complete = false
			continue
		}
		// Cores the demand needs at the measured whole-stack rate per core.
		p.StackCores += n.demand / (n.m.Value / cpus)
	}
	p.StackCores /= a.Utilisation
	// PostgreSQL's busy seconds per second: the single-call times are mostly database time.
	p.ReplicaCores = (p.PeakList*p.ListTime.Value + p.PeakSearch*p.SearchTime.Value) / 1e9 / a.Utilisation
	p.PrimaryCores = (p.PeakColdGet + p.PeakWrites) * p.ColdGetTime.Value / 1e9 / a.Utilisation
	p.DBCores = p.ReplicaCores + p.PrimaryCores
	p.APICores = math.Max(p.StackCores-p.DBCores, p.StackCores/2)
	p.APIReplicas = math.Max(a.MinReplicas, math.Ceil(p.APICores/a.CoresPerReplica))
	// Little's law: connections busy = rate x time held; twice that for bursts, at least 10.
	p.ServerConns = math.Max(10, math.Ceil(2*p.PrimaryCores*a.Utilisation))
	p.ReplicaServer = math.Max(10, math.Ceil(2*p.ReplicaCores*a.Utilisation))
	p.ClientConns = p.APIReplicas * 10 * 2 // TUTORHUB_DATABASE_MAX_CONNS (10) per pool, primary and replica
	p.PGMaxConns = p.ServerConns + 3*p.APIReplicas + 20
	p.WorkflowStarts = p.PeakWrites
	if p.Relay.OK() {
		p.RelayReplicas = math.Max(1, math.Ceil(p.WorkflowStarts/(p.Relay.Value*a.Utilisation)))
	}
	p.WorkerReplicas = math.Max(2, p.RelayReplicas+1)
	p.Streams = a.Registered * a.DailyActive * a.WatchingAtPeak * a.Growth
	p.StreamMemory = p.Streams * p.StreamBytes.Value
	p.HistoryStorage = p.PeakWrites / a.PeakFactor * 86400 * a.HistoryDays * a.HistoryBytes
	tutors := a.Registered * a.TutorShare * a.Growth
	p.RedisCache = tutors * a.CacheEntryBytes
	p.RedisSessions = a.Registered * a.DailyActive * a.Growth * a.SessionKeyBytes
	p.RedisTotal = 2 * (p.RedisCache + p.RedisSessions) // fragmentation and replication buffers
	writesPerYear := p.PeakWrites / a.PeakFactor * 86400 * 365
	p.DBGrowthYear = a.Registered*(a.Growth-1)*a.BytesPerUser + a.Registered*a.TutorShare*(a.Growth-1)*a.BytesPerTutor + writesPerYear*a.BytesPerEvent
	p.DBWorkingSet = a.Registered*a.Growth*a.BytesPerUser + tutors*a.BytesPerTutor
	p.ObjectsYear = a.Registered * a.TutorShare * (a.Growth - 1) * (a.AvatarBytes + a.DocumentBytes)
	return p
}

// writeCapacity renders docs/capacity.md from this run.
func (r *report) writeCapacity(path string) error {
	tmpl, err := template.New("capacity.md").Funcs(template.FuncMap{
		"num": num, "bytes": bytesHuman, "pct": func(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) },
	}).Parse(capacityTemplate)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, r.plan()); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// num writes a figure with the precision it deserves.
func num(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f >= 100:
		return strconv.FormatFloat(math.Round(f), 'f', -1, 64)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

func bytesHuman(f float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%s %s", num(f), units[i])
}
