package resiliencetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The adaptive in-flight limit against a real dependency that slows down and recovers:
// under steady load on a healthy PostgreSQL the limit climbs from its floor; once every
// query is slower than the latency target it falls (the concurrency that made requests slow
// is cut) and the requests beyond it are refused at once with retry information, while the
// admitted ones still complete; when PostgreSQL is fast again the limit climbs back. The
// limit is read from /metrics (tutorhub_shed_limit), as an operator reads it.
func TestAdaptiveLimitFollowsASlowedPostgres(t *testing.T) {
	t.Parallel()
	fault := testenv.PostgresFault(t)
	const (
		floor, ceiling = 4, 32
		clients        = 16
		// high: the limit has grown well past its floor; low: it has fallen well below high.
		high, low = 12, 8
		target    = 250 * time.Millisecond
		// slow is the latency the fault adds to every packet from PostgreSQL: each read takes
		// longer than the target, far less than its deadline.
		slow = 600 * time.Millisecond
	)
	a := newAPI(t, setup{pg: fault, noCache: true, poolSize: ceiling, maxInFlight: ceiling, latencyTarget: target,
		minInFlight: floor, requestTimeout: 20 * time.Second, metrics: true})
	id := a.newUser(t, "Edsger Dijkstra")
	limit := func() int {
		t.Helper()
		res, err := http.Get(a.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		page, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		v, found, err := telemetry.SampleSum(string(page), "tutorhub_shed_limit")
		if err != nil || !found {
			t.Fatalf("tutorhub_shed_limit on /metrics: found %v, %v", found, err)
		}
		return int(v)
	}
	if got := limit(); got != floor {
		t.Fatalf("the limit starts at %d, want the floor %d", got, floor)
	}

	// A closed loop of clients; a refused client comes back after a pause, as Retry-After asks
	// (shortened: the test is about the limit, not the clients' patience).
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg               sync.WaitGroup
		answered, shed   atomic.Int64
		failed           atomic.Int64
		firstErr         atomic.Value
		refusalsWithInfo atomic.Int64
	)
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				res, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
				var ce *connect.Error
				switch {
				case err == nil && res.GetProfile().GetDisplayName() == "Edsger Dijkstra":
					answered.Add(1)
				case connect.CodeOf(err) == connect.CodeResourceExhausted:
					shed.Add(1)
					if errors.As(err, &ce) && hasRetryInfo(ce) && ce.Meta().Get("Retry-After") != "" {
						refusalsWithInfo.Add(1)
					}
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				case ctx.Err() != nil:
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("GetUser: %v (profile %q)", err, res.GetProfile().GetDisplayName()))
				}
			}
		})
	}
	t.Cleanup(func() {
		stop()
		fault.Clear()
		wg.Wait()
	})
	state := func() string {
		return fmt.Sprintf("limit %d, %d answered, %d shed, %d failed", limit(), answered.Load(), shed.Load(), failed.Load())
	}

	eventually(t, time.Minute, fmt.Sprintf("the limit grows to %d with PostgreSQL healthy", high), func() bool { return limit() >= high }, state)
	t.Logf("healthy: %s", state())

	fault.Latency(slow)
	shedBefore := shed.Load()
	eventually(t, time.Minute, fmt.Sprintf("the limit falls to %d with every read slower than the target", low), func() bool { return limit() <= low }, state)
	eventually(t, 30*time.Second, "the clients beyond the limit are refused", func() bool { return shed.Load() > shedBefore }, state)
	t.Logf("slowed: %s", state())
	answeredSlow := answered.Load()
	eventually(t, 30*time.Second, "admitted reads still complete while PostgreSQL is slow", func() bool { return answered.Load() > answeredSlow }, state)

	fault.Clear()
	eventually(t, time.Minute, fmt.Sprintf("the limit grows back to %d once PostgreSQL is fast again", high), func() bool { return limit() >= high }, state)
	t.Logf("recovered: %s", state())

	stop()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d reads failed otherwise than by a refusal; first: %v", n, firstErr.Load())
	}
	if s, r := shed.Load(), refusalsWithInfo.Load(); s == 0 || r != s {
		t.Fatalf("%d refusals, %d of them with RetryInfo and Retry-After; want every one", s, r)
	}
}
