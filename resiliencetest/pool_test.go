package resiliencetest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// With every connection of the API's pool taken, a request waits no longer than the
// acquire timeout, far less than its deadline, and is refused with ResourceExhausted and
// retry information, as in an overload; once a connection is free it is served again.
func TestPoolExhaustionFailsFast(t *testing.T) {
	t.Parallel()
	const acquire = 200 * time.Millisecond
	const deadline = 30 * time.Second
	a := newAPI(t, setup{noCache: true, poolSize: 1, acquireTimeout: acquire, requestTimeout: deadline})
	id := a.newUser(t, "Frances Allen")
	ctx := context.Background()
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
	if _, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id}); err != nil {
		t.Fatal(err)
	}

	held, err := a.Pool.Acquire(ctx) // the pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		_, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
		took := time.Since(start)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
			t.Fatalf("read %d with the pool exhausted: %v, want ResourceExhausted", i, err)
		}
		if !hasRetryInfo(ce) || ce.Meta().Get("Retry-After") == "" {
			t.Fatalf("read %d: refusal %v carries no retry information", i, err)
		}
		// Generous: the wait is the acquire timeout, never the request's deadline.
		if took > acquire+time.Second {
			t.Fatalf("read %d answered after %s; the acquire timeout is %s, the deadline %s", i, took, acquire, deadline)
		}
	}
	res, err := http.Get(a.URL + "/api/v1/users/" + id)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// REST maps ResourceExhausted to 429 (docs/resilience.md); the shedder's own 503 is
	// written before any handler runs.
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("REST read with the pool exhausted: %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}

	held.Release()
	res2, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
	if err != nil || res2.GetProfile().GetDisplayName() != "Frances Allen" {
		t.Fatalf("read after the pool is free: %v", err)
	}
}
