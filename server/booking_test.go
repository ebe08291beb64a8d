package server_test

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

// bookingWorld is an API with a student, another student, a tutor (with a published profile
// open around the clock in UTC), another tutor and an admin.
type bookingWorld struct {
	api                                 *testAPI
	student, otherStudent, tutor, other *testUser
	admin                               *testUser
	tutorID, otherTutorID               string
	slot                                atomic.Int64
}

func newBookingWorld(t *testing.T, opts ...apiOption) *bookingWorld {
	t.Helper()
	api := newTestAPI(t, opts...)
	w := &bookingWorld{api: api, student: api.signUp(t), otherStudent: api.signUp(t), tutor: api.signUp(t), other: api.signUp(t), admin: api.admin(t)}
	w.tutorID = w.publishTutor(t, w.tutor)
	w.otherTutorID = w.publishTutor(t, w.other)
	return w
}

func (w *bookingWorld) publishTutor(t *testing.T, u *testUser) string {
	t.Helper()
	var id uuid.UUID
	if err := w.api.DB.QueryRow(context.Background(), `INSERT INTO tutors (user_id, headline, bio, hourly_rate_minor, currency, time_zone, availability, published)
		SELECT $1, 'Maths', 'Bio', 4000, 'EUR', 'UTC', jsonb_agg(jsonb_build_object('day', d, 'start', 0, 'end', 1440)), true
		FROM generate_series(1, 7) AS d RETURNING id`, uuid.MustParse(u.ID)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func (w *bookingWorld) client(u *testUser) tutorhubv1connect.BookingServiceClient {
	if u == nil {
		return tutorhubv1connect.NewBookingServiceClient(http.DefaultClient, w.api.URL)
	}
	return tutorhubv1connect.NewBookingServiceClient(http.DefaultClient, w.api.URL, u.opt())
}

// nextSlot is a fresh hour, days ahead, that no other call of the test uses.
func (w *bookingWorld) nextSlot() *timestamppb.Timestamp {
	base := time.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
	return timestamppb.New(base.Add(time.Duration(w.slot.Add(1)) * time.Hour))
}

// request books a fresh slot of the tutor as the student.
func (w *bookingWorld) request(t *testing.T) *tutorhubv1.Booking {
	t.Helper()
	res, err := w.client(w.student).RequestBooking(context.Background(), &tutorhubv1.RequestBookingRequest{
		TutorId: w.tutorID, StartTime: w.nextSlot(), DurationMinutes: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetBooking()
}

// awaitingPayment is a fresh booking of the student's, accepted by the tutor.
func (w *bookingWorld) awaitingPayment(t *testing.T) *tutorhubv1.Booking {
	t.Helper()
	res, err := w.client(w.tutor).AcceptBooking(context.Background(), &tutorhubv1.AcceptBookingRequest{BookingId: w.request(t).GetId()})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetBooking()
}

// completed is a fresh booking of the student's, moved to completed as the workflow would.
func (w *bookingWorld) completed(t *testing.T) *tutorhubv1.Booking {
	t.Helper()
	b := w.request(t)
	if _, err := w.api.DB.Exec(context.Background(), `UPDATE bookings SET state = 'completed' WHERE id = $1`, uuid.MustParse(b.GetId())); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBookingServiceAuthorizationMatrix calls every BookingService RPC as each kind of caller
// through the real authentication and checks the answer: a booking is its student's, its
// tutor's and admins' only; deciding is the tutor's; reviewing is the student's; reviews are
// public.
func TestBookingServiceAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := newBookingWorld(t, withTestCard(t))
	ctx := context.Background()
	callers := []struct {
		name string
		u    *testUser
	}{{"anonymous", nil}, {"student", w.student}, {"other student", w.otherStudent}, {"tutor", w.tutor}, {"other tutor", w.other}, {"admin", w.admin}}
	codes := func(anon, student, otherStudent, tutor, otherTutor, admin connect.Code) map[string]connect.Code {
		return map[string]connect.Code{"anonymous": anon, "student": student, "other student": otherStudent, "tutor": tutor, "other tutor": otherTutor, "admin": admin}
	}
	const ok = codeOK
	unauth, denied, notFound := connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeNotFound
	rows := []struct {
		rpc  string
		want map[string]connect.Code
		call func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error
	}{
		// Anyone signed in may book a tutor, except the tutor itself.
		{"RequestBooking", codes(unauth, ok, ok, connect.CodeInvalidArgument, ok, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.RequestBooking(ctx, &tutorhubv1.RequestBookingRequest{TutorId: w.tutorID, StartTime: w.nextSlot(), DurationMinutes: 60})
			return err
		}},
		{"AcceptBooking", codes(unauth, denied, notFound, ok, notFound, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.AcceptBooking(ctx, &tutorhubv1.AcceptBookingRequest{BookingId: w.request(t).GetId()})
			return err
		}},
		{"DeclineBooking", codes(unauth, denied, notFound, ok, notFound, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.DeclineBooking(ctx, &tutorhubv1.DeclineBookingRequest{BookingId: w.request(t).GetId(), Reason: "busy"})
			return err
		}},
		{"CancelBooking", codes(unauth, ok, notFound, ok, notFound, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.CancelBooking(ctx, &tutorhubv1.CancelBookingRequest{BookingId: w.request(t).GetId()})
			return err
		}},
		// Paying is the student's alone; the tutor and admins see the booking but may not pay it.
		{"PayBookingWithTestCard", codes(unauth, ok, notFound, denied, notFound, denied), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.PayBookingWithTestCard(ctx, &tutorhubv1.PayBookingWithTestCardRequest{BookingId: w.awaitingPayment(t).GetId()})
			return err
		}},
		{"GetBooking", codes(unauth, ok, notFound, ok, notFound, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.GetBooking(ctx, &tutorhubv1.GetBookingRequest{BookingId: w.request(t).GetId()})
			return err
		}},
		{"ListMyBookings", codes(unauth, ok, ok, ok, ok, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.ListMyBookings(ctx, &tutorhubv1.ListMyBookingsRequest{Role: tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT})
			return err
		}},
		{"CreateReview", codes(unauth, ok, notFound, denied, notFound, denied), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.CreateReview(ctx, &tutorhubv1.CreateReviewRequest{BookingId: w.completed(t).GetId(), Rating: 5, Text: "Great"})
			return err
		}},
		{"ListTutorReviews", codes(ok, ok, ok, ok, ok, ok), func(t *testing.T, c tutorhubv1connect.BookingServiceClient) error {
			_, err := c.ListTutorReviews(ctx, &tutorhubv1.ListTutorReviewsRequest{TutorId: w.tutorID})
			return err
		}},
	}
	for _, row := range rows {
		for _, caller := range callers {
			t.Run(row.rpc+"/"+caller.name, func(t *testing.T) {
				err := row.call(t, w.client(caller.u))
				if got, want := codeOf(err), row.want[caller.name]; err == nil && want != ok || err != nil && got != want {
					t.Fatalf("%s as %s: %v, want %v", row.rpc, caller.name, err, want)
				}
			})
		}
	}

	// Lists show each side its own bookings only.
	b := w.request(t)
	listed := func(u *testUser, role tutorhubv1.BookingRole) bool {
		t.Helper()
		res, err := w.client(u).ListMyBookings(ctx, &tutorhubv1.ListMyBookingsRequest{Role: role, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(res.GetBookings(), func(x *tutorhubv1.Booking) bool { return x.GetId() == b.GetId() })
	}
	for _, tc := range []struct {
		name string
		u    *testUser
		role tutorhubv1.BookingRole
		want bool
	}{
		{"student as student", w.student, tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, true},
		{"tutor as tutor", w.tutor, tutorhubv1.BookingRole_BOOKING_ROLE_TUTOR, true},
		{"tutor as student", w.tutor, tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, false},
		{"other student", w.otherStudent, tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, false},
		{"other tutor as tutor", w.other, tutorhubv1.BookingRole_BOOKING_ROLE_TUTOR, false},
	} {
		if got := listed(tc.u, tc.role); got != tc.want {
			t.Errorf("%s lists the booking: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Nobody else changed the bookings the refused calls named: only the allowed calls moved
	// bookings out of requested.
	var changedByOthers int
	if err := w.api.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action IN ('booking.accepted','booking.declined','booking.cancelled')
		AND actor_id NOT IN ($1::text::uuid, $2::text::uuid, $3::text::uuid)`, w.student.ID, w.tutor.ID, w.admin.ID).Scan(&changedByOthers); err != nil {
		t.Fatal(err)
	}
	if changedByOthers != 0 {
		t.Fatalf("%d booking changes by callers who may not make them", changedByOthers)
	}
}

// TestBookingServiceFlowAndValidation: request -> list (pages) -> accept -> cancel, with the
// price, the tutor's zone and field violations for bad input.
func TestBookingServiceFlowAndValidation(t *testing.T) {
	t.Parallel()
	w := newBookingWorld(t)
	ctx := context.Background()
	c := w.client(w.student)
	first := w.request(t)
	if first.GetPriceMinor() != 4000 || first.GetCurrency() != "EUR" || first.GetTimeZone() != "UTC" ||
		first.GetState() != tutorhubv1.BookingState_BOOKING_STATE_REQUESTED {
		t.Fatalf("booking %v", first)
	}
	// The same slot again is taken.
	_, err := w.client(w.otherStudent).RequestBooking(ctx, &tutorhubv1.RequestBookingRequest{TutorId: w.tutorID, StartTime: first.GetStartTime(), DurationMinutes: 30})
	wantCode(t, err, connect.CodeAborted)
	for name, req := range map[string]*tutorhubv1.RequestBookingRequest{
		"bad tutor id":          {TutorId: "x", StartTime: w.nextSlot(), DurationMinutes: 60},
		"no start":              {TutorId: w.tutorID, DurationMinutes: 60},
		"too long":              {TutorId: w.tutorID, StartTime: w.nextSlot(), DurationMinutes: 600},
		"not a quarter hour":    {TutorId: w.tutorID, StartTime: timestamppb.New(w.nextSlot().AsTime().Add(7 * time.Minute)), DurationMinutes: 60},
		"in the past":           {TutorId: w.tutorID, StartTime: timestamppb.New(time.Now().Add(-time.Hour).Truncate(time.Hour)), DurationMinutes: 60},
		"length not 15 minutes": {TutorId: w.tutorID, StartTime: w.nextSlot(), DurationMinutes: 40},
	} {
		_, err := c.RequestBooking(ctx, req)
		if codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	_, err = w.client(w.tutor).DeclineBooking(ctx, &tutorhubv1.DeclineBookingRequest{BookingId: first.GetId(), Reason: "bad\u202ereason"})
	wantCode(t, err, connect.CodeInvalidArgument)
	for range 2 {
		w.request(t)
	}
	seen := map[string]bool{}
	token := ""
	for range 5 {
		res, err := c.ListMyBookings(ctx, &tutorhubv1.ListMyBookingsRequest{Role: tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range res.GetBookings() {
			if seen[b.GetId()] {
				t.Fatalf("booking %s listed twice", b.GetId())
			}
			seen[b.GetId()] = true
		}
		if token = res.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("listed %d bookings over the pages, want 3", len(seen))
	}
	// A page token of one list does not page another's.
	res, err := c.ListMyBookings(ctx, &tutorhubv1.ListMyBookingsRequest{Role: tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, PageSize: 1})
	if err != nil || res.GetNextPageToken() == "" {
		t.Fatalf("first page: %v", err)
	}
	_, err = w.client(w.otherStudent).ListMyBookings(ctx, &tutorhubv1.ListMyBookingsRequest{Role: tutorhubv1.BookingRole_BOOKING_ROLE_STUDENT, PageToken: res.GetNextPageToken()})
	wantCode(t, err, connect.CodeInvalidArgument)

	acc, err := w.client(w.tutor).AcceptBooking(ctx, &tutorhubv1.AcceptBookingRequest{BookingId: first.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if acc.GetBooking().GetState() != tutorhubv1.BookingState_BOOKING_STATE_AWAITING_PAYMENT || acc.GetBooking().GetHoldUntil() == nil {
		t.Fatalf("accepted %v", acc.GetBooking())
	}
	// The client secret is the student's only (none here: no payment provider in this API).
	got, err := w.client(w.tutor).GetBooking(ctx, &tutorhubv1.GetBookingRequest{BookingId: first.GetId()})
	if err != nil || got.GetBooking().GetPaymentClientSecret() != "" {
		t.Fatalf("tutor's view: %v %v", err, got.GetBooking())
	}
	cancelled, err := c.CancelBooking(ctx, &tutorhubv1.CancelBookingRequest{BookingId: first.GetId(), Reason: "plans changed"})
	if err != nil {
		t.Fatal(err)
	}
	if b := cancelled.GetBooking(); b.GetState() != tutorhubv1.BookingState_BOOKING_STATE_CANCELLED || b.GetCancelledBy() != "student" || b.GetRefundMinor() != 0 {
		t.Fatalf("cancelled %v", b)
	}
	// REST works the same way.
	status, _, body := do(t, http.MethodGet, w.api.URL+"/api/v1/tutors/"+w.tutorID+"/reviews", "", nil)
	if status != http.StatusOK {
		t.Fatalf("REST reviews: %d %s", status, body)
	}
}

// TestGetTutorShowsANewReviewAtOnce reads a tutor (filling the cache, which carries the
// rating with the profile), reviews two completed lessons and reads again: the count and the
// average are the new ones, not the cached copy's.
func TestGetTutorShowsANewReviewAtOnce(t *testing.T) {
	t.Parallel()
	w := newBookingWorld(t)
	ctx := context.Background()
	tc := tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, w.api.URL)
	rating := func() (int64, float64) {
		t.Helper()
		res, err := tc.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: w.tutorID})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetTutor().GetReviewCount(), res.GetTutor().GetAverageRating()
	}
	if n, avg := rating(); n != 0 || avg != 0 {
		t.Fatalf("before any review: %d reviews averaging %v", n, avg)
	}
	for _, stars := range []int32{4, 5} {
		if _, err := w.client(w.student).CreateReview(ctx, &tutorhubv1.CreateReviewRequest{BookingId: w.completed(t).GetId(), Rating: stars, Text: "Clear"}); err != nil {
			t.Fatal(err)
		}
		rating() // fills the cache again after each review
	}
	if n, avg := rating(); n != 2 || avg != 4.5 {
		t.Fatalf("after reviews of 4 and 5: %d reviews averaging %v, want 2 averaging 4.5", n, avg)
	}
	// Another tutor's rating is untouched.
	res, err := tc.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: w.otherTutorID})
	if err != nil || res.GetTutor().GetReviewCount() != 0 {
		t.Fatalf("other tutor: %v, %v", res.GetTutor().GetReviewCount(), err)
	}
}
