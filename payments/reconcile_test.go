package payments_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/queries"
)

// CompareProvider reports each way a provider's PaymentIntent can disagree with its charge,
// and skips records that are not tutorhub's or not in the window (stripe-mock lists only
// fixtures, so this comparison is proven here).
func TestCompareProvider(t *testing.T) {
	t.Parallel()
	paid := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_paid", Valid: true}, AmountMinor: 1000, Currency: "eur", Status: "succeeded"}
	open := queries.ListChargesCreatedBetweenRow{ID: uuid.New(), ProviderID: pgtype.Text{String: "pi_open", Valid: true}, AmountMinor: 500, Currency: "eur", Status: "pending"}
	charges := []queries.ListChargesCreatedBetweenRow{paid, open}
	for _, tc := range []struct {
		name    string
		record  payments.ProviderRecord
		checked int
		want    string
	}{
		{"agreeing records are no drift", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded"}, 1, ""},
		{"an unpaid one that is unpaid here is no drift", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "requires_payment_method"}, 1, ""},
		{"another amount", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 999, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderAmount},
		{"paid there, not here", payments.ProviderRecord{ID: "pi_open", ChargeID: open.ID.String(), Amount: 500, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderStatus},
		{"paid here, not there", payments.ProviderRecord{ID: "pi_paid", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "canceled"}, 1, payments.DriftProviderStatus},
		{"another PaymentIntent names the charge", payments.ProviderRecord{ID: "pi_other", ChargeID: paid.ID.String(), Amount: 1000, Currency: "eur", Status: "succeeded"}, 1, payments.DriftProviderUnknown},
		{"not tutorhub's", payments.ProviderRecord{ID: "pi_x", Amount: 1, Currency: "usd", Status: "succeeded"}, 0, ""},
		{"a charge outside the window", payments.ProviderRecord{ID: "pi_y", ChargeID: uuid.NewString(), Amount: 1, Currency: "usd", Status: "succeeded"}, 0, ""},
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
		})
	}
}
