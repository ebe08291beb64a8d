package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
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
			head := func() (time.Duration, error) {
				start := time.Now()
				info, err := store.Head(ctx, cfg.QuarantineBucket, "k")
				if err == nil && info.Size != 5 {
					t.Fatalf("head: size %d, want 5", info.Size)
				}
				return time.Since(start), err
			}
			if _, err := head(); err != nil {
				t.Fatalf("head before the fault: %v", err)
			}

			tc.inject(fault)
			for i := 0; b.State() != breaker.Open; i++ {
				if i == 5 {
					t.Fatalf("the breaker is %s after %d failed calls", b.State(), i)
				}
				took, err := head()
				if err == nil {
					t.Fatalf("head %d during the fault succeeded", i)
				}
				if took > failBound {
					t.Fatalf("head %d during the fault took %s, want within %s", i, took, failBound)
				}
			}
			for i := range 5 {
				took, err := head()
				if !errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("head %d with the breaker open: %v, want a refusal", i, err)
				}
				if took > 100*time.Millisecond {
					t.Fatalf("head %d with the breaker open took %s: it waited on storage", i, took)
				}
			}

			fault.Clear()
			fault.Start()
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := head()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("storage not read again within 10s after the fault: %v (breaker %s)", err, b.State())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if s := b.State(); s != breaker.Closed {
				t.Fatalf("breaker %s after a successful call, want closed", s)
			}
		})
	}
}
