package objectstore_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/breaker/breakertest"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Storage stopped or answering later than the timeout, behind a private Toxiproxy: calls fail
// within the timeout (the SDK's retries included), the breaker opens, calls then fail at once
// without reaching storage or being retried, and once the fault ends the next probe closes
// the breaker and calls succeed again, without a new client.
func TestBreakerGuardsStorage(t *testing.T) {
	cfg, direct := testenv.S3(t)
	ctx := context.Background()
	if err := direct.Put(ctx, cfg.QuarantineBucket, "k", "text/plain", bytes.NewReader([]byte("hello")), 5); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	// The SDK makes three attempts with a jittered backoff of up to a second or two between them.
	const failBound = 3*timeout + 4*time.Second
	for _, tc := range []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
		{"slower than the timeout", func(f *testenv.Fault) { f.Latency(5 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(cfg.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			fault := testenv.NewFault(t, u.Host)
			proxied := cfg
			proxied.Endpoint = fault.URL(cfg.Endpoint)
			b := breaker.New("s3", breaker.Options{Failures: 3, OpenFor: time.Second, MaxOpenFor: time.Second})
			store, err := objectstore.New(proxied, objectstore.WithBreaker(b), objectstore.WithTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			head := func() error {
				info, err := store.Head(ctx, cfg.QuarantineBucket, "k")
				if err == nil && info.Size != 5 {
					t.Fatalf("head: size %d, want 5", info.Size)
				}
				return err
			}
			if err := head(); err != nil {
				t.Fatalf("head before the fault: %v", err)
			}

			tc.inject(fault)
			breakertest.Opens(t, b, "head", head, failBound, 100*time.Millisecond)
			fault.Clear()
			fault.Start()
			breakertest.Recovers(t, b, "head", head, 10*time.Second)
		})
	}
}
