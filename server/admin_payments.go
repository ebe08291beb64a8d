package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/payments"
)

// timeIDPosition is the keyset of a row in a (time, id) newest-first order.
type timeIDPosition struct {
	At int64     `json:"t"`
	ID uuid.UUID `json:"i"`
}

func (p *timeIDPosition) bound() (time.Time, uuid.UUID) {
	if p == nil {
		return time.Time{}, uuid.Nil
	}
	return time.Unix(0, p.At), p.ID
}

// ListReconciliationReports returns one page of payment reconciliation reports, newest first.
func (s *AdminServer) ListReconciliationReports(ctx context.Context, req *tutorhubv1.ListReconciliationReportsRequest) (*tutorhubv1.ListReconciliationReportsResponse, error) {
	ks, err := newKeyset[timeIDPosition](s.tokens, "reconciliation-reports", req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	at, id := ks.After.bound()
	reports, err := s.payments.ListReconciliationReports(ctx, ks.Limit(), at, id)
	if err != nil {
		return nil, err
	}
	reports, next, err := page(ks, reports, func(r payments.Report) timeIDPosition {
		return timeIDPosition{At: r.CreatedAt.UnixNano(), ID: r.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListReconciliationReportsResponse{NextPageToken: next}
	for _, r := range reports {
		p := &tutorhubv1.ReconciliationReport{
			Id: r.ID.String(), WindowStartTime: timestamppb.New(r.WindowStart), WindowEndTime: timestamppb.New(r.WindowEnd),
			Checked: int32(r.Checked), DriftCount: int32(r.DriftCount), CreateTime: timestamppb.New(r.CreatedAt),
		}
		for _, d := range r.Drift {
			pd := &tutorhubv1.ReconciliationDrift{Kind: d.Kind, Detail: d.Detail}
			if d.ChargeID != uuid.Nil {
				pd.ChargeId = d.ChargeID.String()
			}
			p.Drift = append(p.Drift, pd)
		}
		res.Reports = append(res.Reports, p)
	}
	return res, nil
}

// ListParkedPaymentEvents returns one page of the stored provider events tutorhub does not
// apply, newest first.
func (s *AdminServer) ListParkedPaymentEvents(ctx context.Context, req *tutorhubv1.ListParkedPaymentEventsRequest) (*tutorhubv1.ListParkedPaymentEventsResponse, error) {
	ks, err := newKeyset[timeIDPosition](s.tokens, "parked-payment-events", req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	at, id := ks.After.bound()
	events, err := s.payments.ListParkedEvents(ctx, ks.Limit(), at, id)
	if err != nil {
		return nil, err
	}
	events, next, err := page(ks, events, func(e payments.ParkedEvent) timeIDPosition {
		return timeIDPosition{At: e.ReceivedAt.UnixNano(), ID: e.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListParkedPaymentEventsResponse{NextPageToken: next}
	for _, e := range events {
		res.Events = append(res.Events, &tutorhubv1.ParkedPaymentEvent{
			Id: e.ID.String(), ProviderEventId: e.ProviderEventID, Type: e.Type, Livemode: e.Livemode,
			CreateTime: timestamppb.New(e.CreatedAt), ReceiveTime: timestamppb.New(e.ReceivedAt), Note: e.Note, PayloadSize: e.PayloadSize,
		})
	}
	return res, nil
}
