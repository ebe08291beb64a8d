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

// What a first or later page of 20 tutors (a query for 21) may touch over 50,000 seeded
// tutors, whatever its filters. ListTutors reads the page from tutor_facets (migration 00085):
// one key for the subject and language, and at most 8 (published, lesson modes) ranges of
// tutor_facets_pkey, each cut at a page, so:
//   - tutor_facets rows: at most 8 ranges x 21 = 168, however rare the combination;
//   - tutors rows: the page's 21, read by primary key (none thrown away: the facet rows are
//     exact);
//   - shared buffers (8 KiB pages): per range a descent of the 3-level primary key plus at
//     most 2 leaf pages (8 x 5 = 40) and, before VACUUM has set the visibility map (the test
//     only ANALYZEs), a heap page per facet row (168); per tutor of the page a primary key
//     descent and a heap page for tutors and for users (21 x 2 x 4 = 168); 376 in all, so
//     400. The bound is independent of the table's size, the rarity of the combination and
//     the page's position. Before tutor_facets, the worst combination (a subject with a rare
//     language) walked about 9,000 rows and as many buffers through the rate index.
const (
	listPageQueryLimit        = 21
	maxFacetRowsTouched       = 8 * listPageQueryLimit
	maxTutorRowsTouched       = listPageQueryLimit
	maxListBuffers      int64 = 400
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

// rowsTouched is how many rows of relation the plan's scans of it produced or threw away.
func (n planNode) rowsTouched(relation string) float64 {
	var rows float64
	n.walk(func(n planNode) {
		if n.Relation == relation {
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
	var worstFacetRows, worstTutorRows float64
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
								raw := explain(listTutors, unpublished, facets, cur, r[0], r[1], c.currency, c.rate, c.id, int32(listPageQueryLimit))
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
								if err := json.Unmarshal(explainAnalyze(listTutors, unpublished, facets, cur, r[0], r[1], c.currency, c.rate, c.id, int32(listPageQueryLimit)), &analysed); err != nil {
									t.Fatal(err)
								}
								top := analysed[0].Plan
								facetRows, tutorRows, buffers := top.rowsTouched("tutor_facets"), top.rowsTouched("tutors"), top.SharedHit+top.SharedRead
								if facetRows > maxFacetRowsTouched || tutorRows > maxTutorRowsTouched || buffers > maxListBuffers {
									t.Errorf("%s: touched %.0f facet rows, %.0f tutor rows and %d buffers for a page of 20 (at most %d, %d and %d)\n%s",
										name, facetRows, tutorRows, buffers, maxFacetRowsTouched, maxTutorRowsTouched, maxListBuffers, raw)
								}
								worstFacetRows, worstTutorRows, worstBuffers = max(worstFacetRows, facetRows), max(worstTutorRows, tutorRows), max(worstBuffers, buffers)
								plans[0].Plan.walk(func(n planNode) {
									if n.NodeType == "Seq Scan" && (n.Relation == "tutors" || n.Relation == "users" || n.Relation == "tutor_facets") {
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
	t.Logf("%d filter combinations, index use: %v; at most %.0f facet rows, %.0f tutor rows and %d buffers touched", combos, used, worstFacetRows, worstTutorRows, worstBuffers)
	for _, idx := range []string{"tutor_facets_pkey", "tutors_pkey", "users_pkey"} {
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
