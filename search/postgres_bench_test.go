package search

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// benchDocuments is how many documents BenchmarkSearchPostgres indexes.
const benchDocuments = 20000

// BenchmarkSearchPostgres measures Search over 20,000 documents written like the load tool's
// seeded tutors (a small vocabulary, so a common word matches a quarter of the index and a
// misspelling is close to a word of every document): a common word by relevance, a misspelt
// word with every facet counted, and a word with a subject and price range by price.
func BenchmarkSearchPostgres(b *testing.B) {
	db := testenv.Postgres(b)
	ctx := context.Background()
	// Documents as UpsertSearchDocument writes them, and the lexicon as AddSearchLexemes fills it.
	if _, err := db.Exec(ctx, `
		INSERT INTO search_documents (id, version, published, display_name, headline, bio, subjects, languages,
		                              lesson_modes, currency, hourly_rate_minor, tsv, words)
		SELECT gen_random_uuid(), 1, i % 10 <> 0, d.name, d.headline, d.bio,
		       jsonb_build_array(jsonb_build_object('subject_id', '8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f00' || lpad((i % 40)::text, 2, '0'),
		                                            'name', 'Subject' || (i % 40), 'levels', jsonb_build_array('adult'))),
		       ARRAY[(ARRAY['en', 'de', 'fr', 'pt', 'ko'])[1 + i % 5]], ARRAY['online'],
		       (ARRAY['EUR', 'USD', 'GBP'])[1 + i % 3], 1000 + (i * 37) % 12000,
		       setweight(to_tsvector('simple', search_normalize(d.name || ' ' || d.headline)), 'A') ||
		       setweight(to_tsvector('simple', search_normalize('Subject' || (i % 40))), 'B') ||
		       setweight(to_tsvector('simple', search_normalize(d.bio)), 'C'),
		       search_normalize(concat_ws(' ', d.name, d.headline, 'Subject' || (i % 40), d.bio))
		FROM generate_series(1, $1::int) AS i,
		LATERAL (SELECT (ARRAY['Ada', 'Ben', 'Chen', 'Elena', 'Hugo', 'Ines', 'Kofi', 'Maya', 'Omar', 'Zoe'])[1 + i % 10] || ' ' ||
		                (ARRAY['Costa', 'Dubois', 'Müller', 'Okafor', 'Patel', 'Silva', 'Tanaka'])[1 + i % 7] AS name,
		                (ARRAY['Patient', 'Experienced', 'Certified', 'Friendly', 'Creative'])[1 + i % 5] ||
		                    ' tutor, ' || (1 + i % 25) || ' years of experience' AS headline,
		                (ARRAY['I have prepared hundreds of students for their final exams.',
		                       'Lessons mix clear explanations with plenty of practice.',
		                       'Homework help, exam preparation and long-term coaching.',
		                       'Beginners and advanced learners are equally welcome.'])[1 + i % 4] || ' ' ||
		                (ARRAY['Every lesson ends with a short recap and next steps.',
		                       'My students say I make difficult topics feel simple.',
		                       'I tailor every lesson to the student''s goals and pace.'])[1 + i % 3] AS bio) AS d`,
		benchDocuments); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO search_lexemes (lexeme)
		SELECT DISTINCT l FROM search_documents d, unnest(tsvector_to_array(d.tsv)) AS l ORDER BY l`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, "ANALYZE search_documents, search_lexemes"); err != nil {
		b.Fatal(err)
	}
	e := NewPostgres(db, testTokens)
	subject := uuid.MustParse("8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0005")
	for _, bc := range []struct {
		name string
		q    Query
	}{
		{"common word by relevance", Query{Text: "exams"}},
		{"word in every document by relevance", Query{Text: "tutor"}},
		{"misspelt word with every facet", Query{Text: "pateint", Facets: Facets}},
		{"misspelling close to every document", Query{Text: "experiensed"}},
		{"word, subject and price range by price", Query{Text: "practice", Sort: SortPrice,
			Filter: Filter{SubjectID: subject, Currency: "EUR", MinRate: 2000, MaxRate: 6000}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if res, err := e.Search(ctx, bc.q); err != nil || len(res.Hits) == 0 {
				b.Fatalf("Search(%+v) = %d hits, %v", bc.q, len(res.Hits), err)
			}
			for b.Loop() {
				if _, err := e.Search(ctx, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
