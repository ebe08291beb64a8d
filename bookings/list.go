package bookings

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// Position is a keyset position in a list of bookings (by start, then id) or reviews (by
// creation time, then booking id).
type Position struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// ListFilter selects a page of one user's bookings, latest lesson first.
type ListFilter struct {
	UserID uuid.UUID
	// As is PartyStudent (bookings the user made) or PartyTutor (bookings of the user's
	// tutor profile).
	As    Party
	After *Position
	Limit int32
}

// List returns a page of the user's bookings in one role.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Booking, error) {
	var before pgtype.Timestamptz
	var beforeID uuid.NullUUID
	if f.After != nil {
		before = pgtype.Timestamptz{Time: f.After.Time, Valid: true}
		beforeID = uuid.NullUUID{UUID: f.After.ID, Valid: true}
	}
	out := make([]Booking, 0, max(f.Limit, 0))
	switch f.As {
	case PartyStudent:
		rows, err := s.q.ListBookingsOfStudent(ctx, queries.ListBookingsOfStudentParams{UserID: f.UserID, BeforeStart: before, BeforeID: beforeID, PageLimit: f.Limit})
		if err != nil {
			return nil, fmt.Errorf("list bookings of %s: %w", f.UserID, err)
		}
		for _, r := range rows {
			out = append(out, bookingOf(r.Booking, r.RefundedMinor))
		}
	case PartyTutor:
		rows, err := s.q.ListBookingsOfTutor(ctx, queries.ListBookingsOfTutorParams{UserID: f.UserID, BeforeStart: before, BeforeID: beforeID, PageLimit: f.Limit})
		if err != nil {
			return nil, fmt.Errorf("list bookings of %s: %w", f.UserID, err)
		}
		for _, r := range rows {
			out = append(out, bookingOf(r.Booking, r.RefundedMinor))
		}
	default:
		return nil, tutorhub.Invalid("role", "role.defined", "list as student or as tutor")
	}
	return out, nil
}

// Review limits.
const (
	MinRating     = 1
	MaxRating     = 5
	MaxReviewText = 2000
)

// Review is a student's review of a completed booking.
type Review struct {
	BookingID   uuid.UUID
	TutorID     uuid.UUID
	StudentID   uuid.UUID
	StudentName string
	Rating      int32
	Body        string
	CreatedAt   time.Time
}

// Rating is a tutor's review count and average rating (0 without reviews).
type Rating struct {
	Count   int64
	Average float64
}

// ValidateReview checks a review's rating and text (plain text, at most MaxReviewText
// characters).
func ValidateReview(rating int32, body string) error {
	v := &tutorhub.Violations{}
	if rating < MinRating || rating > MaxRating {
		v.Add("rating", "rating.range", "a rating is from 1 to 5")
	}
	tutorhub.CheckPlainText(v, "text", body, MaxReviewText, true)
	return v.Err("invalid review")
}

// CreateReview records the actor's review of a completed booking the actor made as a
// student; a booking is reviewed once (a second review is EEXISTS).
func (s *Service) CreateReview(ctx context.Context, a Actor, bookingID uuid.UUID, rating int32, body string) (Review, error) {
	if err := ValidateReview(rating, body); err != nil {
		return Review{}, err
	}
	got, err := s.q.GetBooking(ctx, bookingID)
	row := got.Booking
	if err != nil || (row.StudentID != a.UserID && row.TutorUserID != a.UserID && !a.Admin) {
		if err == nil || errors.Is(err, pgx.ErrNoRows) {
			return Review{}, NotFound(bookingID)
		}
		return Review{}, fmt.Errorf("read booking %s: %w", bookingID, err)
	}
	if row.StudentID != a.UserID {
		return Review{}, tutorhub.Errorf(tutorhub.EFORBIDDEN, "only the booking's student may review it")
	}
	if State(row.State) != StateCompleted {
		return Review{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "only a completed lesson can be reviewed")
	}
	r, err := s.q.InsertReview(ctx, queries.InsertReviewParams{
		BookingID: bookingID, TutorID: row.TutorID, StudentID: a.UserID, Rating: int16(rating), Body: body,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Review{}, tutorhub.Errorf(tutorhub.EEXISTS, "this booking is already reviewed")
	}
	if err != nil {
		return Review{}, fmt.Errorf("insert review of %s: %w", bookingID, err)
	}
	if s.o.Reviewed != nil {
		s.o.Reviewed(ctx, r.TutorID)
	}
	return Review{BookingID: r.BookingID, TutorID: r.TutorID, StudentID: r.StudentID, Rating: int32(r.Rating), Body: r.Body, CreatedAt: r.CreatedAt}, nil
}

// ListTutorReviews returns a page of a tutor's reviews, newest first.
func (s *Service) ListTutorReviews(ctx context.Context, tutorID uuid.UUID, after *Position, limit int32) ([]Review, error) {
	p := queries.ListTutorReviewsParams{TutorID: tutorID, PageLimit: limit}
	if after != nil {
		p.BeforeTime = pgtype.Timestamptz{Time: after.Time, Valid: true}
		p.BeforeID = uuid.NullUUID{UUID: after.ID, Valid: true}
	}
	rows, err := s.q.ListTutorReviews(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list reviews of %s: %w", tutorID, err)
	}
	out := make([]Review, 0, len(rows))
	for _, r := range rows {
		out = append(out, Review{BookingID: r.BookingID, TutorID: r.TutorID, StudentID: r.StudentID, StudentName: r.StudentName,
			Rating: int32(r.Rating), Body: r.Body, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// TutorRating is a tutor's rating, computed from its reviews on every read.
func (s *Service) TutorRating(ctx context.Context, tutorID uuid.UUID) (Rating, error) {
	r, err := s.q.GetTutorRating(ctx, tutorID)
	if err != nil {
		return Rating{}, fmt.Errorf("rating of %s: %w", tutorID, err)
	}
	return Rating{Count: r.ReviewCount, Average: r.AverageRating}, nil
}
