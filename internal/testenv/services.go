package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	serviceMu  sync.Mutex
	serviceErr = map[string]error{}
)

// needService makes sure the local stack's service answers ready: once per test binary, a
// service that does not is started with deploy/local/up.sh NAME (which reuses a running one
// and waits until it is ready). When that fails too, the test fails under CI=true and is
// skipped elsewhere, saying how to start the service.
func needService(t testing.TB, name string, ready func(context.Context) error) {
	t.Helper()
	serviceMu.Lock()
	err, done := serviceErr[name]
	if !done {
		err = startService(t, name, ready)
		serviceErr[name] = err
	}
	serviceMu.Unlock()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not available (start it with deploy/local/up.sh %s): %v", name, name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func startService(t testing.TB, name string, ready func(context.Context) error) error {
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return ready(ctx)
	}
	if check() == nil {
		return nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(t), "deploy", "local", "up.sh"), name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deploy/local/up.sh %s: %v\n%s", name, err, out)
	}
	return check()
}
