package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// cpuTable is the page's "CPU by process": a row per measurement with a column per process
// group present in any of them, then other and idle.
type cpuTable struct {
	Columns []string
	Rows    []cpuRow
}

// cpuRow is one measurement's cells, in the table's column order.
type cpuRow struct {
	Name, Clients, Busy string
	Cells               []string
}

// CPUTable is the CPU by process of every closed-model scenario, pgbench and
// redis-benchmark that measured it (no rows: none did).
func (r *report) CPUTable() cpuTable {
	type measured struct {
		name, clients string
		u             *cpuUsage
	}
	var ms []measured
	for _, l := range r.Load {
		if l.CPU != nil {
			ms = append(ms, measured{l.Name, fmt.Sprint(l.Clients), l.CPU})
		}
	}
	if r.PGBenchCPU != nil {
		ms = append(ms, measured{"pgbench -S", fmt.Sprint(r.Concurrency), r.PGBenchCPU})
	}
	if r.RedisBenchCPU != nil {
		ms = append(ms, measured{"redis-benchmark GET", fmt.Sprint(r.Concurrency), r.RedisBenchCPU})
	}
	var t cpuTable
	present := map[string]bool{}
	for _, m := range ms {
		for _, g := range m.u.Groups {
			present[g.Name] = true
		}
	}
	for _, g := range append(slices.Clone(cpuGroups), cpuOther) {
		if present[g] {
			t.Columns = append(t.Columns, g)
		}
	}
	for _, m := range ms {
		row := cpuRow{Name: m.name, Clients: m.clients, Busy: fmt.Sprintf("%.2f of %d", m.u.CoresUsed(m.u.Busy), m.u.Cores)}
		for _, c := range t.Columns {
			if !slices.ContainsFunc(m.u.Groups, func(g procCPU) bool { return g.Name == c }) {
				row.Cells = append(row.Cells, "–")
				continue
			}
			d := m.u.Of(c)
			row.Cells = append(row.Cells, fmt.Sprintf("%s · %s", pctOf(m.u.Share(d)), perRequest(m.u.PerRequest(d))))
		}
		row.Cells = append(row.Cells, pctOf(m.u.Share(m.u.Idle)))
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Share is d as a part of every core's time over the window.
func (u *cpuUsage) Share(d time.Duration) float64 {
	if u.Cores == 0 {
		return 0
	}
	return u.CoresUsed(d) / float64(u.Cores)
}

// perRequest writes a CPU time per request in the unit that reads best.
func perRequest(d time.Duration) string {
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3)
	}
	return fmt.Sprintf("%.2f ms", float64(d.Nanoseconds())/1e6)
}

// costs lists the groups' CPU per request, the dearest first, leaving out what rounds to
// nothing (and other, unless withOther).
func (u *cpuUsage) costs(withOther bool) string {
	gs := slices.Clone(u.Groups)
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].CPU > gs[j].CPU })
	var parts []string
	for _, g := range gs {
		d := u.PerRequest(g.CPU)
		if d < 500*time.Nanosecond || (g.Name == cpuOther && !withOther) {
			continue
		}
		s := g.Name + " " + perRequest(d)
		if len(parts) == 0 {
			s += "/request"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no CPU per request measured"
	}
	return strings.Join(parts, ", ")
}

// otherWork names the cores busy with work of no named process (other builds and tests on
// a shared machine), which no request costs: "" when under a twentieth of a core.
func (u *cpuUsage) otherWork() string {
	c := u.CoresUsed(u.Of(cpuOther))
	if c < 0.05 {
		return ""
	}
	return fmt.Sprintf(", %.2f of them by other work", c)
}

// serving are the groups that serve a request: all but the load generator and other.
func (u *cpuUsage) serving() []string {
	var out []string
	for _, g := range u.Groups {
		if g.Name != cpuLoad && g.Name != cpuOther {
			out = append(out, g.Name)
		}
	}
	return out
}

// bound says what held a scenario back, from the CPU each process spent while it ran:
// either the machine's cores were all busy, and then what each request cost them and the
// rate those costs allow; or they were not, and the clients waited on something else.
// goalRPS is the throughput the target asks for (0: a latency target).
func bound(l result, goalRPS float64) string {
	u := l.CPU
	if u == nil {
		return "CPU by process not measured"
	}
	if u.Requests == 0 {
		return "no request answered"
	}
	var b strings.Builder
	busy := u.CoresUsed(u.Busy)
	// ceiling is the rate the machine's cores allow at the costs measured: the bound on
	// throughput whatever else the clients waited on.
	ceiling := func() {
		withLoad := u.MaxRPS(append(u.serving(), cpuLoad)...)
		alone := u.MaxRPS(u.serving()...)
		fmt.Fprintf(&b, "; at these costs %d cores serve at most %.0f req/s, %.0f req/s without the load generator on them", u.Cores, withLoad, alone)
		if goalRPS > 0 {
			fmt.Fprintf(&b, " (the goal: %.0f req/s", goalRPS)
			if goalRPS > alone && alone > 0 {
				fmt.Fprintf(&b, ", which needs each request to cost the serving processes at most %s of CPU", perRequest(time.Duration(float64(u.Cores)/goalRPS*float64(time.Second))))
			}
			b.WriteString(")")
		} else if alone > 0 {
			// Little's law: a closed model's clients each wait clients/throughput on average.
			fmt.Fprintf(&b, ", where %d clients would still wait %s each on average", l.Clients, ms(time.Duration(float64(l.Clients)/alone*float64(time.Second))))
		}
	}
	if u.Saturated() {
		fmt.Fprintf(&b, "machine saturated (%.2f of %d cores busy%s): %s", busy, u.Cores, u.otherWork(), u.costs(false))
		ceiling()
		return b.String()
	}
	var all time.Duration
	for _, g := range u.Groups {
		if g.Name != cpuOther {
			all += g.CPU
		}
	}
	mean := time.Duration(0)
	if l.RPS > 0 {
		mean = time.Duration(float64(l.Clients) / l.RPS * float64(time.Second))
	}
	state := "cores not saturated"
	if busy >= 0.8*float64(u.Cores) {
		// Several processes take turns on few cores: a request's next step often waits for one.
		state = "cores nearly saturated"
	}
	fmt.Fprintf(&b, "%s (%.2f of %d cores busy%s, %.2f idle", state, busy, u.Cores, u.otherWork(), u.CoresUsed(u.Idle))
	if io := u.CoresUsed(u.IOWait); io >= 0.05 {
		fmt.Fprintf(&b, ", %.2f of it waiting on disk", io)
	}
	fmt.Fprintf(&b, "): %d clients at %.0f req/s wait %s for each answer, of which %s is CPU in any process (%s); the rest is waiting for a core or for another process's answer",
		l.Clients, l.RPS, ms(mean), perRequest(u.PerRequest(all)), u.costs(false))
	ceiling()
	return b.String()
}

// baselineCost is what one request of a baseline (pgbench, redis-benchmark) cost the
// processes that serve it, its client included, for the targets judged against it; others
// busy meanwhile (PostgreSQL's checkpointer during redis-benchmark) are left to the table.
func baselineCost(name string, u *cpuUsage, serving ...string) string {
	if u == nil || u.Requests == 0 {
		return ""
	}
	only := &cpuUsage{Requests: u.Requests}
	var all time.Duration
	for _, g := range u.Groups {
		if slices.Contains(serving, g.Name) || g.Name == cpuLoad {
			only.Groups = append(only.Groups, g)
			all += g.CPU
		}
	}
	return fmt.Sprintf("; for scale, each request of %s cost %s of CPU in all (%s)", name, perRequest(u.PerRequest(all)), only.costs(false))
}
