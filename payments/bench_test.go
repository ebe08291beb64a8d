package payments_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/payments"
)

// BenchmarkWebhookToApplied measures one payment_intent.succeeded from its verification to
// the charge succeeded with its journal (verify, store with the outbox row, apply), and
// reports the p50 and p99 latency. Temporal's dispatch, the booking's signal and its
// confirmation come on top: workflows' BenchmarkWebhookToConfirmed measures the whole path.
func BenchmarkWebhookToApplied(b *testing.B) {
	svc, _ := newServiceTB(b)
	ctx := context.Background()
	secrets := []string{"whsec_bench_0123456789abcdef"}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		b.StopTimer()
		c, _ := startChargeTB(b, svc, 2_000)
		id, body := event(b, payments.EventPaymentSucceeded, time.Now(), piObject(c, "succeeded"))
		sig := payments.Sign(body, secrets[0], time.Now())
		b.StartTimer()
		start := time.Now()
		if err := payments.VerifySignature(body, sig, secrets, 5*time.Minute, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.StoreEvent(ctx, body); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.ApplyEvent(ctx, id); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
