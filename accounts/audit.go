package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

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
	AuditProfileUpdated    = "user.profile_updated"
	AuditUserDisabled      = "user.disabled"
	// Tutor profile writes are audited under their outbox event types (tutors.EventCreated,
	// "tutor.created", and so on), the owner as subject.
)

// AuditEvent is one entry for the audit log. Details hold facts, never a password, token or
// code.
type AuditEvent struct {
	Action  string
	Actor   string // user id, or "" when unknown
	Subject string // user id, or "" when unknown
	Details map[string]string
	// IP, UserAgent and RequestID describe the request; when empty they are taken from the
	// context's RequestInfo.
	IP, UserAgent, RequestID string
}

// RequestInfo is what the audit log records of the request behind an action.
type RequestInfo struct {
	IP, UserAgent, RequestID string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying the request's description for audit events recorded
// under it.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RecordAudit appends e to the audit log through db (a pool, or the transaction of the action
// it records, so that both commit or neither does).
func RecordAudit(ctx context.Context, db queries.DBTX, e AuditEvent) error {
	if ri, ok := ctx.Value(requestInfoKey{}).(RequestInfo); ok {
		e.IP = cmpOr(e.IP, ri.IP)
		e.UserAgent = cmpOr(e.UserAgent, ri.UserAgent)
		e.RequestID = cmpOr(e.RequestID, ri.RequestID)
	}
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
		Ip:        Truncate(e.IP, 64),
		UserAgent: Truncate(e.UserAgent, 512),
		RequestID: Truncate(e.RequestID, 128),
		Details:   string(raw),
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// RecordAudit appends e to the audit log on its own.
func (s *Service) RecordAudit(ctx context.Context, e AuditEvent) error {
	return RecordAudit(ctx, s.db, e)
}

// AuditRecord is one stored audit event.
type AuditRecord struct {
	ID                       uuid.UUID
	OccurredAt               time.Time
	Action                   string
	ActorID, SubjectID       uuid.NullUUID
	IP, UserAgent, RequestID string
	Details                  map[string]string
}

// AuditPosition is the keyset of an audit event in the log's newest-first order.
type AuditPosition struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// AuditFilter selects audit events; zero fields do not filter.
type AuditFilter struct {
	ActorID, SubjectID uuid.NullUUID
	Action             string
	// Start is inclusive, End exclusive; nil is unbounded.
	Start, End *time.Time
	// Before continues the list after this position; nil starts from the newest.
	Before *AuditPosition
	Limit  int32
}

// ListAuditEvents returns up to f.Limit events matching f, newest first.
func (s *Service) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	params := queries.ListAuditEventsParams{ActorID: f.ActorID, SubjectID: f.SubjectID, PageLimit: f.Limit}
	if f.Action != "" {
		params.Action = pgtype.Text{String: f.Action, Valid: true}
	}
	if f.Start != nil {
		params.StartTime = pgtype.Timestamptz{Time: *f.Start, Valid: true}
	}
	if f.End != nil {
		params.EndTime = pgtype.Timestamptz{Time: *f.End, Valid: true}
	}
	if f.Before != nil {
		params.BeforeTime = pgtype.Timestamptz{Time: f.Before.Time, Valid: true}
		params.BeforeID = uuid.NullUUID{UUID: f.Before.ID, Valid: true}
	}
	rows, err := s.q.ListAuditEvents(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out := make([]AuditRecord, 0, len(rows))
	for _, r := range rows {
		rec := AuditRecord{
			ID: r.ID, OccurredAt: r.OccurredAt, Action: r.Action, ActorID: r.ActorID, SubjectID: r.SubjectID,
			IP: r.Ip, UserAgent: r.UserAgent, RequestID: r.RequestID,
		}
		_ = json.Unmarshal(r.Details, &rec.Details)
		out = append(out, rec)
	}
	return out, nil
}

func nullUUID(s string) uuid.NullUUID {
	id, err := uuid.Parse(s)
	return uuid.NullUUID{UUID: id, Valid: err == nil}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Truncate cuts s to at most n bytes on a rune boundary, so a column stays valid UTF-8.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
