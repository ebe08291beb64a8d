package accounts

import (
	"context"
	"fmt"

	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/kratos"
)

// DisableUser disables a user: the identity can no longer sign in, every session ends, and
// every access token issued to the user so far is refused from the next request on. The
// tokens are revoked first, so a failure part-way leaves the user signed out rather than
// half-disabled with working tokens; calling it again finishes the job. details go to the
// audit log.
func DisableUser(ctx context.Context, k *kratos.Client, revocations *accesstoken.Revocations, db DBTX, userID string, details map[string]string) error {
	if err := revocations.RevokeUser(ctx, userID, ""); err != nil {
		return fmt.Errorf("disable user %s: %w", userID, err)
	}
	if err := k.DisableIdentity(ctx, userID); err != nil {
		return fmt.Errorf("disable user %s: %w", userID, err)
	}
	if err := k.RevokeAllSessions(ctx, userID); err != nil {
		return fmt.Errorf("disable user %s: %w", userID, err)
	}
	return RecordAudit(ctx, db, AuditEvent{Action: AuditUserDisabled, Subject: userID, Details: details})
}
