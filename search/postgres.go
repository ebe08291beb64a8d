package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/queries"
)

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Postgres is the PostgreSQL engine: documents in the search_documents table of the
// application's database (migrations 00020 and 00030), searched with a weighted tsvector
// through its GIN index: words as prefixes, and, when those find fewer than TypoFallbackBelow
// documents, close words of the lexicon too (pg_trgm over search_lexemes: typos). At most
// Candidates matches are ranked and counted in facets. Filtered and counted with a
// GIN-indexed facet array, paged with keyset page tokens. Writes are visible to the next
// search.
type Postgres struct {
	db     DB
	q      *queries.Queries
	reads  *queries.Queries // searches; q unless WithReads
	tokens *pagetoken.Codec
}

// Bounds of the PostgreSQL engine's work per search.
const (
	// Candidates is the most matching documents a relevance search ranks and a facet count
	// counts: a word found in most of the index costs no more than this. Results and counts
	// are exact when fewer documents match.
	Candidates = 1000
	// TypoFallbackBelow: when the query's words as prefixes match fewer visible documents
	// than this, words of the index close to them (typos) match too.
	TypoFallbackBelow = 10
)

// NewPostgres returns the PostgreSQL engine over db, signing page tokens with tokens.
func NewPostgres(db DB, tokens *pagetoken.Codec) *Postgres {
	q := queries.New(db)
	return &Postgres{db: db, q: q, reads: q, tokens: tokens}
}

// WithReads returns the engine with its searches read through reads (a replica router,
// database.Router); writes and rebuilds still go to the engine's database.
func (p *Postgres) WithReads(reads queries.DBTX) *Postgres {
	c := *p
	c.reads = queries.New(reads)
	return &c
}

// Name is "postgres".
func (p *Postgres) Name() string { return "postgres" }

// Upsert stores d unless a document of the same tutor at d.Version or newer is stored.
func (p *Postgres) Upsert(ctx context.Context, d Document) error {
	return p.upsert(ctx, p.q, d, false, false)
}

// BulkUpsert upserts every document in one transaction.
func (p *Postgres) BulkUpsert(ctx context.Context, ds []Document) error {
	if len(ds) > MaxBulk {
		return tutorhub.Invalid("documents", "documents.max_items", fmt.Sprintf("at most %d documents at once", MaxBulk))
	}
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("search: bulk upsert: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := p.q.WithTx(tx)
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		if err := p.upsert(ctx, q, d, false, true); err != nil {
			return err
		}
		ids = append(ids, d.ID.String())
	}
	if err := q.AddSearchLexemes(ctx, ids); err != nil {
		return fmt.Errorf("search: bulk upsert: lexicon: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("search: bulk upsert: commit: %w", err)
	}
	return nil
}

// Delete stores a tombstone of tutor id at version.
func (p *Postgres) Delete(ctx context.Context, id uuid.UUID, version int64) error {
	return p.upsert(ctx, p.q, Document{ID: id, Version: version}, true, false)
}

// upsert writes d (a tombstone when deleted) and adds its words to the typo lexicon, unless
// lexemesLater: then the caller adds them (BulkUpsert, once for all its documents, so its
// lexicon writes take their locks in lexeme order).
func (p *Postgres) upsert(ctx context.Context, q *queries.Queries, d Document, deleted, lexemesLater bool) error {
	if err := d.check(); err != nil {
		return err
	}
	subjects := d.Subjects
	if subjects == nil {
		subjects = []Subject{}
	}
	js, err := json.Marshal(subjects)
	if err != nil {
		return fmt.Errorf("search: document %s: %w", d.ID, err)
	}
	n, err := q.UpsertSearchDocument(ctx, queries.UpsertSearchDocumentParams{
		ID: d.ID, Version: d.Version, Deleted: deleted, Published: d.Published && !deleted,
		DisplayName: d.DisplayName, Headline: d.Headline, Bio: d.Bio, Subjects: string(js),
		Languages: nonNil(d.Languages), LessonModes: nonNil(d.LessonModes), Currency: d.Currency,
		HourlyRateMinor: d.HourlyRateMinor, SubjectNames: d.subjectNames(),
	})
	if err != nil {
		return fmt.Errorf("search: upsert %s at version %d: %w", d.ID, d.Version, err)
	}
	if n > 0 && !deleted && !lexemesLater {
		if err := q.AddSearchLexemes(ctx, []string{d.ID.String()}); err != nil {
			return fmt.Errorf("search: upsert %s: lexicon: %w", d.ID, err)
		}
	}
	return nil
}

// Search returns one page of visible documents matching q and, when asked, facet counts.
func (p *Postgres) Search(ctx context.Context, q Query) (Result, error) {
	c, err := check(q)
	if err != nil {
		return Result{}, err
	}
	after, err := c.after(p.tokens, p.Name())
	if err != nil {
		return Result{}, err
	}
	facets := nonNil(c.facets)
	limit := int32(c.Limit) + 1 // one past the page: is there another?
	match, err := p.reads.SearchMatchQuery(ctx, queries.SearchMatchQueryParams{Query: c.Text, Enough: TypoFallbackBelow})
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	var hits []Hit
	if c.Sort == SortPrice {
		params := queries.SearchDocumentsByPriceParams{
			Match: match, Facets: facets, Currency: c.Filter.Currency, MinRate: c.Filter.MinRate, MaxRate: c.maxRate,
			AfterRate: -1, PageLimit: limit,
		}
		if after != nil {
			params.AfterCurrency, params.AfterRate, params.AfterID = after.Currency, after.Rate, after.ID
		}
		rows, err := p.reads.SearchDocumentsByPrice(ctx, params)
		if err != nil {
			return Result{}, fmt.Errorf("search: %w", err)
		}
		for _, r := range rows {
			h, err := hitOf(queries.SearchDocumentsByRelevanceRow(r))
			if err != nil {
				return Result{}, err
			}
			hits = append(hits, h)
		}
	} else {
		params := queries.SearchDocumentsByRelevanceParams{
			Match: match, Facets: facets, Currency: c.Filter.Currency, MinRate: c.Filter.MinRate, MaxRate: c.maxRate,
			AfterScore: math.Inf(1), PageLimit: limit, Candidates: Candidates,
		}
		if after != nil {
			params.AfterScore, params.AfterID = after.Score, after.ID
		}
		rows, err := p.reads.SearchDocumentsByRelevance(ctx, params)
		if err != nil {
			return Result{}, fmt.Errorf("search: %w", err)
		}
		for _, r := range rows {
			h, err := hitOf(r)
			if err != nil {
				return Result{}, err
			}
			hits = append(hits, h)
		}
	}
	res := Result{Hits: hits}
	if len(hits) > c.Limit {
		res.Hits = hits[:c.Limit]
		last := res.Hits[c.Limit-1]
		pos := position{Score: last.Score, ID: last.ID}
		if c.Sort == SortPrice {
			pos = position{Currency: last.Currency, Rate: last.HourlyRateMinor, ID: last.ID}
		}
		if res.NextPageToken, err = p.tokens.Encode(c.scope(p.Name()), pos); err != nil {
			return Result{}, fmt.Errorf("search: %w", err)
		}
	}
	if len(c.Facets) > 0 {
		rows, err := p.reads.SearchFacetCounts(ctx, queries.SearchFacetCountsParams{
			Match: match, Facets: facets, Currency: c.Filter.Currency, MinRate: c.Filter.MinRate, MaxRate: c.maxRate,
			Kinds: facetKinds(c.Facets), Candidates: Candidates,
		})
		if err != nil {
			return Result{}, fmt.Errorf("search: facet counts: %w", err)
		}
		counts := make(map[string]int64, len(rows))
		for _, r := range rows {
			counts[r.Value] = r.Documents
		}
		res.Facets = facetValues(c.Facets, counts)
	}
	return res, nil
}

// Health reports whether the database answers and holds the index table.
func (p *Postgres) Health(ctx context.Context) error {
	if _, err := p.db.Exec(ctx, "SELECT 1 FROM search_documents LIMIT 0"); err != nil {
		return fmt.Errorf("search: postgres: %w", err)
	}
	return nil
}

func hitOf(r queries.SearchDocumentsByRelevanceRow) (Hit, error) {
	h := Hit{Document: Document{
		ID: r.ID, Version: r.Version, DisplayName: r.DisplayName, Headline: r.Headline, Bio: r.Bio,
		Languages: r.Languages, LessonModes: r.LessonModes, Currency: r.Currency,
		HourlyRateMinor: r.HourlyRateMinor, Published: true,
	}, Score: r.Score}
	if err := json.Unmarshal([]byte(r.Subjects), &h.Subjects); err != nil {
		return Hit{}, fmt.Errorf("search: document %s subjects: %w", r.ID, err)
	}
	return h, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
