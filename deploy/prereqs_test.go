package deploy_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pathWithout builds a directory of links to every program on PATH except the named ones, so
// the script sees this machine as it would be without them.
func pathWithout(t *testing.T, drop ...string) string {
	t.Helper()
	dir := openTempDir(t)
	skip := map[string]bool{}
	for _, d := range drop {
		skip[d] = true
	}
	for _, p := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(p)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link := filepath.Join(dir, e.Name())
			if skip[e.Name()] || e.IsDir() {
				continue
			}
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins, as in the shell
			}
			if err := os.Symlink(filepath.Join(p, e.Name()), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// openTempDir is a temporary directory the unprivileged user some cases run as can use
// (t.TempDir's parent is private to the test's user).
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tutorhub-prereqs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runPrereqs runs deploy/prereqs.sh with PATH and the extra environment given; unprivileged runs it
// as an unprivileged user even when the test runs as root (through setpriv, from util-linux).
func runPrereqs(t *testing.T, path string, env []string, unprivileged bool, args ...string) (string, int) {
	t.Helper()
	script, err := filepath.Abs("prereqs.sh")
	if err != nil {
		t.Fatal(err)
	}
	name, argv := "bash", append([]string{script}, args...)
	if unprivileged && os.Geteuid() == 0 {
		// The clone may sit in a directory only root can enter (a CI checkout under a
		// mktemp -d): the unprivileged run gets a copy of the files the script reads.
		script = copyForAnyone(t, script)
		name, argv = "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "bash", script}, args...)
	}
	cmd := exec.Command(name, argv...)
	home := openTempDir(t)
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + home, "GOTOOLCHAIN=local"}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", name, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// copyForAnyone copies the script and the files it reads (go.mod, web/package-lock.json)
// into a fresh tree every user can read, and returns the copy's path.
func copyForAnyone(t *testing.T, script string) string {
	t.Helper()
	root := openTempDir(t)
	repo := filepath.Dir(filepath.Dir(script))
	for _, rel := range []string{"deploy/prereqs.sh", "go.mod", "web/package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(repo, rel))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "deploy", "prereqs.sh")
}

func TestPrereqs(t *testing.T) {
	fakeNode := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeNode, "node"), []byte("#!/bin/sh\necho v18.20.4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		path         string
		env          []string
		unprivileged bool
		args         []string
		wantExit     int
		want         []string // substrings of the output
		oneLine      bool
	}{
		{
			name: "nothing missing: silent success",
			path: os.Getenv("PATH"), args: []string{"node"},
			wantExit: 0,
		},
		{
			name: "not root and psql, pgbench missing: one line naming the exact apt command",
			path: pathWithout(t, "psql", "pgbench"), unprivileged: true, args: []string{"bench"},
			wantExit: 1, oneLine: true,
			want: []string{"sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-client postgresql-contrib"},
		},
		{
			name: "root dry run: the apt-get commands it would run, update first",
			path: pathWithout(t, "redis-cli"), env: []string{"TUTORHUB_PREREQS_DRY_RUN=1", "CHROMIUM=/nonexistent/chromium"}, args: []string{"test"},
			wantExit: 0,
			want: []string{
				"would run: apt-get update -qq\n",
				"would run: DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools chromium\n",
			},
		},
		{
			name: "root dry run without ClamAV: its daemon and sigtool's package",
			path: pathWithout(t, "clamd", "sigtool"), env: []string{"TUTORHUB_PREREQS_DRY_RUN=1", "CLAMD=/nonexistent/clamd"}, args: []string{"dev"},
			wantExit: 0,
			want:     []string{"would run: DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon clamav\n"},
		},
		{
			name: "Node older than Vite's engines range is refused, naming the range",
			path: fakeNode + string(os.PathListSeparator) + os.Getenv("PATH"), args: []string{"node"},
			wantExit: 1, oneLine: true,
			want: []string{"Node 18.20.4 is too old", "^20.19.0 || >=22.12.0"},
		},
		{
			name: "an unknown profile is an error",
			path: os.Getenv("PATH"), args: []string{"deploy"},
			wantExit: 1, want: []string{"unknown profile: deploy"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runPrereqs(t, tc.path, tc.env, tc.unprivileged, tc.args...)
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.wantExit, out)
			}
			if len(tc.want) == 0 && out != "" {
				t.Errorf("output %q, want none", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.oneLine && strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("output is not one line:\n%s", out)
			}
		})
	}
}
