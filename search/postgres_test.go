package search

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestPostgresContract runs the engine contract against PostgreSQL, a fresh database per
// case.
func TestPostgresContract(t *testing.T) {
	t.Parallel()
	contract(t, func(t *testing.T) Engine { return NewPostgres(testenv.Postgres(t), testTokens) })
}

// TestDocumentFacetsMatchSQL proves that the facet tokens the Meilisearch engine stores
// (documentFacets) are those PostgreSQL derives (search_document_facets), so both engines
// filter and count alike.
func TestDocumentFacetsMatchSQL(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e := NewPostgres(db, testTokens)
	d := doc("Fay Facet", "Tutor", "wren", maths, physics)
	d.Languages, d.LessonModes, d.Currency = []string{"en-GB", "pt", "zh-Hant-TW"}, []string{"online", "in_person"}, "CHF"
	if err := e.Upsert(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	var stored []string
	if err := db.QueryRow(t.Context(), "SELECT facets FROM search_documents WHERE id = $1", d.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	got := documentFacets(&d)
	slices.Sort(got)
	slices.Sort(stored)
	if !slices.Equal(got, stored) {
		t.Fatalf("documentFacets = %v\nSQL facets    = %v", got, stored)
	}
}

// TestKnownSubjectsRefusesSubjectsOutsideTheCatalogue: a subject filter must name a
// catalogue subject; one that does not is bad input, not an empty result.
func TestKnownSubjectsRefusesSubjectsOutsideTheCatalogue(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e := KnownSubjects(NewPostgres(db, testTokens), db)
	catalogued := uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436") // mathematics, seeded by 00001
	if _, err := e.Search(t.Context(), Query{Text: "x", Filter: Filter{SubjectID: catalogued}}); err != nil {
		t.Fatalf("a catalogue subject: %v", err)
	}
	_, err := e.Search(t.Context(), Query{Text: "x", Filter: Filter{SubjectID: uuid.New()}})
	var de *tutorhub.Error
	if !errors.As(err, &de) || de.Code != tutorhub.EINVALID || len(de.Violations) != 1 || de.Violations[0].Field != "subject_id" {
		t.Fatalf("an unknown subject: %v, want EINVALID on subject_id", err)
	}
}

// TestPostgresTyposAfterBulkUpsert: BulkUpsert adds its documents' words to the lexicon typo
// matching reads, so a misspelling of a word written only in bulk is found.
func TestPostgresTyposAfterBulkUpsert(t *testing.T) {
	t.Parallel()
	e := NewPostgres(testenv.Postgres(t), testTokens)
	d := doc("Kai Bulk", "Ornithology", "kingfisher")
	if err := e.BulkUpsert(t.Context(), []Document{d}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Search(t.Context(), Query{Text: "kingfsher"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Hits); !slices.Equal(got, []uuid.UUID{d.ID}) {
		t.Fatalf("search %q = %v, want %s", "kingfsher", got, d.ID)
	}
}
