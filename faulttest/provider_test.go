package faulttest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/workflows"
)

// providerLog is a pass-through proxy in front of a test's private stripe-mock that records
// every request the worker sends the provider, with its idempotency key and the answer.
// While stripe-mock is down it drops the worker's connection, as an unreachable provider
// does. stripe-mock keeps no state and ignores idempotency keys, so this record is how a
// test counts what Stripe itself would have charged and refunded.
type providerLog struct {
	URL   string
	mu    sync.Mutex
	calls []providerCall
}

// providerCall is one request to the provider.
type providerCall struct {
	method, path, key string
	// status is the provider's answer; 0 when it could not be reached.
	status int
}

func newProviderLog(t *testing.T, upstream string) *providerLog {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	l := &providerLog{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(res *http.Response) error {
		l.record(res.Request, res.StatusCode)
		return nil
	}
	proxy.ErrorHandler = func(_ http.ResponseWriter, r *http.Request, _ error) {
		l.record(r, 0)
		panic(http.ErrAbortHandler) // the worker sees the connection drop, not an answer
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

func (l *providerLog) record(r *http.Request, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, providerCall{method: r.Method, path: r.URL.Path, key: r.Header.Get("Idempotency-Key"), status: status})
}

// writes returns the POSTs to path: per booking named by the idempotency key (its prefix
// keyPrefix), the number answered 2xx, and the number that did not reach the provider. A
// POST to path whose key is not keyPrefix and a booking id fails the test.
func (l *providerLog) writes(t *testing.T, path, keyPrefix string) (ok map[uuid.UUID]int, dropped int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ok = map[uuid.UUID]int{}
	for _, c := range l.calls {
		if c.method != http.MethodPost || c.path != path {
			continue
		}
		rest, found := strings.CutPrefix(c.key, keyPrefix)
		id, err := uuid.Parse(rest)
		if !found || err != nil {
			t.Errorf("POST %s with idempotency key %q, want %s<booking id>", path, c.key, keyPrefix)
			continue
		}
		switch {
		case c.status == 0:
			dropped++
		case c.status < 300:
			ok[id]++
		}
	}
	return ok, dropped
}

// posts is the set of paths POSTed to.
func (l *providerLog) posts() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	paths := map[string]bool{}
	for _, c := range l.calls {
		if c.method == http.MethodPost {
			paths[c.path] = true
		}
	}
	return paths
}

// TestPaymentProviderFailsForAWhile stops the payment provider (a private stripe-mock) while
// tutors accept bookings, so every charge's PaymentIntent fails and is retried by Temporal,
// and again while the bookings are cancelled under each branch of the policy, so every
// refund fails and is retried. Once the provider is back every booking ends right once: one
// PaymentIntent created per booking, one refund asked per refund owed (each under the
// booking's idempotency key, every retry under the same key), one charge and one refund
// journal each, the tutor owed exactly what is left, and Reconcile finds no drift.
func TestPaymentProviderFailsForAWhile(t *testing.T) {
	s := newStack(t)
	provider := testenv.NewPrivateStripe(t)
	calls := newProviderLog(t, provider.URL)
	m := s.newMarket(calls.URL)
	startWorker(t, "worker", m.workerEnv(), "--queues", workflows.QueueBookings+","+workflows.QueuePayments)
	const n = 8
	m.request(n)

	provider.Stop()
	m.acceptAll()
	eventually(t, time.Minute, "a charge fails on the provider and is retried", func() bool { return s.retriedActivity("the provider failed") })
	if got := s.count(`SELECT count(*) FROM payment_charges WHERE provider_id IS NOT NULL`); got != 0 {
		t.Fatalf("%d charges have a PaymentIntent while the provider is down", got)
	}
	provider.Start()
	events := m.paid(m.charges(time.Minute))
	eventually(t, time.Minute, "every booking is confirmed", func() bool { return m.count(bookings.StateConfirmed) == n })

	provider.Stop()
	ctx := context.Background()
	want := map[uuid.UUID]outcome{}
	for i, b := range m.booked {
		// Each cancellation is decided by the policy at the moment it names (the bookings
		// service's clock); the workflow then asks payments for exactly that refund.
		by, at, refund := b.student, time.Now(), int64(lessonPriceMinor) // the student, two days ahead
		switch i % 4 {
		case 1: // the student, 12 hours ahead: half
			at, refund = b.StartsAt.Add(-12*time.Hour), lessonPriceMinor/2
		case 2: // the student, an hour ahead: nothing
			at, refund = b.StartsAt.Add(-time.Hour), 0
		case 3: // the tutor: everything
			by = m.tutor
		}
		svc := bookings.New(s.pool, bookings.Options{Now: func() time.Time { return at }})
		got, err := svc.Cancel(ctx, by, b.ID, "plans changed")
		if err != nil || got.RefundMinor != refund {
			t.Fatalf("cancel booking %d: refund %d (%v), want %d", i, got.RefundMinor, err, refund)
		}
		want[b.ID] = outcome{state: bookings.StateCancelled, refund: refund}
	}
	eventually(t, time.Minute, "a refund fails on the provider and is retried", func() bool { return s.retriedActivity("the provider failed") })
	if got := s.count(`SELECT count(*) FROM ledger_journals WHERE kind = 'refund'`); got != 0 {
		t.Fatalf("%d refund journals while the provider is down", got)
	}
	provider.Start()
	m.checkPaidOnce(events, want, 2*time.Minute)

	created, dropped := calls.writes(t, "/v1/payment_intents", "tutorhub-charge-")
	if dropped == 0 {
		t.Error("no PaymentIntent request met the outage")
	}
	refunded, droppedRefunds := calls.writes(t, "/v1/refunds", "tutorhub-refund-")
	if droppedRefunds == 0 {
		t.Error("no refund request met the outage")
	}
	for _, b := range m.booked {
		if created[b.ID] != 1 {
			t.Errorf("booking %s: the provider created %d PaymentIntents, want 1", b.ID, created[b.ID])
		}
		if wantRefunds := min(1, int(want[b.ID].refund)); refunded[b.ID] != wantRefunds {
			t.Errorf("booking %s: the provider refunded %d times, want %d", b.ID, refunded[b.ID], wantRefunds)
		}
	}
	if len(created) != n || len(refunded) != refunds(want) {
		t.Errorf("the provider created PaymentIntents for %d bookings and refunds for %d, want %d and %d", len(created), len(refunded), n, refunds(want))
	}
	for path := range calls.posts() {
		if path != "/v1/payment_intents" && path != "/v1/refunds" {
			t.Errorf("the worker posted to %s", path)
		}
	}
	t.Logf("%d PaymentIntent and %d refund requests met the outage; each was retried under its booking's key", dropped, droppedRefunds)
}
