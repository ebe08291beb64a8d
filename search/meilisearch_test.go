package search

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/meilisearch/meilisearch-go"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestMeilisearchContract runs the engine contract against the Meilisearch at
// TUTORHUB_MEILI_URL (with TUTORHUB_MEILI_API_KEY), an index of its own per case, dropped
// afterwards. Meilisearch cannot be installed on the development machines this project is
// built on, so without an answering TUTORHUB_MEILI_URL the test is skipped, saying why; the
// README says how to run it where Meilisearch runs (docker run getmeili/meilisearch).
func TestMeilisearchContract(t *testing.T) {
	t.Parallel()
	url := os.Getenv("TUTORHUB_MEILI_URL")
	if url == "" {
		t.Skip("TUTORHUB_MEILI_URL is not set: Meilisearch cannot be installed here; run this test where it runs (docs/search.md)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := MeilisearchOptions{URL: url, APIKey: os.Getenv("TUTORHUB_MEILI_API_KEY"), Tokens: testTokens}
	probe, err := NewMeilisearch(ctx, MeilisearchOptions{URL: opts.URL, APIKey: opts.APIKey, Index: "tutorhub_probe_" + testenv.RandomID(), Tokens: testTokens})
	if err != nil {
		t.Skipf("Meilisearch at TUTORHUB_MEILI_URL=%s does not answer: %v", url, err)
	}
	_ = probe.DeleteIndex(ctx)
	contract(t, func(t *testing.T) Engine {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		o := opts
		o.Index = "tutorhub_test_" + testenv.RandomID()
		m, err := NewMeilisearch(ctx, o)
		if err != nil {
			t.Fatalf("Meilisearch: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			builds, err := m.Builds(ctx)
			if err != nil {
				t.Errorf("builds of index %s: %v", o.Index, err)
			}
			for _, b := range builds {
				if err := m.DropBuild(ctx, b); err != nil {
					t.Errorf("drop build %s of index %s: %v", b, o.Index, err)
				}
			}
			if err := m.DeleteIndex(ctx); err != nil {
				t.Errorf("drop index %s: %v", o.Index, err)
			}
		})
		return m
	})
}

// TestMeiliDocumentRoundTrip checks, without a Meilisearch, that a document written to the
// index reads back from a search hit as the same document with its ranking score.
func TestMeiliDocumentRoundTrip(t *testing.T) {
	t.Parallel()
	d := doc("Rui Round", "Trip", "albatross", maths, physics)
	d.Version = 7
	b, err := json.Marshal(meiliDocOf(d, false))
	if err != nil {
		t.Fatal(err)
	}
	var raw meilisearch.Hit
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["_rankingScore"] = json.RawMessage("0.875")
	h, err := decodeMeiliHit(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.Score != 0.875 || !reflect.DeepEqual(h.Document, d) {
		t.Fatalf("read back %+v\nwrote       %+v", h, d)
	}
	tomb := meiliDocOf(Document{ID: d.ID, Version: 8}, true)
	if !tomb.Deleted || tomb.Published || len(tomb.Facets) != 0 {
		t.Fatalf("tombstone %+v", tomb)
	}
}
