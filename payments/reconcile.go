package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v85"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tutorhub/tutorhub/queries"
)

// Bounds of one Reconcile run: the charges and provider records it reads, and the drift it
// keeps in the report (all of it is counted).
const (
	maxReconcileCharges  = 10_000
	maxReconcileProvider = 10_000
	maxReportedDrift     = 100
)

// Kinds of drift.
const (
	DriftLedger          = "ledger_mismatch"     // a charge's journals disagree with its state
	DriftUnbalanced      = "ledger_unbalanced"   // a currency's entries do not sum to zero
	DriftProviderAmount  = "provider_amount"     // the PaymentIntent's amount or currency differ
	DriftProviderStatus  = "provider_status"     // the PaymentIntent's status disagrees with the charge's
	DriftProviderUnknown = "provider_unknown_id" // the PaymentIntent names a charge with another PaymentIntent
	DriftProviderRefund  = "provider_refund"     // the provider refunded another total than the charge's
)

// AuditReconcileDrift is the audit action of a Reconcile run that found drift.
const AuditReconcileDrift = "payments.reconcile_drift"

// Drift is one disagreement Reconcile found.
type Drift struct {
	Kind     string    `json:"kind"`
	ChargeID uuid.UUID `json:"charge_id,omitempty"`
	Detail   string    `json:"detail"`
}

// Report is what one Reconcile run found.
type Report struct {
	ID                     uuid.UUID
	WindowStart, WindowEnd time.Time
	// Checked counts the charges and provider records compared.
	Checked int
	// DriftCount counts every drift; Drift keeps the first maxReportedDrift.
	DriftCount int
	Drift      []Drift
	CreatedAt  time.Time
}

// reconcileCharge is a charge as Reconcile reads it, with the provider_clearing total of its
// journals.
type reconcileCharge = queries.ListChargesCreatedBetweenRow

// expectedClearing is what a charge leaves at the provider: what was paid, less refunds.
func expectedClearing(c reconcileCharge) int64 {
	switch ChargeStatus(c.Status) {
	case ChargeSucceeded, ChargeRefunded:
		return c.AmountMinor - c.RefundedMinor
	}
	return 0
}

// ProviderRecord is the part of a provider's PaymentIntent Reconcile compares.
type ProviderRecord struct {
	ID       string
	ChargeID string // its tutorhub charge id metadata, "" when not tutorhub's
	Amount   int64
	Currency string
	Status   string
	// Refunded is what the provider refunded of its latest charge (0 when it has none).
	Refunded int64
}

// CompareLedger finds the charges whose journals disagree with their state.
func CompareLedger(charges []reconcileCharge) []Drift {
	var out []Drift
	for _, c := range charges {
		if want := expectedClearing(c); c.ClearingMinor != want {
			out = append(out, Drift{Kind: DriftLedger, ChargeID: c.ID,
				Detail: fmt.Sprintf("charge %s (%s, refunded %d) leaves %d %s at the provider; its journals say %d", c.ID, c.Status, c.RefundedMinor, want, c.Currency, c.ClearingMinor)})
		}
	}
	return out
}

// CompareProvider finds the provider records of tutorhub's charges that disagree with them.
// Records of charges outside the window, and records that are not tutorhub's, are skipped.
// A record yields at most one drift, the first that applies of: another PaymentIntent
// (provider_unknown_id), another amount or currency (provider_amount), another paid status
// (provider_status), another refunded total (provider_refund). Each later comparison means
// something only when the earlier ones agree.
func CompareProvider(charges []reconcileCharge, records []ProviderRecord) (checked int, out []Drift) {
	byID := make(map[uuid.UUID]reconcileCharge, len(charges))
	for _, c := range charges {
		byID[c.ID] = c
	}
	for _, r := range records {
		id, err := uuid.Parse(r.ChargeID)
		if err != nil {
			continue
		}
		c, ok := byID[id]
		if !ok {
			continue
		}
		checked++
		switch {
		case c.ProviderID.Valid && c.ProviderID.String != r.ID:
			out = append(out, Drift{Kind: DriftProviderUnknown, ChargeID: c.ID,
				Detail: fmt.Sprintf("PaymentIntent %s names charge %s, whose PaymentIntent is %s", r.ID, c.ID, c.ProviderID.String)})
		case r.Amount != c.AmountMinor || r.Currency != c.Currency:
			out = append(out, Drift{Kind: DriftProviderAmount, ChargeID: c.ID,
				Detail: fmt.Sprintf("PaymentIntent %s is %d %s; the charge %d %s", r.ID, r.Amount, r.Currency, c.AmountMinor, c.Currency)})
		case providerPaid(r.Status) != (ChargeStatus(c.Status) == ChargeSucceeded || ChargeStatus(c.Status) == ChargeRefunded):
			// A payment still in flight (its webhook on the way) shows here until it lands;
			// the next run no longer reports it.
			out = append(out, Drift{Kind: DriftProviderStatus, ChargeID: c.ID,
				Detail: fmt.Sprintf("PaymentIntent %s is %s; the charge is %s", r.ID, r.Status, c.Status)})
		case r.Refunded != c.RefundedMinor:
			// Likewise a refund in flight (created at the provider, its result or its
			// charge.refunded webhook not recorded yet) shows here until it lands. A refund
			// that failed after the ledger recorded it stays: the ledger never lowers a
			// refunded total, so it needs a person.
			out = append(out, Drift{Kind: DriftProviderRefund, ChargeID: c.ID,
				Detail: fmt.Sprintf("PaymentIntent %s refunded %d %s; the charge %d %s", r.ID, r.Refunded, r.Currency, c.RefundedMinor, c.Currency)})
		}
	}
	return checked, out
}

func providerPaid(status string) bool { return status == string(stripe.PaymentIntentStatusSucceeded) }

// ReconcileOptions are Reconcile's metric instruments.
type reconcileMetrics struct {
	drift metric.Int64Gauge
	runs  metric.Int64Counter
}

func newReconcileMetrics(m metric.Meter) reconcileMetrics {
	if m == nil {
		m = noop.NewMeterProvider().Meter("")
	}
	drift, _ := m.Int64Gauge("tutorhub.payments.reconcile.drift", metric.WithDescription("Drift the last Reconcile run found (0 when the provider, the charges and the ledger agree)."))
	runs, _ := m.Int64Counter("tutorhub.payments.reconcile.runs", metric.WithDescription("Reconcile runs."))
	return reconcileMetrics{drift: drift, runs: runs}
}

// Reconcile compares the charges created in [from, to) with their ledger journals, every
// currency's entries with zero, and the provider's PaymentIntents of the window with the
// charges they name (amount, currency, paid status, refunded total), then records the
// report. Drift is exported as a metric and recorded in the audit log.
func (s *Service) Reconcile(ctx context.Context, from, to time.Time) (Report, error) {
	charges, err := s.q.ListChargesCreatedBetween(ctx, queries.ListChargesCreatedBetweenParams{FromTime: from, ToTime: to, PageLimit: maxReconcileCharges})
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: read charges: %w", err)
	}
	rep := Report{WindowStart: from, WindowEnd: to, Checked: len(charges)}
	drift := CompareLedger(charges)
	totals, err := s.q.LedgerTotals(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: read ledger: %w", err)
	}
	sums := map[string]int64{}
	for _, t := range totals {
		sums[t.Currency] += t.Balance
	}
	for cur, sum := range sums {
		if sum != 0 {
			drift = append(drift, Drift{Kind: DriftUnbalanced, Detail: fmt.Sprintf("the ledger's %s entries sum to %d", cur, sum)})
		}
	}
	records, err := s.providerRecords(ctx, from, to)
	if err != nil {
		return Report{}, err
	}
	checked, pd := CompareProvider(charges, records)
	rep.Checked += checked
	drift = append(drift, pd...)
	rep.DriftCount = len(drift)
	rep.Drift = drift[:min(len(drift), maxReportedDrift)]
	if rep.Drift == nil {
		rep.Drift = []Drift{}
	}
	raw, err := json.Marshal(rep.Drift)
	if err != nil {
		return Report{}, err
	}
	err = s.inTx(ctx, func(q *queries.Queries) error {
		row, err := q.InsertReconciliationReport(ctx, queries.InsertReconciliationReportParams{
			WindowStart: from, WindowEnd: to, Checked: int32(rep.Checked), DriftCount: int32(rep.DriftCount), Drift: string(raw),
		})
		if err != nil {
			return err
		}
		rep.ID, rep.CreatedAt = row.ID, row.CreatedAt
		if rep.DriftCount == 0 {
			return nil
		}
		details, err := json.Marshal(map[string]string{
			"report_id": rep.ID.String(), "drift_count": fmt.Sprint(rep.DriftCount),
			"window_start": from.UTC().Format(time.RFC3339), "window_end": to.UTC().Format(time.RFC3339),
		})
		if err != nil {
			return err
		}
		return q.InsertAuditEvent(ctx, queries.InsertAuditEventParams{Action: AuditReconcileDrift, Details: string(details)})
	})
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: record report: %w", err)
	}
	s.metrics.runs.Add(ctx, 1)
	s.metrics.drift.Record(ctx, int64(rep.DriftCount))
	if rep.DriftCount > 0 {
		s.log.WarnContext(ctx, "reconcile found drift", "report_id", rep.ID.String(), "drift_count", rep.DriftCount)
	}
	return rep, nil
}

// providerRecords lists the provider's PaymentIntents created in [from, to), each with what
// its latest charge refunded.
func (s *Service) providerRecords(ctx context.Context, from, to time.Time) ([]ProviderRecord, error) {
	params := &stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{
		GreaterThanOrEqual: from.Unix(), LesserThan: to.Unix(),
	}}
	params.Limit = stripe.Int64(100)
	params.AddExpand("data.latest_charge")
	var out []ProviderRecord
	for pi, err := range s.stripe.V1PaymentIntents.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, providerError("list PaymentIntents", err)
		}
		r := ProviderRecord{
			ID: pi.ID, ChargeID: pi.Metadata[MetadataChargeID], Amount: pi.Amount, Currency: string(pi.Currency), Status: string(pi.Status),
		}
		if ch := pi.LatestCharge; ch != nil {
			// An unexpanded charge is its id alone and would read as nothing refunded,
			// reporting every refunded charge as drift.
			if ch.Object == "" {
				return nil, fmt.Errorf("list PaymentIntents: PaymentIntent %s: latest charge %s not expanded", pi.ID, ch.ID)
			}
			r.Refunded = ch.AmountRefunded
		}
		out = append(out, r)
		if len(out) == maxReconcileProvider {
			break
		}
	}
	return out, nil
}

// ListReconciliationReports returns one page of reports, newest first, after the report
// (before) when set.
func (s *Service) ListReconciliationReports(ctx context.Context, limit int32, beforeAt time.Time, beforeID uuid.UUID) ([]Report, error) {
	p := queries.ListReconciliationReportsParams{PageLimit: limit}
	if beforeID != uuid.Nil {
		p.BeforeAt = pgtypeTime(beforeAt)
		p.BeforeID = uuid.NullUUID{UUID: beforeID, Valid: true}
	}
	rows, err := s.q.ListReconciliationReports(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list reconciliation reports: %w", err)
	}
	out := make([]Report, 0, len(rows))
	for _, r := range rows {
		rep := Report{ID: r.ID, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Checked: int(r.Checked), DriftCount: int(r.DriftCount), CreatedAt: r.CreatedAt}
		if err := json.Unmarshal([]byte(r.Drift), &rep.Drift); err != nil {
			return nil, fmt.Errorf("report %s: %w", r.ID, err)
		}
		out = append(out, rep)
	}
	return out, nil
}
