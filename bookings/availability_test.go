package bookings

import (
	"testing"
	"time"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/tutors"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestCheckSlotAcrossDaylightSaving books lessons on the spring-forward and fall-back days
// of Europe/Berlin and America/New_York against a Sunday window of 01:00-04:00 local time,
// which contains each zone's transition.
func TestCheckSlotAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	window := []tutors.Slot{{Day: 7, Start: 60, End: 240}} // Sunday 01:00-04:00
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, zone, start string
		minutes           int
		ok                bool
	}{
		// Berlin springs forward on 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST: the
		// window 01:00 CET-04:00 CEST is two real hours, 00:00-02:00 UTC.
		{"berlin spring: a lesson across the gap fits the two real hours", "Europe/Berlin", "2026-03-29T00:30:00Z", 60, true},
		{"berlin spring: the whole shortened window", "Europe/Berlin", "2026-03-29T00:00:00Z", 120, true},
		{"berlin spring: three wall-clock hours do not fit two real ones", "Europe/Berlin", "2026-03-29T00:00:00Z", 180, false},
		{"berlin spring: ending after 04:00 CEST is outside", "Europe/Berlin", "2026-03-29T01:30:00Z", 60, false},
		// Berlin falls back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: the window
		// 01:00 CEST-04:00 CET is four real hours, 2026-10-24T23:00Z-03:00Z.
		{"berlin fall: the repeated hour is bookable twice over", "Europe/Berlin", "2026-10-25T00:00:00Z", 60, true},
		{"berlin fall: the second 02:00-03:00", "Europe/Berlin", "2026-10-25T01:00:00Z", 60, true},
		{"berlin fall: all four real hours", "Europe/Berlin", "2026-10-24T23:00:00Z", 180, true},
		{"berlin fall: the last hour ends at 04:00 CET", "Europe/Berlin", "2026-10-25T02:00:00Z", 60, true},
		{"berlin fall: past 04:00 CET is outside", "Europe/Berlin", "2026-10-25T02:30:00Z", 60, false},
		// New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC): window 06:00Z-08:00Z.
		{"new york spring: across the gap", "America/New_York", "2026-03-08T06:30:00Z", 60, true},
		{"new york spring: three hours do not fit", "America/New_York", "2026-03-08T06:00:00Z", 180, false},
		// New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC): window 05:00Z-09:00Z.
		{"new york fall: the second 01:00-02:00", "America/New_York", "2026-11-01T06:00:00Z", 60, true},
		{"new york fall: four real hours", "America/New_York", "2026-11-01T05:00:00Z", 180, true},
		{"new york fall: before the window", "America/New_York", "2026-11-01T04:45:00Z", 60, false},
		{"an ordinary saturday is outside a sunday window", "Europe/Berlin", "2026-03-28T00:30:00Z", 60, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := utc(tc.start)
			err := CheckSlot(window, tc.zone, start, time.Duration(tc.minutes)*time.Minute, start.Add(-7*24*time.Hour))
			if (err == nil) != tc.ok {
				t.Fatalf("CheckSlot(%s, %dm in %s) = %v, want ok=%v", tc.start, tc.minutes, tc.zone, err, tc.ok)
			}
			if err != nil && tutorhub.ErrorCode(err) != tutorhub.EINVALID {
				t.Fatalf("code %s, want invalid", tutorhub.ErrorCode(err))
			}
		})
	}
}

func TestWallClockResolvesGapsAndOverlaps(t *testing.T) {
	t.Parallel()
	berlin := mustZone(t, "Europe/Berlin")
	// 02:30 does not exist on 2026-03-29: read with CET (+1), it is 01:30 UTC (03:30 CEST).
	if got, want := WallClock(berlin, 2026, 3, 29, 150), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("gap: %s, want %s", got, want)
	}
	// 02:30 exists twice on 2026-10-25: the first is 00:30 UTC (CEST).
	if got, want := WallClock(berlin, 2026, 10, 25, 150), time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("overlap: %s, want %s", got, want)
	}
	// Minute 1440 is the next midnight.
	if got, want := WallClock(berlin, 2026, 6, 1, 1440), time.Date(2026, 6, 1, 22, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("midnight: %s, want %s", got, want)
	}
}

func TestCheckSlotRules(t *testing.T) {
	t.Parallel()
	window := []tutors.Slot{{Day: 1, Start: 9 * 60, End: 17 * 60}} // Monday 09-17
	now := time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)             // Monday 08:00 Berlin
	at := func(h, m int) time.Time { return time.Date(2026, 6, 1, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name  string
		start time.Time
		d     time.Duration
		rule  string
	}{
		{"too short", at(8, 0), 15 * time.Minute, "duration.range"},
		{"too long", at(8, 0), 4 * time.Hour, "duration.range"},
		{"not a quarter-hour length", at(8, 0), 50 * time.Minute, "duration.step"},
		{"not on a quarter hour", at(8, 5), time.Hour, "start_time.step"},
		{"too soon", at(6, 30), time.Hour, "start_time.lead"},
		{"too far ahead", now.Add(181 * 24 * time.Hour).Truncate(time.Hour), time.Hour, "start_time.horizon"},
		{"after the window", at(14, 30), time.Hour, "start_time.availability"},
		{"fits", at(14, 0), time.Hour, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckSlot(window, "Europe/Berlin", tc.start, tc.d, now)
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := err.(*tutorhub.Error)
			if !ok || len(e.Violations) == 0 || e.Violations[0].Rule != tc.rule {
				t.Fatalf("got %v, want rule %s", err, tc.rule)
			}
		})
	}
	if err := CheckSlot(window, "Mars/Olympus", at(14, 0), time.Hour, now); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
		t.Fatalf("unknown zone: %v", err)
	}
}

func TestPrice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate int64
		d    time.Duration
		want int64
	}{{6000, time.Hour, 6000}, {6000, 45 * time.Minute, 4500}, {4999, 30 * time.Minute, 2500}, {1, 30 * time.Minute, 1}, {750_000, 90 * time.Minute, 1_125_000}} {
		if got := Price(tc.rate, tc.d); got != tc.want {
			t.Errorf("Price(%d, %s) = %d, want %d", tc.rate, tc.d, got, tc.want)
		}
	}
}

func TestCancellationPolicy(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	p := DefaultPolicy
	cases := []struct {
		name   string
		by     Party
		before time.Duration
		paid   int64
		want   int64
	}{
		{"student well ahead: free", PartyStudent, 48 * time.Hour, 5000, 5000},
		{"student exactly at the free cutoff: free", PartyStudent, 24 * time.Hour, 5000, 5000},
		{"student just inside the cutoff: half", PartyStudent, 24*time.Hour - time.Second, 5000, 2500},
		{"student at the partial cutoff: half", PartyStudent, 2 * time.Hour, 5001, 2500},
		{"student late: nothing", PartyStudent, 2*time.Hour - time.Second, 5000, 0},
		{"tutor late: everything", PartyTutor, time.Minute, 5000, 5000},
		{"admin: everything", PartyAdmin, time.Minute, 5000, 5000},
		{"unpaid: nothing to refund", PartyStudent, 48 * time.Hour, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Refund(tc.by, start, tc.paid, start.Add(-tc.before)); got != tc.want {
				t.Fatalf("refund %d, want %d", got, tc.want)
			}
		})
	}
}

func FuzzCheckSlot(f *testing.F) {
	f.Add(int64(1774746000), int64(60), int32(7), int32(60), int32(240), "Europe/Berlin")
	f.Add(int64(1793494800), int64(90), int32(7), int32(0), int32(1440), "America/New_York")
	f.Fuzz(func(t *testing.T, unix, minutes int64, day, from, to int32, zone string) {
		start := time.Unix(unix%(1<<40), 0).UTC()
		d := time.Duration(minutes%1000) * time.Minute
		slots := []tutors.Slot{{Day: day, Start: from, End: to}}
		err := CheckSlot(slots, zone, start, d, start.Add(-2*time.Hour))
		if err == nil {
			// An accepted lesson lies inside the window's instants on its local day.
			loc, _ := time.LoadLocation(zone)
			l := start.In(loc)
			y, m, dd := l.Date()
			if start.Before(WallClock(loc, y, m, dd, int(from))) || start.Add(d).After(WallClock(loc, y, m, dd, int(to))) {
				t.Fatalf("accepted a lesson outside its window: %s %s %s", start, d, zone)
			}
			return
		}
		if c := tutorhub.ErrorCode(err); c != tutorhub.EINVALID && c != tutorhub.EPRECONDITION {
			t.Fatalf("unexpected code %s", c)
		}
	})
}
