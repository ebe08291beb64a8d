package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command name may hold spaces and parentheses: the fields are read after the last ")".
func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       procStat
	}{
		{"plain", "2209 (postgres) S 1 2209 2209 0 -1 4194560 1200 3400 0 2 11 22 33 44 20 0 1 0 100 0 0",
			procStat{PID: 2209, PPID: 1, Comm: "postgres", UTime: 11, STime: 22, CUTime: 33, CSTime: 44}},
		{"spaces and parentheses in the name", "77 (a) (b c)) R 76 77 77 0 -1 0 0 0 0 0 5 6 7 8 20 0 1 0 1 0 0",
			procStat{PID: 77, PPID: 76, Comm: "a) (b c)", UTime: 5, STime: 6, CUTime: 7, CSTime: 8}},
		{"empty name", "8 () S 2 0 0 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 0 0",
			procStat{PID: 8, PPID: 2, Comm: "", UTime: 1, STime: 2, CUTime: 3, CSTime: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "12 postgres S 1", "12 (x) S 1 2 3", "x (y) S 1 0 0 0 0 0 0 0 0 0 1 2 3 4 5", "12 (x) S 1 0 0 0 0 0 0 0 0 0 1 2 -3 4 5"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted it", bad)
		}
	}
}

// A real process whose command name reads like the stat line's own punctuation.
func TestParseProcStatOfAProcessWithAnAwkwardName(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	name := "s) (l eep"
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseProcStat(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != cmd.Process.Pid || p.PPID != os.Getpid() || p.Comm != name {
		t.Errorf("parsed %+v from %q, want pid %d, ppid %d, comm %q", p, raw, cmd.Process.Pid, os.Getpid(), name)
	}
}

func TestParseMachineStat(t *testing.T) {
	raw := "cpu  100 20 30 400 5 6 7 8 9 10\ncpu0 50 10 15 200 2 3 3 4 0 0\ncpu1 50 10 15 200 3 3 4 4 0 0\nintr 1 2 3\nctxt 99\n"
	got, err := parseMachineStat(raw)
	if err != nil {
		t.Fatal(err)
	}
	// busy: user+nice+system+irq+softirq+steal; idle: idle+iowait; guest is in user already.
	if want := (machineStat{Busy: 100 + 20 + 30 + 6 + 7 + 8, Idle: 400 + 5, IOWait: 5, Cores: 2}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseMachineStat("intr 1 2\n"); err == nil {
		t.Error("accepted a /proc/stat with no cpu line")
	}
}

// /proc's unit is the kernel's USER_HZ, as getconf reports it.
func TestClockTicksMatchGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Skip("no getconf")
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if got := clockTicks(); got != want {
		t.Errorf("clockTicks() = %d, getconf CLK_TCK = %d", got, want)
	}
}

// burnCPU spins until this process has used d more CPU time than when it started.
func burnCPU(t *testing.T, d time.Duration) {
	t.Helper()
	start := rusageCPU(t)
	x := 1
	for rusageCPU(t)-start < d {
		for i := 0; i < 1e6; i++ {
			x = x*31 + i
		}
	}
	if x == 42 {
		t.Log(x) // keeps the loop from being optimised away
	}
}

func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The load tool's own CPU is counted as the load generator's, and as the server's when its
// pid is given as the server's; the machine's busy time holds it.
func TestCPUCountsThisProcess(t *testing.T) {
	const burn = 400 * time.Millisecond
	for _, tc := range []struct {
		name   string
		server int
		group  string
	}{
		{"as the load generator", 0, cpuLoad},
		{"as the server", os.Getpid(), cpuServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startCPU(tc.server)
			if m.err != nil {
				t.Fatal(m.err)
			}
			before := rusageCPU(t)
			burnCPU(t, burn)
			used := rusageCPU(t) - before
			u := m.stop(1000)
			if u == nil {
				t.Fatal("not measured")
			}
			got := u.Of(tc.group)
			// /proc's times are in ticks (10 ms at 100 Hz) and sampled; getrusage's are exact.
			if got < used-50*time.Millisecond || got > used+100*time.Millisecond {
				t.Errorf("%s used %s by /proc, %s by getrusage", tc.group, got, used)
			}
			if u.Busy < got-50*time.Millisecond {
				t.Errorf("machine busy %s, less than this process's %s", u.Busy, got)
			}
			if want := got / 1000; u.PerRequest(got) != want {
				t.Errorf("per request %s, want %s", u.PerRequest(got), want)
			}
			if u.Cores < 1 || u.Wall < burn/time.Duration(u.Cores) {
				t.Errorf("window of %s over %d cores for %s of CPU", u.Wall, u.Cores, got)
			}
			if c := u.CoresUsed(u.Busy + u.Idle); c < float64(u.Cores)*0.8 || c > float64(u.Cores)*1.2 {
				t.Errorf("busy %s + idle %s over %s is %.2f cores, machine has %d", u.Busy, u.Idle, u.Wall, c, u.Cores)
			}
		})
	}
}

// A child that exits within the window still counts, through its parent's cutime: as
// pgbench's backends do in the postmaster's.
func TestCPUCountsReapedChildren(t *testing.T) {
	if os.Getenv("LOADTEST_BURN") != "" {
		burnCPU(t, 300*time.Millisecond)
		return
	}
	m := startCPU(0)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUCountsReapedChildren$")
	cmd.Env = append(os.Environ(), "LOADTEST_BURN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	u := m.stop(1)
	if u == nil {
		t.Fatal("not measured")
	}
	if got := u.Of(cpuLoad); got < child-50*time.Millisecond {
		t.Errorf("load generator used %s, less than its exited child's %s", got, child)
	}
}

// Other is busy time no group accounts for; groups with no process are left out.
func TestCPUBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := cpuSnapshot{At: t0, Ticks: map[string]uint64{cpuServer: 100, cpuPostgreSQL: 50, cpuLoad: 10},
		Machine: machineStat{Busy: 1000, Idle: 5000, Cores: 2}}
	b := cpuSnapshot{At: t0.Add(2 * time.Second), Ticks: map[string]uint64{cpuServer: 200, cpuPostgreSQL: 90, cpuLoad: 40},
		Machine: machineStat{Busy: 1390, Idle: 5010, Cores: 2}}
	u := cpuBetween(a, b, 2000, 100)
	want := []procCPU{{cpuServer, time.Second}, {cpuPostgreSQL, 400 * time.Millisecond}, {cpuLoad, 300 * time.Millisecond}, {cpuOther, 2200 * time.Millisecond}}
	if len(u.Groups) != len(want) {
		t.Fatalf("groups %v, want %v", u.Groups, want)
	}
	for i := range want {
		if u.Groups[i] != want[i] {
			t.Errorf("group %d: %v, want %v", i, u.Groups[i], want[i])
		}
	}
	if u.Busy != 3900*time.Millisecond || u.Idle != 100*time.Millisecond || !u.Saturated() {
		t.Errorf("busy %s idle %s saturated %v", u.Busy, u.Idle, u.Saturated())
	}
	if got := u.PerRequest(u.Of(cpuServer)); got != 500*time.Microsecond {
		t.Errorf("server per request %s", got)
	}
	if got := u.CoresUsed(u.Of(cpuServer)); got != 0.5 {
		t.Errorf("server used %.2f cores", got)
	}
	// Server, PostgreSQL and load generator: 1.7 s for 2000 requests; 2 cores at 850 µs each.
	if got := u.MaxRPS(cpuServer, cpuPostgreSQL, cpuLoad); int(got) != 2352 {
		t.Errorf("MaxRPS %.1f, want 2352.9", got)
	}
}
