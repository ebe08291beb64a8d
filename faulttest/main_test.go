package faulttest_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	// binary is the tutorhub binary built for this run.
	binary string
	// temporalCLI is the Temporal CLI whose dev server each test starts.
	temporalCLI string
	// missing says why the tests cannot run here; empty when they can.
	missing string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cli, err := findTemporalCLI()
	if err != nil {
		missing = err.Error()
		return m.Run()
	}
	temporalCLI = cli
	dir, err := os.MkdirTemp("", "tutorhub-faulttest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "tutorhub")
	build := exec.Command("go", "build", "-o", binary, "../cmd/tutorhub")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tutorhub:", err)
		return 1
	}
	return m.Run()
}

// findTemporalCLI returns TUTORHUB_TEST_TEMPORAL_CLI, else the clone's .bin/temporal that
// deploy/tools.sh links.
func findTemporalCLI() (string, error) {
	path := os.Getenv("TUTORHUB_TEST_TEMPORAL_CLI")
	if path == "" {
		path = filepath.Join("..", ".bin", "temporal")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", errors.New("the Temporal CLI is not at " + abs + " (build it with deploy/tools.sh temporal)")
	}
	return abs, nil
}

// needTemporalCLI skips the test when the Temporal CLI is missing, except under CI=true,
// where it fails.
func needTemporalCLI(t *testing.T) {
	t.Helper()
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(missing)
	}
	t.Skip(missing)
}
