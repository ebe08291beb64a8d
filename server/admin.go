package server

import (
	"context"
	"fmt"
	"github.com/tutorhub/tutorhub/payments"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/outbox"
)

// AdminServer implements tutorhub.v1.AdminService: operator tools, admin role only (see
// AccessRules).
type AdminServer struct {
	accounts *accounts.Service
	parked   *outbox.Parked
	tokens   *pagetoken.Codec
	// payments lists reconciliation reports and parked provider events (reads only).
	payments *payments.Service
}

// NewAdminServer returns the AdminService handler.
func NewAdminServer(a *accounts.Service, parked *outbox.Parked, tokens *pagetoken.Codec) *AdminServer {
	return &AdminServer{accounts: a, parked: parked, tokens: tokens}
}

// ListAuditEvents returns one page of the audit log, newest first.
func (s *AdminServer) ListAuditEvents(ctx context.Context, req *tutorhubv1.ListAuditEventsRequest) (*tutorhubv1.ListAuditEventsResponse, error) {
	f := accounts.AuditFilter{ActorID: nullUUID(req.GetActorId()), SubjectID: nullUUID(req.GetSubjectId()), Action: req.GetAction()}
	var start, end int64
	if req.StartTime != nil {
		t := req.GetStartTime().AsTime()
		f.Start, start = &t, t.UnixNano()
	}
	if req.EndTime != nil {
		t := req.GetEndTime().AsTime()
		f.End, end = &t, t.UnixNano()
	}
	scope := fmt.Sprintf("audit|actor=%s|subject=%s|action=%s|start=%v|end=%v", req.GetActorId(), req.GetSubjectId(), req.GetAction(),
		orZeroTime(start), orZeroTime(end))
	ks, err := newKeyset[accounts.AuditPosition](s.tokens, scope, req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	f.Before, f.Limit = ks.After, ks.Limit()
	rows, err := s.accounts.ListAuditEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(r accounts.AuditRecord) accounts.AuditPosition {
		return accounts.AuditPosition{Time: r.OccurredAt, ID: r.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListAuditEventsResponse{NextPageToken: next}
	for _, r := range rows {
		res.Events = append(res.Events, auditEventProto(r))
	}
	return res, nil
}

// parkedPosition is the keyset of a parked event in the list's newest-first order.
type parkedPosition struct {
	Seq int64 `json:"s"`
}

// ListParkedEvents returns one page of the events the outbox relay parked, newest first.
func (s *AdminServer) ListParkedEvents(ctx context.Context, req *tutorhubv1.ListParkedEventsRequest) (*tutorhubv1.ListParkedEventsResponse, error) {
	ks, err := newKeyset[parkedPosition](s.tokens, "parked|type="+req.GetType(), req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	f := outbox.ParkedFilter{Type: req.GetType(), Limit: ks.Limit()}
	if ks.After != nil {
		f.BeforeSeq = ks.After.Seq
	}
	events, err := s.parked.ListParkedEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	events, next, err := page(ks, events, func(e outbox.ParkedEvent) parkedPosition { return parkedPosition{Seq: e.Seq} })
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListParkedEventsResponse{NextPageToken: next}
	for _, e := range events {
		res.Events = append(res.Events, parkedEventProto(e))
	}
	return res, nil
}

// RetryParkedEvent puts a parked event back in the outbox relay's queue, due now.
func (s *AdminServer) RetryParkedEvent(ctx context.Context, req *tutorhubv1.RetryParkedEventRequest) (*tutorhubv1.RetryParkedEventResponse, error) {
	var actor string
	if c := CallerFrom(ctx); c != nil {
		actor = c.UserID
	}
	id, err := uuid.Parse(req.GetId())
	if err != nil {
		return nil, tutorhub.Invalid("id", "string.uuid", "value must be a valid UUID")
	}
	e, err := s.parked.RetryParkedEvent(auditContext(ctx), actor, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.RetryParkedEventResponse{Event: parkedEventProto(e)}, nil
}

func parkedEventProto(e outbox.ParkedEvent) *tutorhubv1.ParkedEvent {
	p := &tutorhubv1.ParkedEvent{
		Id: e.ID.String(), Type: e.Type, AggregateType: e.AggregateType, AggregateId: e.AggregateID.String(),
		Reason: e.Reason, Attempts: e.Attempts, LastError: e.LastError, CreateTime: timestamppb.New(e.CreatedAt),
		PayloadSize: e.PayloadSize, Payload: e.Payload,
	}
	if !e.ParkedAt.IsZero() {
		p.ParkTime = timestamppb.New(e.ParkedAt)
	}
	return p
}

// orZeroTime keeps the page-token scope of an unset bound as it always was (the zero time's
// UnixNano).
func orZeroTime(n int64) int64 {
	if n == 0 {
		return time.Time{}.UnixNano()
	}
	return n
}

func auditEventProto(r accounts.AuditRecord) *tutorhubv1.AuditEvent {
	e := &tutorhubv1.AuditEvent{
		Id: r.ID.String(), OccurTime: timestamppb.New(r.OccurredAt), Action: r.Action,
		Ip: r.IP, UserAgent: r.UserAgent, RequestId: r.RequestID, Details: r.Details,
	}
	if r.ActorID.Valid {
		e.ActorId = r.ActorID.UUID.String()
	}
	if r.SubjectID.Valid {
		e.SubjectId = r.SubjectID.UUID.String()
	}
	return e
}

func nullUUID(s string) uuid.NullUUID {
	id, err := uuid.Parse(s)
	return uuid.NullUUID{UUID: id, Valid: err == nil}
}
