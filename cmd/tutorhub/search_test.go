package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/search"
)

// TestSearchEngineFollowsTheConfiguration: postgres is the default engine, and a configured
// Meilisearch that does not answer stops serve before it listens.
func TestSearchEngineFollowsTheConfiguration(t *testing.T) {
	t.Parallel()
	tokens := pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))
	e, err := searchEngine(context.Background(), &config.Config{Search: config.Search{Engine: config.SearchEnginePostgres}}, nil, tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(*search.Postgres); !ok || e.Name() != "postgres" {
		t.Fatalf("default engine %T", e)
	}
	_, err = searchEngine(context.Background(), &config.Config{Search: config.Search{Engine: config.SearchEngineMeilisearch, MeiliURL: "http://127.0.0.1:1"}}, nil, tokens, nil)
	if err == nil || !strings.Contains(err.Error(), "search engine") {
		t.Fatalf("an unreachable Meilisearch: %v, want an error naming the search engine", err)
	}
}
