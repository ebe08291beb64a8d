package search

import (
	"testing"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestPostgresContract runs the engine contract against PostgreSQL, a fresh database per
// case.
func TestPostgresContract(t *testing.T) {
	t.Parallel()
	contract(t, func(t *testing.T) Engine { return NewPostgres(testenv.Postgres(t), testTokens) })
}
