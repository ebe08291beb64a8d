package bookings

import (
	"time"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/tutors"
)

// Lesson lengths and lead times a request must respect.
const (
	MinDuration  = 30 * time.Minute
	MaxDuration  = 3 * time.Hour
	Granularity  = 15 * time.Minute
	MinLeadTime  = time.Hour
	MaxLeadTime  = 180 * 24 * time.Hour
	minutesInDay = 24 * 60
)

// CheckSlot reports whether a lesson from start lasting d fits inside one of the tutor's
// weekly windows, read in the tutor's IANA zone, and respects the lead times against now.
// Every check is on instants: a window is the pair of instants its wall-clock start and end
// name on the lesson's local date, so a lesson on a daylight-saving day is as long as it
// says and fits exactly when its instants lie inside the window's.
//
// A wall-clock time that does not exist (inside a spring-forward gap) is read with the
// offset before the gap, and one that exists twice (inside a fall-back overlap) is its first
// occurrence, as RFC 5545 does for recurring events.
func CheckSlot(slots []tutors.Slot, zone string, start time.Time, d time.Duration, now time.Time) error {
	v := &tutorhub.Violations{}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		return tutorhub.Errorf(tutorhub.EPRECONDITION, "the tutor has no valid time zone")
	}
	switch {
	case d < MinDuration || d > MaxDuration:
		v.Add("duration", "duration.range", "a lesson lasts from 30 minutes to 3 hours")
	case d%Granularity != 0:
		v.Add("duration", "duration.step", "a lesson lasts a multiple of 15 minutes")
	}
	switch {
	case start.Unix()%int64(Granularity/time.Second) != 0 || start.Nanosecond() != 0:
		v.Add("start_time", "start_time.step", "a lesson starts on a quarter hour")
	case start.Before(now.Add(MinLeadTime)):
		v.Add("start_time", "start_time.lead", "a lesson starts at least one hour from now")
	case start.After(now.Add(MaxLeadTime)):
		v.Add("start_time", "start_time.horizon", "a lesson starts at most 180 days from now")
	}
	if err := v.Err("invalid booking request"); err != nil {
		return err
	}
	end := start.Add(d)
	local := start.In(loc)
	y, m, day := local.Date()
	weekday := isoWeekday(local.Weekday())
	for _, s := range slots {
		if s.Day != weekday {
			continue
		}
		from := WallClock(loc, y, m, day, int(s.Start))
		to := WallClock(loc, y, m, day, int(s.End))
		if !start.Before(from) && !end.After(to) {
			return nil
		}
	}
	return tutorhub.Invalid("start_time", "start_time.availability", "the tutor is not available for the whole lesson at this time")
}

// WallClock is the instant of minute (0-1440) of a local date in loc: a minute inside a gap
// is read with the offset before the gap, one inside an overlap is its first occurrence.
func WallClock(loc *time.Location, y int, m time.Month, d, minute int) time.Time {
	naive := time.Date(y, m, d, 0, minute, 0, 0, time.UTC)
	// The offsets in force a day either side cover every transition of the day.
	_, before := naive.Add(-24 * time.Hour).In(loc).Zone()
	_, after := naive.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		t := naive.Add(-time.Duration(off) * time.Second)
		if sameWallClock(t.In(loc), naive) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() {
		// A gap: the offset before it moves the time forward by the gap's length.
		best = naive.Add(-time.Duration(before) * time.Second)
	}
	return best
}

func sameWallClock(local, naive time.Time) bool {
	y1, m1, d1 := local.Date()
	y2, m2, d2 := naive.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && local.Hour() == naive.Hour() && local.Minute() == naive.Minute()
}

// isoWeekday numbers Monday 1 to Sunday 7, as tutors.Slot does.
func isoWeekday(w time.Weekday) int32 {
	if w == time.Sunday {
		return 7
	}
	return int32(w)
}

// Price is the price in minor units of a lesson of d at an hourly rate, rounded half up to
// the minor unit.
func Price(hourlyRateMinor int64, d time.Duration) int64 {
	minutes := int64(d / time.Minute)
	return (hourlyRateMinor*minutes + 30) / 60
}
