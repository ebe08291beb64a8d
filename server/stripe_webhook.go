package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/payments"
)

// StripeWebhookPath receives the payment provider's webhook events.
const StripeWebhookPath = "/webhooks/stripe"

// StripeWebhook configures StripeWebhookPath.
type StripeWebhook struct {
	// Payments stores the events.
	Payments *payments.Service
	// Secrets are the endpoint's signing secrets (several while one is rolled); none leaves
	// the endpoint off.
	Secrets []string
	// Tolerance is how far a signature's timestamp may be from now.
	Tolerance time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// stripeWebhookHandler verifies a webhook's Stripe-Signature over its raw body (bounded),
// stores the event with its outbox row in one transaction and answers 200 at once; the
// PaymentWebhook workflow applies it. A repeated event answers 200 and changes nothing; a bad
// signature or a stale timestamp answers 400 with nothing stored; a failure to store answers
// 503, so the provider delivers it again.
func stripeWebhookHandler(o StripeWebhook, log *slog.Logger) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONErrorStatus(w, http.StatusMethodNotAllowed, connect.CodeUnimplemented, "use POST")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, payments.MaxEventBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeJSONErrorStatus(w, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted,
					fmt.Sprintf("an event is at most %d bytes", payments.MaxEventBytes))
				return
			}
			writeJSONError(w, connect.CodeInvalidArgument, "the body could not be read")
			return
		}
		res, err := o.Payments.ReceiveWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"),
			payments.WebhookKeys{Secrets: o.Secrets, Tolerance: o.Tolerance}, o.Now())
		if payments.SignatureRefused(err) {
			log.WarnContext(r.Context(), "stripe webhook refused", "reason", err.Error())
			writeJSONError(w, connect.CodeInvalidArgument, err.Error())
			return
		}
		if err != nil {
			if tutorhub.ErrorCode(err) == tutorhub.EINVALID {
				writeJSONError(w, connect.CodeInvalidArgument, "the body is not a Stripe event")
				return
			}
			log.ErrorContext(r.Context(), "stripe webhook: storing the event failed", "error", err)
			writeJSONError(w, connect.CodeUnavailable, "the event could not be stored; deliver it again")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"result":%q}`+"\n", res)
	})
}
