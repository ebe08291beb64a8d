package telemetry

import "testing"

func TestSampleSum(t *testing.T) {
	const page = `# HELP tutorhub_shed_limit The in-flight limit.
# TYPE tutorhub_shed_limit gauge
tutorhub_shed_limit 23
tutorhub_shed_limit_total 99
tutorhub_shed 5
tutorhub_outbox_dispatched_total{otel_scope_name="relay",route="a b}c"} 3
tutorhub_outbox_dispatched_total{otel_scope_name="relay",route="x"} 4.5 1700000000000
tutorhub_latency_bucket{le="0.1"} 7
`
	for _, tc := range []struct {
		name  string
		want  float64
		found bool
	}{
		{"tutorhub_shed_limit", 23, true},
		{"tutorhub_shed", 5, true},
		{"tutorhub_outbox_dispatched_total", 7.5, true},
		{"tutorhub_latency", 0, false},
		{"tutorhub_absent", 0, false},
	} {
		got, found, err := SampleSum(page, tc.name)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("SampleSum(%s) = %v, %v, %v; want %v, %v", tc.name, got, found, err, tc.want, tc.found)
		}
	}
	if _, _, err := SampleSum("tutorhub_shed_limit NaNa\n", "tutorhub_shed_limit"); err == nil {
		t.Error("a value that does not parse was read")
	}
}

func FuzzSampleSum(f *testing.F) {
	f.Add("a{b=\"c d\"} 1\na 2\n", "a")
	f.Add("a{ 1", "a")
	f.Fuzz(func(t *testing.T, page, name string) {
		_, _, _ = SampleSum(page, name)
	})
}
