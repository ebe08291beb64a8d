package config_test

import (
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
)

func TestParseRate(t *testing.T) {
	valid := []struct {
		in   string
		want config.Rate
	}{
		{"120/1m", config.Rate{Limit: 120, Period: time.Minute, Burst: 120}},
		{"10/1s:20", config.Rate{Limit: 10, Period: time.Second, Burst: 20}},
		{"5/m", config.Rate{Limit: 5, Period: time.Minute, Burst: 5}},
		{"5/s", config.Rate{Limit: 5, Period: time.Second, Burst: 5}},
		{"1/h:3", config.Rate{Limit: 1, Period: time.Hour, Burst: 3}},
		{"3/1m30s", config.Rate{Limit: 3, Period: 90 * time.Second, Burst: 3}},
		{"1/24h", config.Rate{Limit: 1, Period: 24 * time.Hour, Burst: 1}},
		{"1000000/1s:1", config.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1}},
	}
	for _, tt := range valid {
		t.Run("accepts "+tt.in, func(t *testing.T) {
			got, err := config.ParseRate(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
	invalid := []string{
		"", "120", "/1m", "120/", "0/1m", "-1/1m", "+1/1m", " 1/1m", "1/1m ", "1.5/1m",
		"1/500ms", "1/0s", "1/25h", "1/x", "1/1m:", "1/1m:0", "1/1m:-1", "1/1m:2:3",
		"1000001/1s", "1/1s:1000001", "99999999999999999999/1s",
	}
	for _, in := range invalid {
		t.Run("rejects "+in, func(t *testing.T) {
			if got, err := config.ParseRate(in); err == nil {
				t.Errorf("ParseRate(%q) = %+v, want an error", in, got)
			}
		})
	}
}

func TestRateStringRoundTrip(t *testing.T) {
	tests := []struct{ in, canonical string }{
		{"120/1m", "120/1m"},
		{"10/1s:20", "10/1s:20"},
		{"10/1s:10", "10/1s"},
		{"5/m", "5/1m"},
		{"3/1m30s", "3/90s"},
		{"3/60m", "3/1h"},
		{"2/1.5s", "2/1.5s"},
		{"007/1h", "7/1h"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := config.ParseRate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != tt.canonical {
				t.Errorf("String() = %q, want %q", got, tt.canonical)
			}
			again, err := config.ParseRate(r.String())
			if err != nil || again != r {
				t.Errorf("ParseRate(%q) = %+v, %v; want %+v", r.String(), again, err, r)
			}
		})
	}
}
