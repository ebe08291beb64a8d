package queries

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestSearchQueriesUseTheGINIndexes proves on 20,000 documents that a text search (a rare
// word, a misspelt one, a word in every document) reads the tsvector index, never every
// document, for the page and for facet counts, that a typo is matched through the lexicon,
// and that a selective filter reads the facet index.
func TestSearchQueriesUseTheGINIndexes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("indexes 20,000 documents")
	}
	db := testenv.Postgres(t)
	ctx := context.Background()
	// Documents written as UpsertSearchDocument writes them, from a vocabulary of 2,000 words.
	if _, err := db.Exec(ctx, `
		INSERT INTO search_documents (id, version, published, display_name, headline, bio, subjects, languages,
		                              lesson_modes, currency, hourly_rate_minor, tsv, words)
		SELECT gen_random_uuid(), 1, true, d.name, d.headline, d.bio,
		       jsonb_build_array(jsonb_build_object('subject_id', '8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f00' || lpad((i % 40)::text, 2, '0'), 'name', 'Subject', 'levels', jsonb_build_array('adult'))),
		       ARRAY[(ARRAY['en', 'de', 'fr', 'pt', 'ko'])[1 + i % 5]], ARRAY['online'], 'EUR', 1000 + i % 5000,
		       setweight(to_tsvector('simple', search_normalize(d.name || ' ' || d.headline)), 'A') ||
		       setweight(to_tsvector('simple', 'subject'), 'B') ||
		       setweight(to_tsvector('simple', search_normalize(d.bio)), 'C'),
		       search_normalize(concat_ws(' ', d.name, d.headline, 'Subject', d.bio))
		FROM generate_series(1, 20000) AS i,
		LATERAL (SELECT 'name' || (i % 2000) AS name, 'headline' || ((i * 7) % 2000) AS headline,
		                'word' || ((i * 13) % 2000) || ' word' || ((i * 17) % 2000) || ' common text' AS bio) AS d`); err != nil {
		t.Fatal(err)
	}
	// The lexicon, as AddSearchLexemes fills it.
	if _, err := db.Exec(ctx, `
		INSERT INTO search_lexemes (lexeme)
		SELECT DISTINCT l FROM search_documents d, unnest(tsvector_to_array(d.tsv)) AS l ORDER BY l`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "ANALYZE search_documents, search_lexemes"); err != nil {
		t.Fatal(err)
	}
	q := New(db)
	for _, tc := range []struct {
		name   string
		query  string
		facets []string
		match  string // the tsquery SearchMatchQuery must choose
		want   []string
	}{
		{"a rare word", "word1234", nil, "'word1234':*", []string{"search_documents_tsv_idx"}},
		{"a misspelt word", "headlne777", nil, "'headlne777':* | 'headline777'", []string{"search_documents_tsv_idx"}},
		{"a word in every document", "common", nil, "'common':*", []string{"search_documents_tsv_idx"}},
		{"a common word with a rare facet", "common", []string{"l:ko", "s:8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0007"}, "'common':*", []string{"search_documents_tsv_idx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facets := tc.facets
			if facets == nil {
				facets = []string{}
			}
			match, err := q.SearchMatchQuery(ctx, SearchMatchQueryParams{Query: tc.query, Enough: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(match, tc.match) {
				t.Errorf("match query %q, want it to start with %q", match, tc.match)
			}
			used := map[string]bool{}
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				// Counting the words' matches (a word in every document may stop after a
				// few rows of a sequential scan; a rare one must not read every document).
				{searchMatchQuery, []any{tc.query, int32(10)}},
				{searchDocumentsByRelevance, []any{math.Inf(1), uuid.Nil, int32(21), match, facets, "", int64(0), int64(100000000), int32(1000)}},
				{searchFacetCounts, []any{[]string{"s", "lv", "l", "m", "c"}, match, facets, "", int64(0), int64(100000000), int32(1000)}},
			} {
				var raw []byte
				if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+stmt.sql, stmt.args...).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				var plans []struct {
					Plan planNode `json:"Plan"`
				}
				if err := json.Unmarshal(raw, &plans); err != nil {
					t.Fatal(err)
				}
				plans[0].Plan.walk(func(n planNode) {
					if n.NodeType == "Seq Scan" && (stmt.sql != searchMatchQuery || tc.query != "common") {
						t.Errorf("plan reads every document:\n%s", raw)
					}
					used[n.IndexName] = true
				})
			}
			for _, idx := range tc.want {
				if !used[idx] {
					t.Errorf("plans do not use %s", idx)
				}
			}
		})
	}
}
