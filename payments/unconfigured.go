package payments

import (
	"context"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
)

// Unconfigured is the Charger of a server with no payment provider: every call fails with
// EPRECONDITION and nothing is charged. It stands in until a provider is wired.
type Unconfigured struct{}

var _ Charger = Unconfigured{}

func errUnconfigured() error {
	return tutorhub.Errorf(tutorhub.EPRECONDITION, "payments are not configured on this server")
}

// StartCharge fails: no provider.
func (Unconfigured) StartCharge(context.Context, ChargeRequest) (Charge, error) {
	return Charge{}, errUnconfigured()
}

// CancelCharge fails: no provider.
func (Unconfigured) CancelCharge(context.Context, uuid.UUID) (Charge, error) {
	return Charge{}, errUnconfigured()
}

// Refund fails: no provider.
func (Unconfigured) Refund(context.Context, uuid.UUID, int64, string) (Charge, error) {
	return Charge{}, errUnconfigured()
}
