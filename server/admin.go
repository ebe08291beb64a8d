package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/queries"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AdminServer implements tutorhub.v1.AdminService: operator tools, admin role only (see
// AccessRules).
type AdminServer struct {
	q      *queries.Queries
	tokens *pagetoken.Codec
}

// NewAdminServer returns the AdminService handler over db.
func NewAdminServer(db queries.DBTX, tokens *pagetoken.Codec) *AdminServer {
	return &AdminServer{q: queries.New(db), tokens: tokens}
}

// DisableUser disables a user: the identity can no longer sign in, every session ends, and
// every access token issued to the user so far is refused from the next request on. The
// tokens are revoked first, so a failure part-way leaves the user signed out rather than
// half-disabled with working tokens; calling it again finishes the job. details go to the
// audit log.
func DisableUser(ctx context.Context, k *kratos.Client, revocations *accesstoken.Revocations, db queries.DBTX, userID string, details map[string]string) error {
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

// auditPosition is the keyset of the last event on a page.
type auditPosition struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// ListAuditEvents returns one page of the audit log, newest first.
func (s *AdminServer) ListAuditEvents(ctx context.Context, req *tutorhubv1.ListAuditEventsRequest) (*tutorhubv1.ListAuditEventsResponse, error) {
	size := pageSize(req.GetPageSize(), defaultPageSize)
	params := queries.ListAuditEventsParams{
		ActorID:   nullUUID(req.GetActorId()),
		SubjectID: nullUUID(req.GetSubjectId()),
	}
	if req.GetAction() != "" {
		params.Action = pgtype.Text{String: req.GetAction(), Valid: true}
	}
	if req.StartTime != nil {
		params.StartTime = pgtype.Timestamptz{Time: req.GetStartTime().AsTime(), Valid: true}
	}
	if req.EndTime != nil {
		params.EndTime = pgtype.Timestamptz{Time: req.GetEndTime().AsTime(), Valid: true}
	}
	scope := fmt.Sprintf("audit|actor=%s|subject=%s|action=%s|start=%v|end=%v", req.GetActorId(), req.GetSubjectId(), req.GetAction(),
		params.StartTime.Time.UnixNano(), params.EndTime.Time.UnixNano())
	ks, err := newKeyset[auditPosition](s.tokens, scope, req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	params.PageLimit = ks.Limit()
	if ks.After != nil {
		params.BeforeTime = pgtype.Timestamptz{Time: ks.After.Time, Valid: true}
		params.BeforeID = uuid.NullUUID{UUID: ks.After.ID, Valid: true}
	}
	rows, err := s.q.ListAuditEvents(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	rows, next, err := page(ks, rows, func(r queries.AuditEvent) auditPosition { return auditPosition{Time: r.OccurredAt, ID: r.ID} })
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListAuditEventsResponse{NextPageToken: next}
	for _, r := range rows {
		res.Events = append(res.Events, auditEventProto(r))
	}
	return res, nil
}

func auditEventProto(r queries.AuditEvent) *tutorhubv1.AuditEvent {
	e := &tutorhubv1.AuditEvent{
		Id: r.ID.String(), OccurTime: timestamppb.New(r.OccurredAt), Action: r.Action,
		Ip: r.Ip, UserAgent: r.UserAgent, RequestId: r.RequestID,
	}
	if r.ActorID.Valid {
		e.ActorId = r.ActorID.UUID.String()
	}
	if r.SubjectID.Valid {
		e.SubjectId = r.SubjectID.UUID.String()
	}
	_ = json.Unmarshal(r.Details, &e.Details)
	return e
}
