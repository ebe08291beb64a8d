package main

import "testing"

func TestGaugeValueReadsTheNamedSampleOnly(t *testing.T) {
	const exposition = `# HELP tutorhub_shed_limit_total not this one
tutorhub_shed_limit_total 99
# TYPE tutorhub_shed_limit gauge
tutorhub_shed_limit{otel_scope_name="github.com/tutorhub/tutorhub",otel_scope_version=""} 23
tutorhub_shed_in_flight 4
`
	if v, err := gaugeValue(exposition, "tutorhub_shed_limit"); err != nil || v != 23 {
		t.Fatalf("tutorhub_shed_limit = %d, %v; want 23", v, err)
	}
	if v, err := gaugeValue(exposition, "tutorhub_shed_in_flight"); err != nil || v != 4 {
		t.Fatalf("tutorhub_shed_in_flight = %d, %v; want 4", v, err)
	}
	if _, err := gaugeValue(exposition, "tutorhub_shed"); err == nil {
		t.Fatal("a prefix of metric names was read as a gauge")
	}
	if _, err := gaugeValue("tutorhub_shed_limit NaNa\n", "tutorhub_shed_limit"); err == nil {
		t.Fatal("a malformed value was accepted")
	}
}
