package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPU by process: every process on the machine shares its cores with the served binary, so
// what bounds a scenario is read from the CPU time each one spent over the scenario's
// measurement, taken from /proc before and after it. A process's utime+stime counts its own
// threads; its cutime+cstime the processes it reaped, so PostgreSQL's backends that exit
// within the window (pgbench's connections) are still counted, in the postmaster. The
// machine's busy and idle time come from /proc/stat; whatever no named process accounts for
// is "other" (this machine's background work, the kernel's).

// Names of the process groups, in the order the page shows them.
const (
	cpuServer     = "server"
	cpuPostgreSQL = "PostgreSQL"
	cpuRedis      = "Redis"
	cpuKratos     = "Kratos"
	cpuPgBouncer  = "PgBouncer"
	cpuTemporal   = "Temporal"
	cpuLoad       = "load generator"
	cpuOther      = "other"
)

var cpuGroups = []string{cpuServer, cpuPostgreSQL, cpuRedis, cpuKratos, cpuPgBouncer, cpuTemporal, cpuLoad}

// procStat is what the load tool reads of one process in /proc/PID/stat; times are in clock
// ticks.
type procStat struct {
	PID, PPID      int
	Comm           string
	UTime, STime   uint64
	CUTime, CSTime uint64
}

// parseProcStat reads one /proc/PID/stat line (proc(5)). The command name sits between the
// first "(" and the last ")", and may itself hold spaces and parentheses.
func parseProcStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("proc stat %.60q: no (comm)", line)
	}
	var p procStat
	var err error
	if p.PID, err = strconv.Atoi(strings.TrimSpace(line[:open])); err != nil {
		return procStat{}, fmt.Errorf("proc stat %.60q: pid: %w", line, err)
	}
	p.Comm = line[open+1 : end]
	// After the comm: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	// cmajflt utime stime cutime cstime ...
	f := strings.Fields(line[end+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("proc stat %.60q: %d fields after the comm, want at least 15", line, len(f))
	}
	if p.PPID, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("proc stat %.60q: ppid: %w", line, err)
	}
	for i, dst := range []*uint64{&p.UTime, &p.STime, &p.CUTime, &p.CSTime} {
		// cutime and cstime are signed in proc(5); they are never negative in practice.
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil || v < 0 {
			return procStat{}, fmt.Errorf("proc stat %.60q: time field %d: %q", line, 14+i, f[11+i])
		}
		*dst = uint64(v)
	}
	return p, nil
}

// machineStat is the aggregate "cpu" line of /proc/stat, in clock ticks summed over the
// cores it counts.
type machineStat struct {
	// Idle holds IOWait: a core waiting on a disk is free to run anything else.
	Busy, Idle, IOWait uint64
	Cores              int
}

// parseMachineStat reads /proc/stat: idle is idle+iowait; busy is user, nice, system, irq,
// softirq and steal (guest time is already inside user and nice).
func parseMachineStat(raw string) (machineStat, error) {
	var m machineStat
	found := false
	for _, line := range strings.Split(raw, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			m.Cores++
			continue
		}
		if len(f) < 9 {
			return machineStat{}, fmt.Errorf("/proc/stat: cpu line %q too short", line)
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[1+i], 10, 64)
			if err != nil {
				return machineStat{}, fmt.Errorf("/proc/stat: cpu line %q: %w", line, err)
			}
			v[i] = n
		}
		user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		m.Busy, m.Idle, m.IOWait = user+nice+system+irq+softirq+steal, idle+iowait, iowait
		found = true
	}
	if !found {
		return machineStat{}, fmt.Errorf("/proc/stat: no cpu line")
	}
	return m, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: the kernel's AT_CLKTCK in this
// process's auxiliary vector (what sysconf(_SC_CLK_TCK) returns), else Linux's 100 (as
// `getconf CLK_TCK` prints on the development machine).
// It is read once: the value cannot change while the process runs.
var clockTicks = sync.OnceValue(func() uint64 {
	const atClkTck = 17
	if raw, err := os.ReadFile("/proc/self/auxv"); err == nil && strconv.IntSize == 64 {
		for i := 0; i+16 <= len(raw); i += 16 {
			key, val := binary.NativeEndian.Uint64(raw[i:]), binary.NativeEndian.Uint64(raw[i+8:])
			if key == atClkTck && val > 0 {
				return val
			}
		}
	}
	return 100
})

// cpuGroup names the group a process's CPU counts towards ("" for none): the served
// binary by its pid, the load tool itself and the client tools it runs, and the services
// by their command name (postgres names every process of a cluster, the replica's too).
func cpuGroup(p procStat, self, server int) string {
	switch {
	case server > 0 && p.PID == server:
		return cpuServer
	case p.PID == self || p.Comm == "pgbench" || p.Comm == "redis-benchmark":
		return cpuLoad
	case p.Comm == "postgres":
		return cpuPostgreSQL
	case p.Comm == "redis-server":
		return cpuRedis
	case strings.HasPrefix(p.Comm, "kratos"):
		return cpuKratos
	case strings.HasPrefix(p.Comm, "pgbouncer"):
		return cpuPgBouncer
	case strings.HasPrefix(p.Comm, "temporal"):
		return cpuTemporal
	}
	return ""
}

// cpuSnapshot is the CPU time spent so far by each group and by the machine.
type cpuSnapshot struct {
	At      time.Time
	Ticks   map[string]uint64
	Machine machineStat
}

// takeCPUSnapshot reads every process's times and the machine's; server is the served
// binary's pid (0: none).
func takeCPUSnapshot(server int) (cpuSnapshot, error) {
	s := cpuSnapshot{Ticks: map[string]uint64{}}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.Machine, err = parseMachineStat(string(raw)); err != nil {
		return s, err
	}
	s.At = time.Now()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	self := os.Getpid()
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		p, err := parseProcStat(string(bytes.TrimSpace(raw)))
		if err != nil {
			return s, err
		}
		if g := cpuGroup(p, self, server); g != "" {
			s.Ticks[g] += p.UTime + p.STime + p.CUTime + p.CSTime
		}
	}
	return s, nil
}

// procCPU is one group's CPU time over a measurement.
type procCPU struct {
	Name string
	CPU  time.Duration
}

// cpuUsage is how the machine's cores were spent over one measurement that served Requests
// requests: each group present, then "other" (busy time no group accounts for), and idle.
type cpuUsage struct {
	Wall     time.Duration
	Cores    int
	Requests int64
	Groups   []procCPU
	Busy     time.Duration
	Idle     time.Duration
	// IOWait is the part of Idle in which a core waited on a disk.
	IOWait time.Duration
}

// cpuBetween is the usage from a to b; a group shows when it spent any time in the window
// or had a process at both ends.
func cpuBetween(a, b cpuSnapshot, requests int64, hz uint64) cpuUsage {
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / time.Duration(hz) }
	delta := func(x, y uint64) uint64 {
		if y < x {
			return 0
		}
		return y - x
	}
	u := cpuUsage{Wall: b.At.Sub(a.At), Cores: b.Machine.Cores, Requests: requests}
	if u.Cores == 0 {
		u.Cores = runtime.NumCPU()
	}
	u.Busy, u.Idle = tick(delta(a.Machine.Busy, b.Machine.Busy)), tick(delta(a.Machine.Idle, b.Machine.Idle))
	u.IOWait = tick(delta(a.Machine.IOWait, b.Machine.IOWait))
	var named time.Duration
	for _, g := range cpuGroups {
		before, ok1 := a.Ticks[g]
		after, ok2 := b.Ticks[g]
		if !ok1 && !ok2 {
			continue
		}
		d := tick(delta(before, after))
		named += d
		u.Groups = append(u.Groups, procCPU{Name: g, CPU: d})
	}
	other := u.Busy - named
	if other < 0 {
		// The machine's and the processes' counters tick apart; a few ticks either way.
		other = 0
	}
	u.Groups = append(u.Groups, procCPU{Name: cpuOther, CPU: other})
	return u
}

// cpuMeter measures the machine's CPU by process over one window.
type cpuMeter struct {
	server int
	start  cpuSnapshot
	err    error
}

// startCPU takes the window's first snapshot.
func startCPU(server int) *cpuMeter {
	m := &cpuMeter{server: server}
	m.start, m.err = takeCPUSnapshot(server)
	return m
}

// stop ends the window; nil when /proc could not be read.
func (m *cpuMeter) stop(requests int64) *cpuUsage {
	if m == nil || m.err != nil {
		if m != nil {
			logf("CPU by process not measured: %v", m.err)
		}
		return nil
	}
	end, err := takeCPUSnapshot(m.server)
	if err != nil {
		logf("CPU by process not measured: %v", err)
		return nil
	}
	u := cpuBetween(m.start, end, requests, clockTicks())
	return &u
}

// Of is the CPU time of the named group (0 when absent).
func (u *cpuUsage) Of(name string) time.Duration {
	for _, g := range u.Groups {
		if g.Name == name {
			return g.CPU
		}
	}
	return 0
}

// CoresUsed is d as cores busy on average over the window.
func (u *cpuUsage) CoresUsed(d time.Duration) float64 {
	if u.Wall <= 0 {
		return 0
	}
	return d.Seconds() / u.Wall.Seconds()
}

// PerRequest is d divided over the window's requests.
func (u *cpuUsage) PerRequest(d time.Duration) time.Duration {
	if u.Requests <= 0 {
		return 0
	}
	return d / time.Duration(u.Requests)
}

// Saturated reports whether the machine had almost no idle core time left: less than a
// tenth of one core idle on average.
func (u *cpuUsage) Saturated() bool {
	return u.CoresUsed(u.Idle) < 0.1
}

// MaxRPS is the most requests a second the machine's cores would serve if each cost what
// it did in this window, counting only the groups named (all busy time when none).
func (u *cpuUsage) MaxRPS(groups ...string) float64 {
	var cost time.Duration
	if len(groups) == 0 {
		cost = u.Busy
	}
	for _, g := range groups {
		cost += u.Of(g)
	}
	if cost <= 0 || u.Requests <= 0 {
		return 0
	}
	return float64(u.Cores) * float64(u.Requests) / cost.Seconds()
}
