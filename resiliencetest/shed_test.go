package resiliencetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Beyond the in-flight limit a request is refused at once with retry information, over
// Connect and gRPC as ResourceExhausted, over REST as 503; health and readiness are never
// refused; the admitted requests complete.
func TestOverloadIsShedAtOnce(t *testing.T) {
	t.Parallel()
	fault := testenv.PostgresFault(t)
	const limit = 2
	a := newAPI(t, setup{pg: fault, noCache: true, maxInFlight: limit, requestTimeout: 30 * time.Second})
	id := a.newUser(t, "Barbara Liskov")
	ctx := context.Background()
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, a.URL)
	grpcUsers := tutorhubv1connect.NewUserServiceClient(h2c(), a.URL, connect.WithGRPC())

	// The admitted requests wait on a slow PostgreSQL, holding every slot.
	fault.Latency(8 * time.Second)
	var wg sync.WaitGroup
	admitted := make(chan error, limit)
	for range limit {
		wg.Go(func() {
			// Refused while a probe below held a slot: come back, as a client would.
			res, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
			for connect.CodeOf(err) == connect.CodeResourceExhausted {
				res, err = users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id})
			}
			if err == nil && res.GetProfile().GetDisplayName() != "Barbara Liskov" {
				err = errors.New("wrong profile " + res.GetProfile().GetDisplayName())
			}
			admitted <- err
		})
	}

	var refusal, last error
	eventually(t, 10*time.Second, "a request beyond the limit is refused", func() bool {
		// Admitted before the others hold their slots, it gives its slot back at its deadline.
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := users.GetUser(pctx, &tutorhubv1.GetUserRequest{Id: id})
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			last = err
			return false
		}
		if took := time.Since(start); took >= noWait {
			t.Fatalf("the refusal took %s; it must not wait", took)
		}
		refusal = err
		return true
	}, func() string { return fmt.Sprintf("last answer: %v", last) })
	var ce *connect.Error
	if !errors.As(refusal, &ce) || !hasRetryInfo(ce) || ce.Meta().Get("Retry-After") == "" {
		t.Fatalf("refusal %v carries no retry information", refusal)
	}
	if _, err := grpcUsers.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id}); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("gRPC call beyond the limit: %v, want ResourceExhausted", err)
	}
	res, err := http.Get(a.URL + "/api/v1/users/" + id)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("REST call beyond the limit: %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	for _, path := range []string{"/health", "/ready"} {
		res, err := http.Get(a.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(body), "overloaded") || (path == "/health" && res.StatusCode != http.StatusOK) {
			t.Fatalf("%s was refused while saturated: %d %s", path, res.StatusCode, body)
		}
	}

	fault.Clear()
	wg.Wait()
	close(admitted)
	for err := range admitted {
		if err != nil {
			t.Fatalf("an admitted request failed: %v", err)
		}
	}
	if _, err := users.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: id}); err != nil {
		t.Fatalf("read after the overload: %v", err)
	}
}
