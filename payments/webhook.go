package payments

import (
	"context"
	"errors"
	"time"
)

// WebhookKeys are what a webhook's signature is checked with: the endpoint's signing secrets
// (several while one is rolled) and how far its timestamp may be from now.
type WebhookKeys struct {
	Secrets   []string
	Tolerance time.Duration
}

// ReceiveWebhook is the one path a provider event takes into tutorhub: it verifies the body's
// Stripe-Signature header with keys at now, then stores the event once with the outbox row
// that applies it (StoreEvent). A refused signature is returned as it is (SignatureRefused
// says so) with nothing stored.
func (s *Service) ReceiveWebhook(ctx context.Context, body []byte, signature string, keys WebhookKeys, now time.Time) (StoreResult, error) {
	if err := VerifySignature(body, signature, keys.Secrets, keys.Tolerance, now); err != nil {
		return "", err
	}
	return s.StoreEvent(ctx, body)
}

// SignatureRefused reports whether err is VerifySignature's refusal of a signature.
func SignatureRefused(err error) bool {
	return errors.Is(err, ErrSignatureMalformed) || errors.Is(err, ErrSignatureTimestamp) || errors.Is(err, ErrSignatureMismatch)
}
