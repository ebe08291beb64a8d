package payments_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
)

const feeBPS = 1500

func newService(t *testing.T) (*payments.Service, *pgxpool.Pool) { return newServiceTB(t) }

func newServiceTB(t testing.TB) (*payments.Service, *pgxpool.Pool) {
	t.Helper()
	stripeURL := testenv.Stripe(t)
	pool := testenv.Postgres(t)
	return payments.New(pool, payments.Options{StripeAPIURL: stripeURL, StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: feeBPS}), pool
}

func startCharge(t *testing.T, svc *payments.Service, amount int64) (payments.Charge, payments.ChargeRequest) {
	return startChargeTB(t, svc, amount)
}

func startChargeTB(t testing.TB, svc *payments.Service, amount int64) (payments.Charge, payments.ChargeRequest) {
	t.Helper()
	req := payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: amount, Currency: "eur"}
	c, err := svc.StartCharge(context.Background(), req)
	if err != nil {
		t.Fatalf("StartCharge: %v", err)
	}
	return c, req
}

// event builds a provider event the way Stripe sends it: the envelope around the object.
func event(t testing.TB, typ string, created time.Time, object map[string]any) (string, []byte) {
	t.Helper()
	id := "evt_" + uuid.NewString()[:24]
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2025-01-01", "type": typ, "created": created.Unix(),
		"livemode": false, "data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, body
}

func piObject(c payments.Charge, status string) map[string]any {
	return map[string]any{
		"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "currency": c.Currency, "status": status,
		"metadata": map[string]string{payments.MetadataBookingID: c.BookingID.String(), payments.MetadataChargeID: c.ID.String()},
	}
}

func storeAndApply(t *testing.T, svc *payments.Service, body []byte, id string) payments.Applied {
	t.Helper()
	if _, err := svc.StoreEvent(context.Background(), body); err != nil {
		t.Fatalf("StoreEvent: %v", err)
	}
	a, err := svc.ApplyEvent(context.Background(), id)
	if err != nil {
		t.Fatalf("ApplyEvent: %v", err)
	}
	return a
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func assertLedgerBalanced(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if n := count(t, pool, `SELECT count(*) FROM (SELECT currency FROM ledger_entries GROUP BY currency HAVING sum(amount_minor) <> 0) x`); n != 0 {
		t.Fatalf("%d currencies do not balance", n)
	}
}

func TestStartChargeIsIdempotentByBooking(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	req := payments.ChargeRequest{BookingID: uuid.New(), StudentID: uuid.New(), TutorID: uuid.New(), AmountMinor: 4500, Currency: "EUR"}
	var wg sync.WaitGroup
	got := make([]payments.Charge, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = svc.StartCharge(ctx, req) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("StartCharge %d: %v", i, errs[i])
		}
	}
	// Later calls see the PaymentIntent recorded by the first to record one.
	again, err := svc.StartCharge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.ProviderID == "" || again.ClientSecret == "" || again.Status != payments.ChargePending || again.Currency != "eur" || again.AmountMinor != 4500 {
		t.Fatalf("charge %+v", again)
	}
	for _, c := range got {
		if c.ID != again.ID {
			t.Fatalf("two charges for one booking: %s and %s", c.ID, again.ID)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_charges WHERE booking_id = $1`, req.BookingID); n != 1 {
		t.Fatalf("%d charges for the booking", n)
	}

	t.Run("other terms for the same booking are refused", func(t *testing.T) {
		other := req
		other.AmountMinor = 9999
		if _, err := svc.StartCharge(ctx, other); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
			t.Fatalf("StartCharge = %v, want failed precondition", err)
		}
	})
	t.Run("bad input names every bad field", func(t *testing.T) {
		_, err := svc.StartCharge(ctx, payments.ChargeRequest{AmountMinor: -1, Currency: "euro"})
		var e *tutorhub.Error
		if !errors.As(err, &e) || e.Code != tutorhub.EINVALID || len(e.Violations) != 5 {
			t.Fatalf("StartCharge = %#v, want 5 violations", err)
		}
	})
}

func TestEventsApplyOnceInAnyOrder(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	c, req := startCharge(t, svc, 10_000)
	now := time.Now()
	failedID, failed := event(t, payments.EventPaymentFailed, now.Add(-time.Minute), piObject(c, "requires_payment_method"))
	okID, ok := event(t, payments.EventPaymentSucceeded, now, piObject(c, "succeeded"))

	// The same delivery ten times at once is stored once, beside a late failure.
	bodies := [][]byte{failed}
	for range 10 {
		bodies = append(bodies, ok)
	}
	rand.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	results := make([]payments.StoreResult, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			r, err := svc.StoreEvent(ctx, b)
			if err != nil {
				t.Errorf("StoreEvent: %v", err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	stored := 0
	for _, r := range results {
		if r == payments.Stored {
			stored++
		}
	}
	if stored != 2 {
		t.Fatalf("stored %d events, want 2 (results %v)", stored, results)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE event_type = $1`, payments.EventReceived); n != 2 {
		t.Fatalf("%d outbox rows, want 2", n)
	}

	// Applied concurrently, repeatedly and in any order: the charge succeeds once.
	ids := []string{okID, failedID, okID, failedID, okID}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids {
		wg.Go(func() {
			if _, err := svc.ApplyEvent(ctx, id); err != nil {
				t.Errorf("ApplyEvent %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	got, err := svc.GetCharge(ctx, req.BookingID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != payments.ChargeSucceeded {
		t.Fatalf("status %s, want succeeded", got.Status)
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_journals WHERE charge_id = $1`, c.ID); n != 1 {
		t.Fatalf("%d journals, want 1", n)
	}
	bal, err := svc.TutorBalance(ctx, req.TutorID, "eur")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10_000 - 1_500); bal != want {
		t.Fatalf("tutor balance %d, want %d", bal, want)
	}
	assertLedgerBalanced(t, pool)

	a, err := svc.ApplyEvent(ctx, okID)
	if err != nil || a.Signal != payments.SignalChargeSucceeded || a.Outcome.BookingID != req.BookingID || a.Outcome.ChargeID != c.ID {
		t.Fatalf("ApplyEvent again = %+v, %v; want the same succeeded signal", a, err)
	}
	if a, err := svc.ApplyEvent(ctx, failedID); err != nil || a.Signal != "" {
		t.Fatalf("a late failure = %+v, %v; want no signal", a, err)
	}
}

func TestFailureThenSuccessOfARetriedPayment(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	c, _ := startCharge(t, svc, 2_000)
	id, body := event(t, payments.EventPaymentFailed, time.Now(), map[string]any{
		"id": c.ProviderID, "amount": c.AmountMinor, "currency": c.Currency, "status": "requires_payment_method",
		"last_payment_error": map[string]any{"message": "Your card was declined."},
	})
	a := storeAndApply(t, svc, body, id)
	if a.Signal != payments.SignalChargeFailed || a.Outcome.Status != payments.ChargeFailed || a.Outcome.Reason != "Your card was declined." {
		t.Fatalf("failure applied = %+v", a)
	}
	id, body = event(t, payments.EventPaymentSucceeded, time.Now(), piObject(c, "succeeded"))
	if a := storeAndApply(t, svc, body, id); a.Signal != payments.SignalChargeSucceeded || a.Outcome.Status != payments.ChargeSucceeded {
		t.Fatalf("success after failure = %+v", a)
	}
}

func TestUnknownOrMismatchedEventsChangeNothing(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	c, req := startCharge(t, svc, 3_000)

	_, body := event(t, "customer.created", time.Now(), map[string]any{"id": "cus_1"})
	if r, err := svc.StoreEvent(ctx, body); err != nil || r != payments.Parked {
		t.Fatalf("StoreEvent = %v, %v; want parked", r, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("a parked event has %d outbox rows", n)
	}
	parked, err := svc.ListParkedEvents(ctx, 10, time.Time{}, uuid.Nil)
	if err != nil || len(parked) != 1 || parked[0].Type != "customer.created" || parked[0].Note == "" {
		t.Fatalf("ListParkedEvents = %+v, %v; want the customer.created event", parked, err)
	}

	wrong := piObject(c, "succeeded")
	wrong["amount"] = 1
	id, body := event(t, payments.EventPaymentSucceeded, time.Now(), wrong)
	if a := storeAndApply(t, svc, body, id); a.Signal != "" {
		t.Fatalf("a PaymentIntent of another amount was applied: %+v", a)
	}
	if got, _ := svc.GetCharge(ctx, req.BookingID); got.Status != payments.ChargePending {
		t.Fatalf("status %s, want pending", got.Status)
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_entries`); n != 0 {
		t.Fatalf("%d ledger entries, want none", n)
	}

	for _, bad := range []string{`{}`, `not json`, `{"id":"evt_1","type":"x"}`, `{"id":"cus_1","type":"x","created":1}`} {
		if _, err := svc.StoreEvent(ctx, []byte(bad)); tutorhub.ErrorCode(err) != tutorhub.EINVALID {
			t.Errorf("StoreEvent(%s) = %v, want invalid", bad, err)
		}
	}
}

func TestTheDatabaseRefusesAnUnbalancedJournal(t *testing.T) {
	t.Parallel()
	_, pool := newService(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var jid uuid.UUID
	if err := tx.QueryRow(ctx, `INSERT INTO ledger_journals (source_key, kind) VALUES ('test', 'refund') RETURNING id`).Scan(&jid); err != nil {
		t.Fatal(err)
	}
	// Balanced in the transaction's middle is not required; at commit it is.
	for _, e := range []struct {
		account string
		amount  int64
	}{{"provider_clearing", 100}, {"platform_fees", -60}} {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (journal_id, account, currency, amount_minor) VALUES ($1, $2, 'eur', $3)`, jid, e.account, e.amount); err != nil {
			t.Fatal(err)
		}
	}
	err = tx.Commit(ctx)
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "23514" {
		t.Fatalf("commit of an unbalanced journal = %v, want a check violation", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM ledger_entries`); n != 0 {
		t.Fatalf("%d entries committed", n)
	}
	if _, err := pool.Exec(ctx, `UPDATE ledger_entries SET amount_minor = 1`); err != nil {
		t.Fatal(err) // no rows: allowed
	}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	svc, pool := newService(t)
	ctx := context.Background()
	succeed := func(c payments.Charge) {
		id, body := event(t, payments.EventPaymentSucceeded, time.Now(), piObject(c, "succeeded"))
		storeAndApply(t, svc, body, id)
	}

	t.Run("a partial refund once, whatever repeats it", func(t *testing.T) {
		c, req := startCharge(t, svc, 10_000)
		if _, err := svc.Refund(ctx, req.BookingID, 4_000, "cancelled late"); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
			t.Fatalf("refund of an unpaid charge = %v, want failed precondition", err)
		}
		succeed(c)
		for range 3 {
			if _, err := svc.Refund(ctx, req.BookingID, 4_000, "cancelled late"); err != nil {
				t.Fatalf("Refund: %v", err)
			}
		}
		// The provider's charge.refunded for the same refund changes nothing more.
		id, body := event(t, payments.EventChargeRefunded, time.Now(), map[string]any{
			"id": "ch_1", "object": "charge", "payment_intent": c.ProviderID, "amount": c.AmountMinor, "amount_refunded": 4_000, "currency": "eur",
		})
		storeAndApply(t, svc, body, id)
		bal, _ := svc.TutorBalance(ctx, req.TutorID, "eur")
		if want := int64(8_500 - (4_000 - 600)); bal != want {
			t.Fatalf("tutor balance %d, want %d", bal, want)
		}
		if n := count(t, pool, `SELECT count(*) FROM ledger_journals WHERE charge_id = $1 AND kind = 'refund'`, c.ID); n != 1 {
			t.Fatalf("%d refund journals, want 1", n)
		}
		got, _ := svc.GetCharge(ctx, req.BookingID)
		if got.Status != payments.ChargeSucceeded {
			t.Fatalf("status %s after a partial refund", got.Status)
		}
	})
	t.Run("an ended booking's payment is refunded in full", func(t *testing.T) {
		c, req := startCharge(t, svc, 3_333)
		succeed(c)
		got, err := svc.RefundOrphan(ctx, req.BookingID, "the booking had ended")
		if err != nil || got.Status != payments.ChargeRefunded {
			t.Fatalf("RefundOrphan = %+v, %v", got, err)
		}
		if _, err := svc.RefundOrphan(ctx, req.BookingID, "the booking had ended"); err != nil {
			t.Fatal(err)
		}
		if bal, _ := svc.TutorBalance(ctx, req.TutorID, "eur"); bal != 0 {
			t.Fatalf("tutor balance %d after a full refund", bal)
		}
		if n := count(t, pool, `SELECT count(*) FROM payment_charges WHERE id = $1 AND auto_refund_reason <> ''`, c.ID); n != 1 {
			t.Fatal("the automatic refund is not recorded on the charge")
		}
	})
	assertLedgerBalanced(t, pool)

	t.Run("reconcile finds no drift, then the drift made by hand", func(t *testing.T) {
		rep, err := svc.Reconcile(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if rep.DriftCount != 0 || rep.Checked < 2 {
			t.Fatalf("report %+v, want no drift over at least 2 charges", rep)
		}
		c, _ := startCharge(t, svc, 700)
		if _, err := pool.Exec(ctx, `UPDATE payment_charges SET status = 'succeeded' WHERE id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
		rep, err = svc.Reconcile(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if rep.DriftCount != 1 || rep.Drift[0].Kind != payments.DriftLedger || rep.Drift[0].ChargeID != c.ID {
			t.Fatalf("report %+v, want the charge without a journal", rep)
		}
		if n := count(t, pool, `SELECT count(*) FROM audit_events WHERE action = 'payments.reconcile_drift'`); n != 1 {
			t.Fatalf("%d audit events of drift, want 1", n)
		}
		list, err := svc.ListReconciliationReports(ctx, 10, time.Time{}, uuid.Nil)
		if err != nil || len(list) != 2 || list[0].DriftCount != 1 {
			t.Fatalf("ListReconciliationReports = %+v, %v", list, err)
		}
	})
}
