package queries

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
)

// TestListTutorIDsForIndexWalksAnIndex: a search rebuild's pages read an index in id order,
// never sort the table.
func TestListTutorIDsForIndexWalksAnIndex(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 20,000 tutors")
	}
	_, explain, _ := seedForPlans(t, 20000)
	for name, after := range map[string]uuid.UUID{"first page": uuid.Nil, "later page": uuid.MustParse("80000000-0000-0000-0000-000000000000")} {
		var plans []struct{ Plan planNode }
		if err := json.Unmarshal(explain(listTutorIDsForIndex, after, int32(500)), &plans); err != nil {
			t.Fatal(err)
		}
		var indexed, sorted bool
		plans[0].Plan.walk(func(n planNode) {
			indexed = indexed || (n.Relation == "tutors" && n.IndexName != "")
			sorted = sorted || n.NodeType == "Sort"
		})
		if !indexed || sorted {
			t.Errorf("%s: plan does not walk an index of tutors in order: %+v", name, plans[0].Plan)
		}
	}
}
