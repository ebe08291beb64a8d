package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/bookings"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/payments"
)

// BookingServer implements tutorhub.v1.BookingService over the bookings package.
type BookingServer struct {
	bookings *bookings.Service
	tokens   *pagetoken.Codec
	// testCard takes test payments (PayBookingWithTestCard); nil when test mode is off.
	testCard *payments.TestCard
}

// NewBookingServer returns the bookings' handler; testCard, when not nil, takes test
// payments (development and tests only).
func NewBookingServer(b *bookings.Service, tokens *pagetoken.Codec, testCard *payments.TestCard) *BookingServer {
	return &BookingServer{bookings: b, tokens: tokens, testCard: testCard}
}

// errTestPaymentsOff answers PayBookingWithTestCard on a server without test mode.
func errTestPaymentsOff() error {
	return tutorhub.Errorf(tutorhub.EPRECONDITION,
		"test payments are off on this server (TUTORHUB_PAYMENTS_TEST_MODE): pay with the payment form and the booking's payment_client_secret")
}

// PayBookingWithTestCard pays a booking of the caller's, as its student, with the provider's
// test card; the booking is confirmed once the payment's event has been applied.
func (s *BookingServer) PayBookingWithTestCard(ctx context.Context, req *tutorhubv1.PayBookingWithTestCardRequest) (*tutorhubv1.PayBookingWithTestCardResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	if s.testCard == nil {
		return nil, errTestPaymentsOff()
	}
	id := parseBookingID(req.GetBookingId())
	b, err := s.bookings.Payable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.testCard.Pay(ctx, b.ChargeRequest()); err != nil {
		return nil, err
	}
	if b, err = s.bookings.Get(ctx, a, id); err != nil {
		return nil, err
	}
	return &tutorhubv1.PayBookingWithTestCardResponse{Booking: s.bookingProto(a, b)}, nil
}

// bookingProto is b as the actor sees it: the student of a booking awaiting payment learns
// whether this server takes test payments.
func (s *BookingServer) bookingProto(a bookings.Actor, b bookings.Booking) *tutorhubv1.Booking {
	p := bookingProto(b)
	p.TestPayments = s.testCard != nil && a.UserID == b.StudentID && b.State == bookings.StateAwaitingPayment
	return p
}

// RequestBooking records the caller's request for a lesson.
func (s *BookingServer) RequestBooking(ctx context.Context, req *tutorhubv1.RequestBookingRequest) (*tutorhubv1.RequestBookingResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.bookings.RequestBooking(auditContext(ctx), a, bookings.Request{
		TutorID: parseBookingID(req.GetTutorId()), Start: req.GetStartTime().AsTime(),
		Duration: time.Duration(req.GetDurationMinutes()) * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.RequestBookingResponse{Booking: bookingProto(b)}, nil
}

// AcceptBooking accepts a requested booking of the caller's tutor profile.
func (s *BookingServer) AcceptBooking(ctx context.Context, req *tutorhubv1.AcceptBookingRequest) (*tutorhubv1.AcceptBookingResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.bookings.Accept(auditContext(ctx), a, parseBookingID(req.GetBookingId()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.AcceptBookingResponse{Booking: bookingProto(b)}, nil
}

// DeclineBooking declines a requested booking of the caller's tutor profile.
func (s *BookingServer) DeclineBooking(ctx context.Context, req *tutorhubv1.DeclineBookingRequest) (*tutorhubv1.DeclineBookingResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	b, err := s.bookings.Decline(auditContext(ctx), a, parseBookingID(req.GetBookingId()), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.DeclineBookingResponse{Booking: bookingProto(b)}, nil
}

// CancelBooking cancels a booking the caller takes part in.
func (s *BookingServer) CancelBooking(ctx context.Context, req *tutorhubv1.CancelBookingRequest) (*tutorhubv1.CancelBookingResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	b, err := s.bookings.Cancel(auditContext(ctx), a, parseBookingID(req.GetBookingId()), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CancelBookingResponse{Booking: bookingProto(b)}, nil
}

// GetBooking returns a booking the caller takes part in.
func (s *BookingServer) GetBooking(ctx context.Context, req *tutorhubv1.GetBookingRequest) (*tutorhubv1.GetBookingResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.bookings.Get(ctx, a, parseBookingID(req.GetBookingId()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetBookingResponse{Booking: s.bookingProto(a, b)}, nil
}

// ListMyBookings returns a page of the caller's bookings in one role.
func (s *BookingServer) ListMyBookings(ctx context.Context, req *tutorhubv1.ListMyBookingsRequest) (*tutorhubv1.ListMyBookingsResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	as := bookings.PartyStudent
	if req.GetRole() == tutorhubv1.BookingRole_BOOKING_ROLE_TUTOR {
		as = bookings.PartyTutor
	}
	scope := "bookings|user=" + a.UserID.String() + "|as=" + string(as)
	ks, err := newKeyset[bookings.Position](s.tokens, scope, req.GetPageToken(), pageSize(req.GetPageSize(), 20))
	if err != nil {
		return nil, err
	}
	rows, err := s.bookings.List(ctx, bookings.ListFilter{UserID: a.UserID, As: as, After: ks.After, Limit: ks.Limit()})
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(b bookings.Booking) bookings.Position {
		return bookings.Position{Time: b.StartsAt, ID: b.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListMyBookingsResponse{NextPageToken: next}
	for _, b := range rows {
		res.Bookings = append(res.Bookings, s.bookingProto(a, b))
	}
	return res, nil
}

// CreateReview records the caller's review of a completed booking.
func (s *BookingServer) CreateReview(ctx context.Context, req *tutorhubv1.CreateReviewRequest) (*tutorhubv1.CreateReviewResponse, error) {
	a, err := bookingActor(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.bookings.CreateReview(auditContext(ctx), a, parseBookingID(req.GetBookingId()), req.GetRating(), req.GetText())
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateReviewResponse{Review: reviewProto(r)}, nil
}

// ListTutorReviews returns a page of a tutor's reviews and its rating.
func (s *BookingServer) ListTutorReviews(ctx context.Context, req *tutorhubv1.ListTutorReviewsRequest) (*tutorhubv1.ListTutorReviewsResponse, error) {
	tutorID := parseBookingID(req.GetTutorId())
	ks, err := newKeyset[bookings.Position](s.tokens, "reviews|tutor="+tutorID.String(), req.GetPageToken(), pageSize(req.GetPageSize(), 20))
	if err != nil {
		return nil, err
	}
	rows, err := s.bookings.ListTutorReviews(ctx, tutorID, ks.After, ks.Limit())
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(r bookings.Review) bookings.Position {
		return bookings.Position{Time: r.CreatedAt, ID: r.BookingID}
	})
	if err != nil {
		return nil, err
	}
	rating, err := s.bookings.TutorRating(ctx, tutorID)
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListTutorReviewsResponse{NextPageToken: next, ReviewCount: rating.Count, AverageRating: rating.Average}
	for _, r := range rows {
		res.Reviews = append(res.Reviews, reviewProto(r))
	}
	return res, nil
}

// bookingActor is the signed-in caller as the bookings package sees it.
func bookingActor(ctx context.Context) (bookings.Actor, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return bookings.Actor{}, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in first")
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return bookings.Actor{}, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in first")
	}
	return bookings.Actor{UserID: id, Admin: c.HasRole(RoleAdmin)}, nil
}

func checkReason(reason string) error {
	v := &tutorhub.Violations{}
	tutorhub.CheckPlainText(v, "reason", reason, 500, true)
	return v.Err("invalid reason")
}

var bookingStateProto = map[bookings.State]tutorhubv1.BookingState{
	bookings.StateRequested:       tutorhubv1.BookingState_BOOKING_STATE_REQUESTED,
	bookings.StateAwaitingPayment: tutorhubv1.BookingState_BOOKING_STATE_AWAITING_PAYMENT,
	bookings.StateConfirmed:       tutorhubv1.BookingState_BOOKING_STATE_CONFIRMED,
	bookings.StateCompleted:       tutorhubv1.BookingState_BOOKING_STATE_COMPLETED,
	bookings.StateDeclined:        tutorhubv1.BookingState_BOOKING_STATE_DECLINED,
	bookings.StateCancelled:       tutorhubv1.BookingState_BOOKING_STATE_CANCELLED,
	bookings.StateExpired:         tutorhubv1.BookingState_BOOKING_STATE_EXPIRED,
}

var chargeStatusProto = map[payments.ChargeStatus]tutorhubv1.ChargeStatus{
	payments.ChargePending:   tutorhubv1.ChargeStatus_CHARGE_STATUS_PENDING,
	payments.ChargeSucceeded: tutorhubv1.ChargeStatus_CHARGE_STATUS_SUCCEEDED,
	payments.ChargeFailed:    tutorhubv1.ChargeStatus_CHARGE_STATUS_FAILED,
	payments.ChargeCanceled:  tutorhubv1.ChargeStatus_CHARGE_STATUS_CANCELED,
	payments.ChargeRefunded:  tutorhubv1.ChargeStatus_CHARGE_STATUS_REFUNDED,
}

func bookingProto(b bookings.Booking) *tutorhubv1.Booking {
	return &tutorhubv1.Booking{
		Id: b.ID.String(), TutorId: b.TutorID.String(), TutorUserId: b.TutorUserID.String(), StudentId: b.StudentID.String(),
		State: bookingStateProto[b.State], StartTime: timestamppb.New(b.StartsAt), EndTime: timestamppb.New(b.EndsAt),
		TimeZone: b.TimeZone, PriceMinor: b.PriceMinor, Currency: b.Currency, ChargeStatus: chargeStatusProto[b.ChargeStatus],
		PaymentClientSecret: b.ClientSecret, RefundMinor: b.RefundMinor, RefundedMinor: b.RefundedMinor, CancelledBy: string(b.CancelledBy), Reason: b.Reason,
		DecideBy: optionalTime(b.DecideBy), HoldUntil: optionalTime(b.HoldUntil), Version: b.Version,
		CreateTime: timestamppb.New(b.CreatedAt), UpdateTime: timestamppb.New(b.UpdatedAt),
	}
}

func reviewProto(r bookings.Review) *tutorhubv1.Review {
	return &tutorhubv1.Review{
		BookingId: r.BookingID.String(), TutorId: r.TutorID.String(), StudentName: r.StudentName,
		Rating: r.Rating, Text: r.Body, CreateTime: timestamppb.New(r.CreatedAt),
	}
}

// parseBookingID reads an id protovalidate already checked is a UUID.
func parseBookingID(s string) uuid.UUID {
	id, _ := uuid.Parse(s)
	return id
}
