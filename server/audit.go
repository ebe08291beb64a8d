package server

import (
	"context"

	"connectrpc.com/connect"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/logging"
)

// Audit actions, as the accounts package records them.
const (
	AuditRegister          = accounts.AuditRegister
	AuditLogin             = accounts.AuditLogin
	AuditLoginFailed       = accounts.AuditLoginFailed
	AuditLockout           = accounts.AuditLockout
	AuditPasswordChanged   = accounts.AuditPasswordChanged
	AuditPasswordRecovered = accounts.AuditPasswordRecovered
	AuditLogoutAll         = accounts.AuditLogoutAll
	AuditRoleGranted       = accounts.AuditRoleGranted
	AuditProfileUpdated    = accounts.AuditProfileUpdated
	AuditUserDisabled      = accounts.AuditUserDisabled
)

// LockoutPolicy is the brute-force policy of password sign-in (accounts.LockoutPolicy).
type LockoutPolicy = accounts.LockoutPolicy

// AuditEvent is one entry for the audit log (accounts.AuditEvent).
type AuditEvent = accounts.AuditEvent

// auditContext returns ctx carrying the request's client address, user agent and request id,
// which the accounts package records with every audit event written under it.
func auditContext(ctx context.Context) context.Context {
	ri := accounts.RequestInfo{RequestID: logging.RequestID(ctx)}
	if ip := clientIP(ctx); ip.IsValid() {
		ri.IP = ip.String()
	}
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		ri.UserAgent = ci.RequestHeader().Get("User-Agent")
	}
	return accounts.WithRequestInfo(ctx, ri)
}

// recordAudit appends e to the audit log through db (a pool or the transaction of the action
// it records), with the request's client address, user agent and request id.
func recordAudit(ctx context.Context, db accounts.DBTX, e AuditEvent) error {
	return accounts.RecordAudit(auditContext(ctx), db, e)
}
