package testenv

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
)

// TemporalAddress is the Temporal frontend tests use (TUTORHUB_TEST_TEMPORAL_ADDRESS, default
// the local stack's dev server).
func TemporalAddress() string { return envOr("TUTORHUB_TEST_TEMPORAL_ADDRESS", "127.0.0.1:7233") }

// TemporalNamespace is the namespace tests run workflows in (TUTORHUB_TEST_TEMPORAL_NAMESPACE,
// default the stack's `tutorhub`, which has the search attributes the workflows set).
func TemporalNamespace() string { return envOr("TUTORHUB_TEST_TEMPORAL_NAMESPACE", "tutorhub") }

var (
	temporalOnce sync.Once
	temporalErr  error
)

// Temporal returns a client of the shared Temporal dev server and a task queue name unique to
// this test, so workers and workflows of parallel tests never meet. The client is closed when
// the test ends.
//
// The Temporal dev server is a heavier build than the other services: without it the test is
// skipped, except under CI=true, where a missing server fails the test loudly.
func Temporal(t testing.TB) (client.Client, string) {
	t.Helper()
	cfg := config.Temporal{Address: TemporalAddress(), Namespace: TemporalNamespace()}
	temporalOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := temporalclient.Dial(ctx, cfg, temporalclient.Options{})
		if err == nil {
			c.Close()
		}
		temporalErr = err
	})
	if temporalErr != nil {
		msg := "Temporal is not reachable at " + cfg.Address + " (start it with deploy/local/up.sh temporal): " + temporalErr.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := temporalclient.Dial(ctx, cfg, temporalclient.Options{})
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c, "test-" + RandomID()
}
