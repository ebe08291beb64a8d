package bookings_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/bookings"
)

// BenchmarkRequestBooking requests lessons of a few popular tutors from many students at
// once: each request picks one of 4 tutors and one of 96 hours, so many collide and the
// exclusion constraint refuses them. It reports requests/s and the share refused as taken
// (conflicts/op).
func BenchmarkRequestBooking(b *testing.B) {
	f := newFixture(b, bookings.Options{})
	tutorIDs := []uuid.UUID{f.tutorID}
	for range 3 {
		id, _ := newPublishedTutor(b, f.db, everyDay(0, 24*60))
		tutorIDs = append(tutorIDs, id)
	}
	students := make([]bookings.Actor, 32)
	for i := range students {
		students[i] = f.student(b)
	}
	base := time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)
	var conflicts, n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			s := students[int(i)%len(students)]
			req := bookings.Request{TutorID: tutorIDs[rand.IntN(len(tutorIDs))], Start: base.Add(time.Duration(rand.IntN(96)) * time.Hour), Duration: time.Hour}
			_, err := f.svc.RequestBooking(context.Background(), s, req)
			switch tutorhub.ErrorCode(err) {
			case "":
			case tutorhub.ECONFLICT:
				conflicts.Add(1)
			case tutorhub.EINVALID: // the 00:00-08:00 hours of the fixture's first tutor
			default:
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
}
