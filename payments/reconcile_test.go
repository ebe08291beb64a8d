package payments_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/queries"
)

// CompareProvider reports each way a provider's PaymentIntent can disagree with its charge,
// refunded total included, and skips records that are not tutorhub's or not in the window
// (stripe-mock lists only fixtures, so this comparison is proven here). A record yields one
// drift, the earliest kind in CompareProvider's order.
func TestCompareProvider(t *testing.T) {
	t.Parallel()
	paid := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_paid", Valid: true}, AmountMinor: 1000, Currency: "eur", Status: "succeeded"}
	open := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_open", Valid: true}, AmountMinor: 500, Currency: "eur", Status: "pending"}
	part := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_part", Valid: true}, AmountMinor: 1000, Currency: "eur", Status: "succeeded", RefundedMinor: 300}
	full := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_full", Valid: true}, AmountMinor: 800, Currency: "usd", Status: "refunded", RefundedMinor: 800}
	charges := []queries.ListChargesCreatedBetweenRow{paid, open, part, full}
	for _, tc := range []struct {
		name    string
		record  payments.ProviderRecord
		checked int
		want    string
		detail  []string // what the drift's Detail names
	}{
		{"agreeing records are no drift", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded"}, 1, "", nil},
		{"an unpaid one that is unpaid here is no drift", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "requires_payment_method"}, 1, "", nil},
		{"another amount", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 999, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderAmount, nil},
		{"paid there, not here", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderStatus, nil},
		{"paid here, not there", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "canceled"}, 1, payments.DriftProviderStatus, nil},
		{"another PaymentIntent names the charge", payments.ProviderRecord{ID: "pi_other", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderUnknown, nil},
		{"not tutorhub's", payments.ProviderRecord{ID: "pi_x", Amount: 1, Currency: "usd", Status: "succeeded"}, 0, "", nil},
		{"a charge outside the window", payments.ProviderRecord{ID: "pi_y", ChargeID: uuid.NewString(), Amount: 1, Currency: "usd", Status: "succeeded"}, 0, "", nil},

		{"the same partial refund is no drift", payments.ProviderRecord{ID: "pi_part", ChargeID: part.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded", Refunded: 300}, 1, "", nil},
		{"the same full refund is no drift", payments.ProviderRecord{ID: "pi_full", ChargeID: full.ID.String(), Amount: 800, Currency: "usd", Status: "succeeded", Refunded: 800}, 1, "", nil},
		{"refunded more there", payments.ProviderRecord{ID: "pi_part", ChargeID: part.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded", Refunded: 500}, 1, payments.DriftProviderRefund, []string{"pi_part", "refunded 500 eur", "the charge 300 eur"}},
		{"refunded less there", payments.ProviderRecord{ID: "pi_full", ChargeID: full.ID.String(), Amount: 800, Currency: "usd", Status: "succeeded", Refunded: 200}, 1, payments.DriftProviderRefund, []string{"pi_full", "refunded 200 usd", "the charge 800 usd"}},
		{"refunded there, never here", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded", Refunded: 1000}, 1, payments.DriftProviderRefund, []string{"refunded 1000 eur", "the charge 0 eur"}},
		{"refunded here, no charge there", payments.ProviderRecord{ID: "pi_part", ChargeID: part.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderRefund, []string{"refunded 0 eur", "the charge 300 eur"}},
		{"no charge there, nothing refunded here is no drift", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "requires_payment_method"}, 1, "", nil},
		{"a refund on a charge outside the window", payments.ProviderRecord{ID: "pi_z", ChargeID: uuid.NewString(), Amount: 1000, Currency: "eur", Status: "succeeded", Refunded: 1000}, 0, "", nil},
		{"another amount wins over another refund", payments.ProviderRecord{ID: "pi_part", ChargeID: part.ID.String(), Amount: 900, Currency: "eur", Status: "succeeded", Refunded: 900}, 1, payments.DriftProviderAmount, nil},
		{"another status wins over another refund", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "succeeded", Refunded: 500}, 1, payments.DriftProviderStatus, nil},
		{"another PaymentIntent wins over another refund", payments.ProviderRecord{ID: "pi_other", ChargeID: part.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded", Refunded: 1000}, 1, payments.DriftProviderUnknown, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checked, drift := payments.CompareProvider(charges, []payments.ProviderRecord{tc.record})
			if checked != tc.checked {
				t.Errorf("checked %d, want %d", checked, tc.checked)
			}
			switch {
			case tc.want == "" && len(drift) != 0:
				t.Errorf("drift %+v, want none", drift)
			case tc.want != "" && (len(drift) != 1 || drift[0].Kind != tc.want):
				t.Errorf("drift %+v, want one %s", drift, tc.want)
			}
			for _, s := range tc.detail {
				if len(drift) == 1 && !strings.Contains(drift[0].Detail, s) {
					t.Errorf("detail %q does not name %q", drift[0].Detail, s)
				}
			}
		})
	}
}
