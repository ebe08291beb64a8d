package resiliencetest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// PostgreSQL slowed far beyond the deadline: the caller gets DeadlineExceeded at its own
// deadline (Connect-Timeout-Ms), or at the configured default when it sends none; once the
// fault is removed the API answers again within seconds, with no restart.
func TestPostgresSlowerThanTheDeadline(t *testing.T) {
	t.Parallel()
	fault := testenv.PostgresFault(t)
	const defaultTimeout = 700 * time.Millisecond
	a := newAPI(t, setup{pg: fault, noCache: true, requestTimeout: defaultTimeout})
	id := a.newUser(t, "Grace Hopper")
	ctx := context.Background()
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
	if _, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id}); err != nil {
		t.Fatal(err)
	}

	fault.Latency(10 * time.Second)
	// The bound is generous: the answer must come near the deadline, far before the fault.
	const slack = time.Second
	for _, tc := range []struct {
		name     string
		deadline time.Duration // the client's; 0 sends none
		want     time.Duration
	}{
		{"the client's deadline", 400 * time.Millisecond, 400 * time.Millisecond},
		{"the default deadline", 0, defaultTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rctx := ctx
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			_, err := users.GetUser(rctx, &tutorhubv1.GetUserRequest{Id: id})
			took := time.Since(start)
			if connect.CodeOf(err) != connect.CodeDeadlineExceeded {
				t.Fatalf("read with PostgreSQL slowed: %v, want DeadlineExceeded", err)
			}
			if took < tc.want-50*time.Millisecond || took > tc.want+slack {
				t.Fatalf("answered after %s, want at the deadline (%s)", took, tc.want)
			}
		})
	}

	fault.Clear()
	start := time.Now()
	eventually(t, 10*time.Second, "the API reads PostgreSQL again", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		res, err := users.GetUser(rctx, &tutorhubv1.GetUserRequest{Id: id})
		return err == nil && res.GetProfile().GetDisplayName() == "Grace Hopper"
	}, nil)
	t.Logf("healthy again %s after the fault ended", time.Since(start).Round(time.Millisecond))
}

// PostgreSQL stopped and started again: reads answer Unavailable or DeadlineExceeded within
// the deadline while it is down, and succeed again within seconds after it is back.
func TestPostgresStoppedAndRestarted(t *testing.T) {
	t.Parallel()
	fault := testenv.PostgresFault(t)
	a := newAPI(t, setup{pg: fault, noCache: true, requestTimeout: 700 * time.Millisecond})
	id := a.newUser(t, "Edsger Dijkstra")
	ctx := context.Background()
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
	if _, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	fault.Stop()
	for i := range 3 {
		start := time.Now()
		_, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
		took := time.Since(start)
		if err == nil {
			t.Fatalf("read %d with PostgreSQL stopped succeeded", i)
		}
		if took > 700*time.Millisecond+time.Second {
			t.Fatalf("read %d with PostgreSQL stopped answered after %s, beyond the deadline", i, took)
		}
		if code := connect.CodeOf(err); code != connect.CodeUnavailable && code != connect.CodeDeadlineExceeded {
			t.Fatalf("read %d with PostgreSQL stopped: %v, want Unavailable or DeadlineExceeded (%s)", i, err, lastLines(a.Logs.String(), "internal error", 1))
		}
	}
	fault.Start()
	eventually(t, 10*time.Second, "the API reads PostgreSQL again", func() bool {
		_, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
		return err == nil
	}, nil)
}
