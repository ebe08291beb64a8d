package bookings

import "time"

// Policy is the cancellation policy: what share of a paid booking's price a cancellation
// refunds, by who cancels and how long before the lesson. It is a pure function of the
// booking, the canceller and the clock's reading, so it is tested without I/O.
//
// A student who cancels at least FreeBefore before the lesson gets everything back; at least
// PartialBefore before, PartialPercent of the price (rounded down to the minor unit); later,
// nothing. A tutor (or an admin) who cancels refunds the student in full, whenever. An
// unpaid booking refunds nothing because nothing was taken.
type Policy struct {
	FreeBefore     time.Duration
	PartialBefore  time.Duration
	PartialPercent int64
}

// DefaultPolicy is the policy tutorhub applies: free until 24 hours before the lesson, half
// until 2 hours before, then nothing.
var DefaultPolicy = Policy{FreeBefore: 24 * time.Hour, PartialBefore: 2 * time.Hour, PartialPercent: 50}

// Refund is what cancelling a booking that starts at start and was paid priceMinor (0 when
// unpaid) refunds when by cancels at now.
func (p Policy) Refund(by Party, start time.Time, priceMinor int64, now time.Time) int64 {
	if priceMinor <= 0 {
		return 0
	}
	if by != PartyStudent {
		return priceMinor
	}
	left := start.Sub(now)
	switch {
	case left >= p.FreeBefore:
		return priceMinor
	case left >= p.PartialBefore:
		return priceMinor * p.PartialPercent / 100
	default:
		return 0
	}
}
