package telemetry

import (
	"fmt"
	"strconv"
	"strings"
)

// SampleSum reads one metric from a Prometheus text exposition (what /metrics serves): the
// sum of its samples over every label set. found is false when no sample has that name; a
// sample whose value does not parse is an error. Histogram series (name_bucket, name_sum,
// ...) and metrics whose names merely start with name are not name's samples.
func SampleSum(exposition, name string) (sum float64, found bool, err error) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// "name{labels} value [timestamp]": label values may hold spaces, so the series ends
		// at the closing brace when there are labels, at the first space otherwise.
		series, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 && i < len(series) {
			end := strings.LastIndexByte(line, '}')
			if end < i {
				continue
			}
			series, rest = line[:i], strings.TrimLeft(line[end+1:], " ")
			ok = true
		}
		if !ok || series != name {
			continue
		}
		value, _, _ := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, true, fmt.Errorf("metric %s: sample %q: %w", name, line, err)
		}
		sum, found = sum+v, true
	}
	return sum, found, nil
}
