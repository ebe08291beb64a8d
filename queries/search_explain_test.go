package queries

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestSearchQueriesUseTheGINIndexes proves on 20,000 documents that a text search reads the
// tsvector and trigram indexes (never every document), and a selective filter the facet
// index.
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
	if _, err := db.Exec(ctx, "ANALYZE search_documents"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		query  string
		facets []string
		want   []string
	}{
		{"a rare word", "word1234", nil, []string{"search_documents_tsv_idx", "search_documents_words_idx"}},
		{"a misspelt word", "headlne777", nil, []string{"search_documents_words_idx"}},
		{"a common word with a rare facet", "common", []string{"l:ko", "s:8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0007"}, []string{"search_documents_facets_idx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facets := tc.facets
			if facets == nil {
				facets = []string{}
			}
			var raw []byte
			err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+searchDocumentsByRelevance,
				tc.query, facets, "", int64(0), int64(100000000), math.Inf(1), uuid.Nil, int32(21)).Scan(&raw)
			if err != nil {
				t.Fatal(err)
			}
			var plans []struct {
				Plan planNode `json:"Plan"`
			}
			if err := json.Unmarshal(raw, &plans); err != nil {
				t.Fatal(err)
			}
			used := map[string]bool{}
			plans[0].Plan.walk(func(n planNode) {
				if n.NodeType == "Seq Scan" {
					t.Errorf("plan reads every document:\n%s", raw)
				}
				used[n.IndexName] = true
			})
			for _, idx := range tc.want {
				if !used[idx] {
					t.Errorf("plan does not use %s:\n%s", idx, raw)
				}
			}
		})
	}
}
