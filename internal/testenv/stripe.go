package testenv

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// StripeURL is the stripe-mock tests charge through (TUTORHUB_TEST_STRIPE_URL, default the
// local stack's).
func StripeURL() string { return envOr("TUTORHUB_TEST_STRIPE_URL", "http://127.0.0.1:12111") }

// StripeKey is a test secret key; stripe-mock accepts any sk_test_ key.
const StripeKey = "sk_test_tutorhubtests"

// Stripe returns the URL of the shared stripe-mock, starting it with deploy/local/up.sh when
// it does not answer (see needService: a missing stripe-mock fails the test under CI=true).
func Stripe(t testing.TB) string {
	t.Helper()
	u := StripeURL()
	needService(t, "stripemock", func(ctx context.Context) error { return stripeReady(ctx, u) })
	return u
}

func stripeReady(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/v1/balance", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(StripeKey, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("stripe-mock at %s answered %s", u, res.Status)
	}
	return nil
}
