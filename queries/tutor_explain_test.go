package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// seedForPlans loads n development tutors and refreshes the planner's statistics, so plans
// are the ones a production-sized table gets.
func seedForPlans(t testing.TB, n int64) (*Queries, func(string, ...any) []byte) {
	t.Helper()
	db := testenv.Postgres(t)
	ctx := context.Background()
	q := New(db)
	const batch = 10000
	for first := int64(1); first <= n; first += batch {
		if _, err := q.SeedTutors(ctx, SeedTutorsParams{Seed: 42, First: first, Count: min(batch, n-first+1)}); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	if _, err := db.Exec(ctx, "ANALYZE tutors; ANALYZE users"); err != nil {
		t.Fatal(err)
	}
	explain := func(query string, args ...any) []byte {
		var plan []byte
		if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&plan); err != nil {
			t.Fatalf("explain: %v", err)
		}
		return plan
	}
	return q, explain
}

// planNode is the part of an EXPLAIN (FORMAT JSON) node the test reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

func TestListTutorsUsesIndexesForEveryFilterCombination(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 50,000 tutors")
	}
	_, explain := seedForPlans(t, 50000)

	maths, japanese := "d4706666-3b3f-5254-b858-719197bb6436", "9d25ebda-301e-579c-9e1b-c0f54f911d95"
	subjects := map[string][]string{"": nil, "subject": {"s:" + maths}, "subject+level": {"sl:" + japanese + ":adult"}}
	languages := map[string]string{"": "", "common language": "l:en", "rare language": "l:ko"}
	modes := map[string]string{"": "", "online": "m:online", "in person": "m:in_person"}
	currencies := []string{"", "USD", "CHF"}
	rates := map[string][2]int64{"any rate": {0, 100000000}, "min rate": {5000, 100000000}, "max rate": {0, 2500}, "rate range": {2000, 3000}}
	// The first page starts before every row; a later page continues inside a currency.
	cursors := map[string]struct {
		currency string
		rate     int64
		id       uuid.UUID
	}{"first page": {"", -1, uuid.Nil}, "later page": {"EUR", 6000, uuid.MustParse("80000000-0000-0000-0000-000000000000")}}

	used := map[string]int{}
	combos := 0
	for sName, sFacets := range subjects {
		for lName, lFacet := range languages {
			for mName, mFacet := range modes {
				for _, cur := range currencies {
					for rName, r := range rates {
						if cur == "" && rName != "any rate" {
							continue // a rate range needs a currency: the API refuses it
						}
						for cName, c := range cursors {
							if cur != "" && c.currency != "" {
								c.currency = cur
							}
							for _, unpublished := range []bool{false, true} {
								facets := append([]string{}, sFacets...)
								for _, f := range []string{lFacet, mFacet} {
									if f != "" {
										facets = append(facets, f)
									}
								}
								name := fmt.Sprintf("%s/%s/%s/%s/%s/%s/unpublished=%v", sName, lName, mName, cur, rName, cName, unpublished)
								raw := explain(listTutors, unpublished, facets, cur, r[0], r[1], c.currency, c.rate, c.id, int32(21))
								var plans []struct {
									Plan planNode `json:"Plan"`
								}
								if err := json.Unmarshal(raw, &plans); err != nil {
									t.Fatal(err)
								}
								combos++
								plans[0].Plan.walk(func(n planNode) {
									if n.NodeType == "Seq Scan" && (n.Relation == "tutors" || n.Relation == "users") {
										t.Errorf("%s: Seq Scan on %s\n%s", name, n.Relation, raw)
									}
									if n.IndexName != "" {
										used[n.IndexName]++
									}
								})
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d filter combinations, index use: %v", combos, used)
	for _, idx := range []string{"tutors_listed_currency_rate_idx", "tutors_live_currency_rate_idx", "tutors_search_facets_idx"} {
		if used[idx] == 0 {
			t.Errorf("no plan used %s: drop it or fix the query", idx)
		}
	}
}

func TestGetTutorUsesThePrimaryKey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds tutors")
	}
	_, explain := seedForPlans(t, 5000)
	for name, plan := range map[string][]byte{
		"GetTutor":  explain(getTutor, uuid.New()),
		"LockTutor": explain(lockTutor, uuid.New()),
	} {
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(plan, &plans); err != nil {
			t.Fatal(err)
		}
		plans[0].Plan.walk(func(n planNode) {
			if n.NodeType == "Seq Scan" {
				t.Errorf("%s: Seq Scan on %s", name, n.Relation)
			}
		})
	}
}
