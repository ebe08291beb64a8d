package server

import (
	"context"
	"encoding/json"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/queries"
)

// Audit actions: what the audit log records.
const (
	AuditRegister          = "auth.register"
	AuditLogin             = "auth.login"
	AuditLoginFailed       = "auth.login_failed"
	AuditLockout           = "auth.lockout"
	AuditPasswordChanged   = "auth.password_changed"
	AuditPasswordRecovered = "auth.password_recovered"
	AuditLogoutAll         = "auth.logout_all"
	AuditRoleGranted       = "user.role_granted"
	AuditUserDisabled      = "user.disabled"
	AuditProfileUpdated    = "user.profile_updated"
)

// AuditEvent is one entry for the audit log. Details hold facts, never a password, token or
// code.
type AuditEvent struct {
	Action  string
	Actor   string // user id, or "" when unknown
	Subject string // user id, or "" when unknown
	Details map[string]string
	// IP, UserAgent and RequestID are filled from the request by recordAudit.
	IP, UserAgent, RequestID string
}

// RecordAudit appends e to the audit log through db (a pool or the transaction of the
// action it records).
func RecordAudit(ctx context.Context, db queries.DBTX, e AuditEvent) error {
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit details: %w", err)
	}
	err = queries.New(db).InsertAuditEvent(ctx, queries.InsertAuditEventParams{
		Action:    e.Action,
		ActorID:   nullUUID(e.Actor),
		SubjectID: nullUUID(e.Subject),
		Ip:        truncate(e.IP, 64),
		UserAgent: truncate(e.UserAgent, 512),
		RequestID: truncate(e.RequestID, 128),
		Details:   string(raw),
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// recordAudit is RecordAudit with the request's client address, user agent and request id.
func recordAudit(ctx context.Context, db queries.DBTX, e AuditEvent) error {
	if ip := clientIP(ctx); ip.IsValid() {
		e.IP = ip.String()
	}
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		e.UserAgent = ci.RequestHeader().Get("User-Agent")
	}
	e.RequestID = logging.RequestID(ctx)
	return RecordAudit(ctx, db, e)
}

func nullUUID(s string) uuid.NullUUID {
	id, err := uuid.Parse(s)
	return uuid.NullUUID{UUID: id, Valid: err == nil}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the column stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
