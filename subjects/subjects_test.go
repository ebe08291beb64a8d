package subjects

import (
	"context"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

func slugs(list []Subject) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		out[s.Slug] = true
	}
	return out
}

func TestFirstPagesAreKeptForTheirTTLAndLaterPagesAreAlwaysRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Postgres(t)
	s := New(db)
	now := time.Now()
	s.now = func() time.Time { return now }

	first, err := s.List(ctx, Filter{Limit: 5})
	if err != nil || len(first) != 5 {
		t.Fatalf("first page: %v %v", first, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO subjects (slug, name, category) VALUES ('aaa-cached', 'AAA Cached', 'Test'), ('zzz-fresh', 'ZZZ Fresh', 'Test')`); err != nil {
		t.Fatal(err)
	}

	again, err := s.List(ctx, Filter{Limit: 5})
	if err != nil || slugs(again)["aaa-cached"] {
		t.Fatalf("within the TTL the first page was read again: %v %v", again, err)
	}
	other, err := s.List(ctx, Filter{Limit: 6})
	if err != nil || !slugs(other)["aaa-cached"] {
		t.Fatalf("another page size shares the cached page: %v %v", other, err)
	}
	last := first[len(first)-1].Position()
	rest, err := s.List(ctx, Filter{After: &last, Limit: 100})
	if err != nil || !slugs(rest)["zzz-fresh"] {
		t.Fatalf("a later page was not read from the database: %v %v", rest, err)
	}

	now = now.Add(FirstPageTTL)
	fresh, err := s.List(ctx, Filter{Limit: 5})
	if err != nil || !slugs(fresh)["aaa-cached"] {
		t.Fatalf("after the TTL the first page was not read again: %v %v", fresh, err)
	}
}
