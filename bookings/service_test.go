package bookings_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/tutors"
)

// fixture is a published tutor (Europe/Berlin, every day 08:00-20:00, 60.00 EUR an hour)
// and a clock fixed on a Monday morning.
type fixture struct {
	db      *pgxpool.Pool
	svc     *bookings.Service
	now     time.Time
	tutorID uuid.UUID
	tutor   bookings.Actor
}

func newUser(t testing.TB, db *pgxpool.Pool, roles string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := db.Exec(context.Background(), `INSERT INTO users (id, email, display_name, roles) VALUES ($1, $2, 'User '||$2, $3)`,
		id, id.String()+"@bookings.test", roles); err != nil {
		t.Fatal(err)
	}
	return id
}

// newPublishedTutor stores a published tutor with the given weekly slots and returns its id
// and owner.
func newPublishedTutor(t testing.TB, db *pgxpool.Pool, slots []tutors.Slot) (uuid.UUID, uuid.UUID) {
	t.Helper()
	owner := newUser(t, db, "{student,tutor}")
	avail, _ := json.Marshal(slots)
	var id uuid.UUID
	if err := db.QueryRow(context.Background(), `INSERT INTO tutors (user_id, headline, bio, hourly_rate_minor, currency, time_zone, availability, published)
		VALUES ($1, 'Maths', 'Bio', 6000, 'EUR', 'Europe/Berlin', $2::jsonb, true) RETURNING id`, owner, string(avail)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id, owner
}

func everyDay(from, to int32) []tutors.Slot {
	var s []tutors.Slot
	for d := int32(1); d <= 7; d++ {
		s = append(s, tutors.Slot{Day: d, Start: from, End: to})
	}
	return s
}

func newFixture(t testing.TB, o bookings.Options) *fixture {
	t.Helper()
	db := testenv.Postgres(t)
	f := &fixture{db: db, now: time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)}
	o.Now = func() time.Time { return f.now }
	f.svc = bookings.New(db, o)
	var owner uuid.UUID
	f.tutorID, owner = newPublishedTutor(t, db, everyDay(8*60, 20*60))
	f.tutor = bookings.Actor{UserID: owner}
	return f
}

func (f *fixture) student(t testing.TB) bookings.Actor {
	return bookings.Actor{UserID: newUser(t, f.db, "{student}")}
}

// lesson is a slot on Wednesday 2026-06-03 at hour:00 Berlin (UTC+2).
func lesson(hour int) time.Time { return time.Date(2026, 6, 3, hour-2, 0, 0, 0, time.UTC) }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tutorhub.ErrorCode(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

// TestFiftyStudentsRaceForOneSlot: 50 students request the same slot at once; the exclusion
// constraint lets exactly one hold it and refuses the others with ECONFLICT.
func TestFiftyStudentsRaceForOneSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, bookings.Options{})
	const n = 50
	students := make([]bookings.Actor, n)
	for i := range students {
		students[i] = f.student(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	startLine := make(chan struct{})
	for i := range students {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			// Overlapping, not identical, ranges: 10:00-11:00 and 10:30-11:30 conflict too.
			start := lesson(10)
			if i%2 == 1 {
				start = start.Add(30 * time.Minute)
			}
			_, errs[i] = f.svc.RequestBooking(context.Background(), students[i], bookings.Request{TutorID: f.tutorID, Start: start, Duration: time.Hour})
		}()
	}
	close(startLine)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch tutorhub.ErrorCode(err) {
		case "":
			won++
		case tutorhub.ECONFLICT:
		default:
			t.Errorf("student %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d students hold the slot, want exactly 1", won)
	}
	var live int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM bookings WHERE tutor_id = $1 AND state IN ('requested','awaiting_payment','confirmed')`, f.tutorID).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 1 {
		t.Fatalf("%d live bookings in the database, want 1", live)
	}
}

// TestTheConstraintRefusesOverlapsEvenPastTheService writes overlapping live rows directly:
// the database itself refuses the second, and a released (declined) range is free again.
func TestTheConstraintRefusesOverlapsEvenPastTheService(t *testing.T) {
	t.Parallel()
	f := newFixture(t, bookings.Options{})
	a, b := f.student(t), f.student(t)
	first, err := f.svc.RequestBooking(context.Background(), a, bookings.Request{TutorID: f.tutorID, Start: lesson(10), Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.db.Exec(context.Background(), `INSERT INTO bookings (id, tutor_id, tutor_user_id, student_id, starts_at, ends_at, time_zone, price_minor, currency, decide_by)
		SELECT gen_random_uuid(), tutor_id, tutor_user_id, $2, starts_at + interval '59 minutes', ends_at, time_zone, 1, 'EUR', decide_by FROM bookings WHERE id = $1`, first.ID, b.UserID)
	if err == nil {
		t.Fatal("the database took an overlapping live booking")
	}
	// Back to back is no overlap: ranges are [start, end).
	if _, err := f.svc.RequestBooking(context.Background(), b, bookings.Request{TutorID: f.tutorID, Start: lesson(11), Duration: time.Hour}); err != nil {
		t.Fatalf("a lesson right after another: %v", err)
	}
	if _, err := f.svc.Decline(context.Background(), f.tutor, first.ID, "busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RequestBooking(context.Background(), b, bookings.Request{TutorID: f.tutorID, Start: lesson(10), Duration: time.Hour}); err != nil {
		t.Fatalf("a declined booking still holds its slot: %v", err)
	}
}

// TestRequestBookingRules: pricing from the rate at request time, the tutor's zone, and the
// refusals (own profile, unknown tutor, outside availability).
func TestRequestBookingRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, bookings.Options{})
	s := f.student(t)
	b, err := f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: f.tutorID, Start: lesson(9), Duration: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if b.PriceMinor != 9000 || b.Currency != "EUR" || b.TimeZone != "Europe/Berlin" || b.State != bookings.StateRequested {
		t.Fatalf("booking %+v", b)
	}
	if want := f.now.Add(bookings.DecideWithin); !b.DecideBy.Equal(want) {
		t.Fatalf("decide by %s, want %s", b.DecideBy, want)
	}
	// A later rate change leaves the booked price alone.
	if _, err := f.db.Exec(context.Background(), `UPDATE tutors SET hourly_rate_minor = 9900 WHERE id = $1`, f.tutorID); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(context.Background(), s, b.ID)
	if err != nil || got.PriceMinor != 9000 {
		t.Fatalf("price after a rate change: %v %d", err, got.PriceMinor)
	}
	_, err = f.svc.RequestBooking(context.Background(), f.tutor, bookings.Request{TutorID: f.tutorID, Start: lesson(14), Duration: time.Hour})
	wantCode(t, err, tutorhub.EINVALID)
	_, err = f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: uuid.New(), Start: lesson(14), Duration: time.Hour})
	wantCode(t, err, tutorhub.ENOTFOUND)
	_, err = f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: f.tutorID, Start: lesson(20), Duration: time.Hour})
	wantCode(t, err, tutorhub.EINVALID)
	// An unpublished tutor cannot be booked.
	if _, err := f.db.Exec(context.Background(), `UPDATE tutors SET published = false WHERE id = $1`, f.tutorID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: f.tutorID, Start: lesson(15), Duration: time.Hour})
	wantCode(t, err, tutorhub.ENOTFOUND)
}

// TestDecisionsAndCancellations: who may do what, in which state, and the refund the policy
// gives at each distance from the lesson.
func TestDecisionsAndCancellations(t *testing.T) {
	t.Parallel()
	f := newFixture(t, bookings.Options{})
	s, other := f.student(t), f.student(t)
	admin := bookings.Actor{UserID: newUser(t, f.db, "{student,admin}"), Admin: true}
	request := func(hour int) bookings.Booking {
		t.Helper()
		b, err := f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: f.tutorID, Start: lesson(hour), Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := request(10)
	_, err := f.svc.Accept(context.Background(), s, b.ID)
	wantCode(t, err, tutorhub.EFORBIDDEN)
	_, err = f.svc.Accept(context.Background(), other, b.ID)
	wantCode(t, err, tutorhub.ENOTFOUND)
	_, err = f.svc.Get(context.Background(), other, b.ID)
	wantCode(t, err, tutorhub.ENOTFOUND)
	acc, err := f.svc.Accept(context.Background(), f.tutor, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != bookings.StateAwaitingPayment || !acc.HoldUntil.Equal(f.now.Add(bookings.HoldFor)) {
		t.Fatalf("accepted %+v", acc)
	}
	_, err = f.svc.Accept(context.Background(), f.tutor, b.ID)
	wantCode(t, err, tutorhub.EPRECONDITION)
	_, err = f.svc.Decline(context.Background(), f.tutor, b.ID, "")
	wantCode(t, err, tutorhub.EPRECONDITION)

	// Paid (as the workflow records it), then cancelled by the student at three distances.
	for _, tc := range []struct {
		hour   int
		before time.Duration
		refund int64
	}{{11, 30 * time.Hour, 6000}, {12, 5 * time.Hour, 3000}, {13, time.Hour, 0}} {
		b := request(tc.hour)
		if _, err := f.svc.Accept(context.Background(), f.tutor, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.svc.Confirm(context.Background(), b.ID); err != nil || !ok {
			t.Fatalf("confirm: %v %v", ok, err)
		}
		saved := f.now
		f.now = b.StartsAt.Add(-tc.before)
		c, err := f.svc.Cancel(context.Background(), s, b.ID, "ill")
		f.now = saved
		if err != nil {
			t.Fatal(err)
		}
		if c.State != bookings.StateCancelled || c.RefundMinor != tc.refund || c.CancelledBy != bookings.PartyStudent {
			t.Fatalf("cancelled %s before: %+v, want refund %d", tc.before, c, tc.refund)
		}
	}
	// The tutor cancelling late refunds everything; an admin may cancel too.
	late := request(15)
	if _, ok, err := func() (bookings.Booking, bool, error) {
		if _, err := f.svc.Accept(context.Background(), f.tutor, late.ID); err != nil {
			return bookings.Booking{}, false, err
		}
		return f.svc.Confirm(context.Background(), late.ID)
	}(); err != nil || !ok {
		t.Fatal(err)
	}
	f.now = late.StartsAt.Add(-time.Minute)
	c, err := f.svc.Cancel(context.Background(), f.tutor, late.ID, "")
	if err != nil || c.RefundMinor != c.PriceMinor {
		t.Fatalf("tutor cancel: %v %+v", err, c)
	}
	f.now = time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)
	byAdmin := request(16)
	if c, err := f.svc.Cancel(context.Background(), admin, byAdmin.ID, ""); err != nil || c.CancelledBy != bookings.PartyAdmin || c.RefundMinor != 0 {
		t.Fatalf("admin cancel of an unpaid booking: %v %+v", err, c)
	}
	_, err = f.svc.Cancel(context.Background(), other, byAdmin.ID, "")
	wantCode(t, err, tutorhub.ENOTFOUND)
	var events int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE aggregate_type = 'booking' AND event_type = 'booking.cancelled'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 5 {
		t.Fatalf("%d cancellation events, want 5", events)
	}
}

// TestWorkflowChangesAreIdempotent: each change the workflow makes applies once and only in
// its time and state.
func TestWorkflowChangesAreIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, bookings.Options{})
	s := f.student(t)
	b, err := f.svc.RequestBooking(context.Background(), s, bookings.Request{TutorID: f.tutorID, Start: lesson(10), Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Expire(context.Background(), b.ID, b.DecideBy.Add(-time.Second)); got.State != bookings.StateRequested {
		t.Fatalf("expired before the deadline: %s", got.State)
	}
	if _, err := f.svc.Accept(context.Background(), f.tutor, b.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, ok, err := f.svc.Confirm(context.Background(), b.ID); err != nil || !ok || got.ChargeStatus != payments.ChargeSucceeded {
			t.Fatalf("confirm: %v %v %+v", ok, err, got)
		}
		if _, err := f.svc.Remind(context.Background(), b.ID, "24h"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := f.svc.Complete(context.Background(), b.ID, b.EndsAt.Add(-time.Minute)); got.State != bookings.StateConfirmed {
		t.Fatalf("completed before the end: %s", got.State)
	}
	if got, _ := f.svc.Complete(context.Background(), b.ID, b.EndsAt); got.State != bookings.StateCompleted {
		t.Fatalf("not completed at the end: %s", got.State)
	}
	counts := map[string]int{}
	rows, err := f.db.Query(context.Background(), `SELECT event_type, count(*) FROM outbox WHERE aggregate_id = $1 GROUP BY event_type`, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			t.Fatal(err)
		}
		counts[e] = n
	}
	for _, e := range []string{bookings.EventRequested, bookings.EventAccepted, bookings.EventConfirmed, bookings.EventReminder, bookings.EventCompleted} {
		if counts[e] != 1 {
			t.Errorf("%s recorded %d times, want once (all: %v)", e, counts[e], counts)
		}
	}
	// The review opens: once, by the student only.
	_, err = f.svc.CreateReview(context.Background(), f.tutor, b.ID, 5, "great")
	wantCode(t, err, tutorhub.EFORBIDDEN)
	if _, err := f.svc.CreateReview(context.Background(), s, b.ID, 4, "Clear and patient."); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.CreateReview(context.Background(), s, b.ID, 5, "again")
	wantCode(t, err, tutorhub.EEXISTS)
	r, err := f.svc.TutorRating(context.Background(), f.tutorID)
	if err != nil || r.Count != 1 || r.Average != 4 {
		t.Fatalf("rating %+v %v", r, err)
	}
}
