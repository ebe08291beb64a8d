package search

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestPostgresRebuildSwapsANewIndexIn: a build fills beside the live index without changing
// what searches see, and its swap replaces the live index in one step, keeping every
// feature of the table (facets, text search, the version guard).
func TestPostgresRebuildSwapsANewIndexIn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testenv.Postgres(t)
	e := NewPostgres(db, testTokens)
	found := func(word string) []uuid.UUID {
		t.Helper()
		res, err := e.Search(ctx, Query{Text: word, Filter: Filter{SubjectID: maths.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return ids(res.Hits)
	}
	old := doc("Olga Old", "Tutor", "marmot", maths)
	if err := e.Upsert(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := CheckBuildID("Bad-Id"); err == nil {
		t.Error("a build id with capitals and dashes was accepted")
	}
	const id = "test_1"
	for range 2 { // beginning twice is a no-op
		if err := e.BeginBuild(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if builds, err := e.Builds(ctx); err != nil || !slices.Equal(builds, []string{id}) {
		t.Fatalf("Builds = %v, %v; want [%s]", builds, err, id)
	}
	fresh := doc("Nina New", "Tutor", "marmot", maths)
	if err := e.BuildUpsert(ctx, id, fresh); err != nil {
		t.Fatal(err)
	}
	stale := fresh
	stale.Bio = "ocelot" // at the same version: the guard keeps the first
	if err := e.BuildUpsert(ctx, id, stale); err != nil {
		t.Fatal(err)
	}
	gone := doc("Gus Gone", "Tutor", "marmot", maths)
	if err := e.BuildUpsert(ctx, id, gone); err != nil {
		t.Fatal(err)
	}
	if err := e.BuildDelete(ctx, id, gone.ID, gone.Version+1); err != nil {
		t.Fatal(err)
	}
	if got := found("marmot"); !slices.Equal(got, []uuid.UUID{old.ID}) {
		t.Fatalf("during the build, searches see %v, want only the live %v", got, old.ID)
	}

	if err := e.SwapBuild(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := found("marmot"); !slices.Equal(got, []uuid.UUID{fresh.ID}) {
		t.Fatalf("after the swap, searches see %v, want only the build's %v", got, fresh.ID)
	}
	if got := found("ocelot"); len(got) != 0 {
		t.Errorf("an upsert at the stored version replaced the build's document: %v", got)
	}
	if builds, err := e.Builds(ctx); err != nil || len(builds) != 0 {
		t.Fatalf("Builds after the swap = %v, %v; want none", builds, err)
	}
	if err := e.SwapBuild(ctx, id); err != nil {
		t.Errorf("swapping a swapped build: %v", err)
	}
	if err := e.BuildUpsert(ctx, id, doc("Late Larry", "Tutor", "marmot", maths)); err != nil {
		t.Errorf("a write to a swapped build: %v", err)
	}
	if err := e.Upsert(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got := found("marmot"); len(got) != 2 {
		t.Errorf("the swapped-in index takes writes: found %v", got)
	}

	if err := e.BeginBuild(ctx, "test_2"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropBuild(ctx, "test_2"); err != nil {
		t.Fatal(err)
	}
	if builds, err := e.Builds(ctx); err != nil || len(builds) != 0 {
		t.Fatalf("Builds after a drop = %v, %v; want none", builds, err)
	}
}
