package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bounds of a Rate accepted by ParseRate.
const (
	minRatePeriod = time.Second
	maxRatePeriod = 24 * time.Hour
	maxRateCount  = 1_000_000
)

// Rate is a token-bucket allowance: Limit events per Period, with bursts of
// up to Burst events. A Rate returned by ParseRate always has
// 1 <= Limit, Burst <= 1,000,000 and 1s <= Period <= 24h.
type Rate struct {
	// Limit is the number of events allowed per Period.
	Limit int
	// Period is the span over which Limit events are allowed.
	Period time.Duration
	// Burst is the number of events allowed at once.
	Burst int
}

// ParseRate parses "N/PERIOD[:BURST]", such as "120/1m" or "10/1s:20".
// PERIOD is a Go duration from 1s to 24h, or one of the shorthands "s", "m"
// and "h" for one second, minute or hour. BURST defaults to N.
func ParseRate(s string) (Rate, error) {
	r, err := parseRate(s)
	if err != nil {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, err)
	}
	return r, nil
}

// String formats r so that ParseRate(r.String()) returns r, omitting the
// burst when it equals the limit.
func (r Rate) String() string {
	s := strconv.Itoa(r.Limit) + "/" + formatDuration(r.Period)
	if r.Burst != r.Limit {
		s += ":" + strconv.Itoa(r.Burst)
	}
	return s
}

// parseRate is ParseRate with errors phrased as a reason about a value the
// caller shows alongside, so they never repeat the input.
func parseRate(s string) (Rate, error) {
	const form = `must be N/PERIOD[:BURST], such as "120/1m" or "10/1s:20"`
	count, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(form)
	}
	period, burst, hasBurst := strings.Cut(rest, ":")

	limit, ok := parseCount(count)
	if !ok {
		return Rate{}, fmt.Errorf("%s; N must be a whole number from 1 to %d", form, maxRateCount)
	}
	switch period {
	case "s", "m", "h":
		period = "1" + period
	}
	d, err := time.ParseDuration(period)
	if err != nil || d < minRatePeriod || d > maxRatePeriod {
		return Rate{}, fmt.Errorf("%s; PERIOD must be a duration from 1s to 24h", form)
	}
	r := Rate{Limit: limit, Period: d, Burst: limit}
	if hasBurst {
		if r.Burst, ok = parseCount(burst); !ok {
			return Rate{}, fmt.Errorf("%s; BURST must be a whole number from 1 to %d", form, maxRateCount)
		}
	}
	return r, nil
}

// parseCount accepts only plain decimal digits, so that signs, spaces and
// underscores are not silently tolerated.
func parseCount(s string) (int, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxRateCount {
		return 0, false
	}
	return n, true
}

// formatDuration writes d in its shortest unit ("1m" rather than "1m0s"),
// still readable by time.ParseDuration.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return d.String()
	}
}
