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
func seedForPlans(t testing.TB, n int64) (*Queries, func(string, ...any) []byte, func(string, ...any) []byte) {
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
	run := func(explain string) func(string, ...any) []byte {
		return func(query string, args ...any) []byte {
			var plan []byte
			if err := db.QueryRow(ctx, explain+" "+query, args...).Scan(&plan); err != nil {
				t.Fatalf("explain: %v", err)
			}
			return plan
		}
	}
	return q, run("EXPLAIN (FORMAT JSON)"), run("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)")
}

// What a first or later page of 20 tutors may touch over 50,000 seeded tutors, whatever its
// filters: tutor rows its scans produce or throw away, and shared buffers (8 KiB pages,
// index and heap). Exceeding either is a regression of the indexes or the query. Most
// combinations touch a few hundred rows; the bound is set by the worst today, a subject (or
// subject and level) with a rare language, where the planner, assuming the facets
// independent, walks the rate order and filters about 9,000 rows (docs/design-notes.md).
const (
	maxTutorRowsTouched = 10000
	maxListBuffers      = 10000
)

// planNode is the part of an EXPLAIN (FORMAT JSON) node the test reads; the actual rows,
// loops and buffers only under EXPLAIN (ANALYZE, BUFFERS).
type planNode struct {
	NodeType    string     `json:"Node Type"`
	Relation    string     `json:"Relation Name"`
	IndexName   string     `json:"Index Name"`
	ActualRows  float64    `json:"Actual Rows"`
	Loops       float64    `json:"Actual Loops"`
	RowsFilter  float64    `json:"Rows Removed by Filter"`
	RowsRecheck float64    `json:"Rows Removed by Index Recheck"`
	SharedHit   int64      `json:"Shared Hit Blocks"`
	SharedRead  int64      `json:"Shared Read Blocks"`
	Plans       []planNode `json:"Plans"`
}

// tutorRowsTouched is how many tutor rows the plan's scans of tutors produced or threw away.
func (n planNode) tutorRowsTouched() float64 {
	var rows float64
	n.walk(func(n planNode) {
		if n.Relation == "tutors" {
			rows += (n.ActualRows + n.RowsFilter + n.RowsRecheck) * max(n.Loops, 1)
		}
	})
	return rows
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
	_, explain, explainAnalyze := seedForPlans(t, 50000)

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
	var worstRows float64
	var worstBuffers int64
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
								var analysed []struct {
									Plan planNode `json:"Plan"`
								}
								if err := json.Unmarshal(explainAnalyze(listTutors, unpublished, facets, cur, r[0], r[1], c.currency, c.rate, c.id, int32(21)), &analysed); err != nil {
									t.Fatal(err)
								}
								top := analysed[0].Plan
								touched, buffers := top.tutorRowsTouched(), top.SharedHit+top.SharedRead
								if touched > maxTutorRowsTouched || buffers > maxListBuffers {
									t.Errorf("%s: touched %.0f tutor rows and %d buffers for a page of 20 (at most %d and %d)\n%s", name, touched, buffers, maxTutorRowsTouched, maxListBuffers, raw)
								}
								worstRows, worstBuffers = max(worstRows, touched), max(worstBuffers, buffers)
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
	t.Logf("%d filter combinations, index use: %v; at most %.0f tutor rows and %d buffers touched", combos, used, worstRows, worstBuffers)
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
	_, explain, _ := seedForPlans(t, 5000)
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
