package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/meilisearch/meilisearch-go"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
)

// MeilisearchOptions configure the Meilisearch engine.
type MeilisearchOptions struct {
	// URL is Meilisearch's address, e.g. http://127.0.0.1:7700.
	URL string
	// APIKey is a key allowed to manage the index and its documents; empty for an instance
	// without a master key.
	APIKey string
	// Index is the index uid; empty means "tutors".
	Index string
	// Tokens sign page tokens.
	Tokens *pagetoken.Codec
	// TaskTimeout bounds the wait for each write to be applied; 0 means 30 seconds.
	TaskTimeout time.Duration
	// Breaker, when set, guards every request to Meilisearch: transport errors, timeouts
	// and 502/503/504 count as failures, and while it is open requests fail at once
	// (errors.Is breaker.ErrOpen; a search answers Unavailable with retry information).
	Breaker *breaker.Breaker
	// RequestTimeout bounds each HTTP request to Meilisearch; 0 means 5 seconds. The
	// caller's deadline shortens it further.
	RequestTimeout time.Duration
}

// Meilisearch is the Meilisearch engine: one index whose settings (searchable, filterable and
// sortable attributes, typo tolerance, pagination limit) NewMeilisearch applies at start.
// Searchable attributes in ranking order: display name, headline, subject names, bio; every
// query word must match (a misspelling within Meilisearch's typo tolerance counts), the last
// one as a prefix. Filters and facet counts use the same facet tokens as PostgreSQL.
//
// Meilisearch has no conditional write, so the version guard reads the stored versions before
// each write, under a lock of this process: it holds against late events as long as writes
// of one tutor from different processes do not overlap. Two worker processes indexing events
// of the same tutor at the same moment can let the older write land last; the indexer must
// serialise a tutor's writes (one workflow per tutor at a time) to close that window.
// Writes wait until Meilisearch has applied them, so the next search sees them. Page tokens
// carry a signed offset (Meilisearch pages by offset), bounded by the index's maxTotalHits.
type Meilisearch struct {
	client  meilisearch.ServiceManager
	index   meilisearch.IndexManager
	uid     string
	tokens  *pagetoken.Codec
	timeout time.Duration
	// mu makes read-versions-then-write atomic within this process.
	mu sync.Mutex
}

// meiliMaxTotalHits is how far pages reach into one search's results.
const meiliMaxTotalHits = 10000

// meiliDoc is a document as the Meilisearch index stores it.
type meiliDoc struct {
	ID              string    `json:"id"`
	Version         int64     `json:"version"`
	Deleted         bool      `json:"deleted"`
	Published       bool      `json:"published"`
	DisplayName     string    `json:"display_name"`
	Headline        string    `json:"headline"`
	SubjectNames    string    `json:"subject_names"`
	Bio             string    `json:"bio"`
	Subjects        []Subject `json:"subjects"`
	Languages       []string  `json:"languages"`
	LessonModes     []string  `json:"lesson_modes"`
	Currency        string    `json:"currency"`
	HourlyRateMinor int64     `json:"hourly_rate_minor"`
	// Facets are the filter and facet tokens, as search_document_facets makes them.
	Facets []string `json:"facets"`
}

// NewMeilisearch connects to Meilisearch, creates the index if it is missing and applies its
// settings, waiting until they are in force.
func NewMeilisearch(ctx context.Context, o MeilisearchOptions) (*Meilisearch, error) {
	if o.Index == "" {
		o.Index = "tutors"
	}
	if o.TaskTimeout == 0 {
		o.TaskTimeout = 30 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	transport := breaker.NewHTTPTransport(o.RequestTimeout)
	var rt http.RoundTripper = transport
	if o.Breaker != nil {
		rt = breaker.Transport(o.Breaker, transport)
	}
	opts := []meilisearch.Option{meilisearch.WithCustomClient(&http.Client{Transport: rt, Timeout: o.RequestTimeout})}
	if o.APIKey != "" {
		opts = append(opts, meilisearch.WithAPIKey(o.APIKey))
	}
	client := meilisearch.New(o.URL, opts...)
	m := &Meilisearch{client: client, index: client.Index(o.Index), uid: o.Index, tokens: o.Tokens, timeout: o.TaskTimeout}
	if err := m.Health(ctx); err != nil {
		return nil, err
	}
	task, err := client.CreateIndex(ctx, &meilisearch.IndexConfig{Uid: o.Index, PrimaryKey: "id"})
	if err != nil {
		return nil, fmt.Errorf("search: meilisearch: create index %s: %w", o.Index, err)
	}
	// An index that exists already fails this task; the settings below apply either way.
	if _, err := m.wait(ctx, task, true); err != nil {
		return nil, err
	}
	if err := m.applySettings(ctx, o.Index); err != nil {
		return nil, err
	}
	return m, nil
}

// meiliSettings are the settings of the live index and of every build.
func meiliSettings() *meilisearch.Settings {
	return &meilisearch.Settings{
		SearchableAttributes: []string{"display_name", "headline", "subject_names", "bio"},
		FilterableAttributes: []string{"id", "published", "deleted", "facets", "currency", "hourly_rate_minor"},
		SortableAttributes:   []string{"currency", "hourly_rate_minor", "id"},
		DisplayedAttributes:  []string{"*"},
		TypoTolerance: &meilisearch.TypoTolerance{
			Enabled:             true,
			MinWordSizeForTypos: meilisearch.MinWordSizeForTypos{OneTypo: 5, TwoTypos: 9},
			DisableOnAttributes: []string{},
			DisableOnWords:      []string{},
		},
		Pagination: &meilisearch.Pagination{MaxTotalHits: meiliMaxTotalHits},
	}
}

// applySettings applies meiliSettings to index (creating it if it is missing) and waits
// until they are in force.
func (m *Meilisearch) applySettings(ctx context.Context, uid string) error {
	task, err := m.client.Index(uid).UpdateSettings(ctx, meiliSettings())
	if err != nil {
		return fmt.Errorf("search: meilisearch: settings of %s: %w", uid, err)
	}
	_, err = m.wait(ctx, task, false)
	return err
}

// Name is "meilisearch".
func (m *Meilisearch) Name() string { return "meilisearch" }

// wait waits for task to be applied; a failed task is an error unless allowFailure.
func (m *Meilisearch) wait(ctx context.Context, task *meilisearch.TaskInfo, allowFailure bool) (*meilisearch.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	t, err := m.client.WaitForTask(ctx, task.TaskUID, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("search: meilisearch: wait for task %d: %w", task.TaskUID, err)
	}
	if t.Status != meilisearch.TaskStatusSucceeded && !allowFailure {
		return nil, fmt.Errorf("search: meilisearch: task %d %s: %s", task.TaskUID, t.Status, t.Error.Message)
	}
	return t, nil
}

// Upsert stores d unless the index holds the tutor at d.Version or newer.
func (m *Meilisearch) Upsert(ctx context.Context, d Document) error {
	return m.write(ctx, m.index, []Document{d}, false)
}

// BulkUpsert upserts every document with one write.
func (m *Meilisearch) BulkUpsert(ctx context.Context, ds []Document) error {
	if len(ds) > MaxBulk {
		return tutorhub.Invalid("documents", "documents.max_items", fmt.Sprintf("at most %d documents at once", MaxBulk))
	}
	return m.write(ctx, m.index, ds, false)
}

// Delete stores a tombstone of tutor id at version.
func (m *Meilisearch) Delete(ctx context.Context, id uuid.UUID, version int64) error {
	return m.write(ctx, m.index, []Document{{ID: id, Version: version}}, true)
}

// write stores the documents (tombstones when deleted) in index (the live one or a build)
// that are newer than the ones it holds.
func (m *Meilisearch) write(ctx context.Context, index meilisearch.IndexManager, ds []Document, deleted bool) error {
	newest := map[string]meiliDoc{}
	var order []string
	for _, d := range ds {
		if err := d.check(); err != nil {
			return err
		}
		md := meiliDocOf(d, deleted)
		prev, seen := newest[md.ID]
		if !seen {
			order = append(order, md.ID)
		}
		if !seen || md.Version > prev.Version {
			newest[md.ID] = md
		}
	}
	if len(order) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var stored meilisearch.DocumentsResult
	err := index.GetDocuments(ctx, &meilisearch.DocumentsQuery{Ids: order, Fields: []string{"id", "version"}, Limit: int64(len(order))}, &stored)
	if err != nil {
		return fmt.Errorf("search: meilisearch: read versions: %w", err)
	}
	for _, h := range stored.Results {
		var v struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		}
		if err := h.DecodeInto(&v); err != nil {
			return fmt.Errorf("search: meilisearch: read versions: %w", err)
		}
		if md, ok := newest[v.ID]; ok && md.Version <= v.Version {
			delete(newest, v.ID)
		}
	}
	docs := make([]meiliDoc, 0, len(newest))
	for _, id := range order {
		if md, ok := newest[id]; ok {
			docs = append(docs, md)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	pk := "id"
	task, err := index.AddDocuments(ctx, docs, &meilisearch.DocumentOptions{PrimaryKey: &pk})
	if err != nil {
		return fmt.Errorf("search: meilisearch: write %d documents: %w", len(docs), err)
	}
	_, err = m.wait(ctx, task, false)
	return err
}

func meiliDocOf(d Document, deleted bool) meiliDoc {
	md := meiliDoc{
		ID: d.ID.String(), Version: d.Version, Deleted: deleted, Published: d.Published && !deleted,
		DisplayName: d.DisplayName, Headline: d.Headline, SubjectNames: d.subjectNames(), Bio: d.Bio,
		Subjects: nonNil(d.Subjects), Languages: nonNil(d.Languages), LessonModes: nonNil(d.LessonModes),
		Currency: d.Currency, HourlyRateMinor: d.HourlyRateMinor, Facets: documentFacets(&d),
	}
	if deleted {
		md.Subjects, md.Languages, md.LessonModes, md.Facets = []Subject{}, []string{}, []string{}, []string{}
	}
	return md
}

// documentFacets are d's filter tokens, the same as the SQL function search_document_facets.
func documentFacets(d *Document) []string {
	set := map[string]bool{}
	for _, s := range d.Subjects {
		set["s:"+s.ID.String()] = true
		for _, l := range s.Levels {
			set["sl:"+s.ID.String()+":"+l] = true
			set["lv:"+l] = true
		}
	}
	for _, l := range d.Languages {
		set["l:"+strings.ToLower(l)] = true
		base, _, _ := strings.Cut(l, "-")
		set["l:"+strings.ToLower(base)] = true
	}
	for _, mode := range d.LessonModes {
		set["m:"+mode] = true
	}
	if d.Currency != "" {
		set["c:"+d.Currency] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	return out
}

// Search returns one page of visible documents matching q and, when asked, facet counts.
func (m *Meilisearch) Search(ctx context.Context, q Query) (Result, error) {
	c, err := check(q)
	if err != nil {
		return Result{}, err
	}
	after, err := c.after(m.tokens, m.Name())
	if err != nil {
		return Result{}, err
	}
	offset := 0
	if after != nil {
		offset = after.Offset
	}
	if offset < 0 || offset >= meiliMaxTotalHits {
		return Result{}, tutorhub.Invalid("page_token", "page_token.valid", "the page token is invalid, or belongs to another search")
	}
	filter := []string{"published = true", "deleted = false"}
	for _, f := range c.facets {
		filter = append(filter, "facets = "+strconv.Quote(f))
	}
	if c.Filter.Currency != "" {
		filter = append(filter, "currency = "+strconv.Quote(c.Filter.Currency))
	}
	if c.Filter.MinRate != 0 || c.Filter.MaxRate != 0 {
		filter = append(filter, fmt.Sprintf("hourly_rate_minor %d TO %d", c.Filter.MinRate, c.maxRate))
	}
	req := &meilisearch.SearchRequest{
		Offset: int64(offset), Limit: int64(c.Limit + 1), Filter: strings.Join(filter, " AND "),
		MatchingStrategy: meilisearch.All, ShowRankingScore: true,
	}
	if c.Sort == SortPrice {
		req.Sort = []string{"currency:asc", "hourly_rate_minor:asc", "id:asc"}
	}
	if len(c.Facets) > 0 {
		req.Facets = []string{"facets"}
	}
	res, err := m.index.Search(ctx, c.Text, req)
	if err != nil {
		return Result{}, fmt.Errorf("search: meilisearch: %w", err)
	}
	out := Result{}
	for _, raw := range res.Hits {
		hit, err := decodeMeiliHit(raw)
		if err != nil {
			return Result{}, err
		}
		if c.Sort == SortPrice {
			hit.Score = 0
		}
		out.Hits = append(out.Hits, hit)
	}
	if len(out.Hits) > c.Limit {
		out.Hits = out.Hits[:c.Limit]
		if offset+c.Limit < meiliMaxTotalHits {
			last := out.Hits[c.Limit-1]
			if out.NextPageToken, err = m.tokens.Encode(c.scope(m.Name()), position{ID: last.ID, Offset: offset + c.Limit}); err != nil {
				return Result{}, fmt.Errorf("search: %w", err)
			}
		}
	}
	if len(c.Facets) > 0 {
		var dist map[string]map[string]int64
		if len(res.FacetDistribution) > 0 {
			if err := json.Unmarshal(res.FacetDistribution, &dist); err != nil {
				return Result{}, fmt.Errorf("search: meilisearch: facet distribution: %w", err)
			}
		}
		kinds := facetKinds(c.Facets)
		counts := map[string]int64{}
		for token, n := range dist["facets"] {
			kind, _, _ := strings.Cut(token, ":")
			for _, k := range kinds {
				if k == kind {
					counts[token] = n
				}
			}
		}
		out.Facets = facetValues(c.Facets, counts)
	}
	return out, nil
}

// decodeMeiliHit reads one search hit: a stored document and its _rankingScore.
func decodeMeiliHit(raw meilisearch.Hit) (Hit, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return Hit{}, fmt.Errorf("search: meilisearch: hit: %w", err)
	}
	var md struct {
		meiliDoc
		Score float64 `json:"_rankingScore"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return Hit{}, fmt.Errorf("search: meilisearch: hit: %w", err)
	}
	id, err := uuid.Parse(md.ID)
	if err != nil {
		return Hit{}, fmt.Errorf("search: meilisearch: hit id %q: %w", md.ID, err)
	}
	return Hit{Document: Document{
		ID: id, DisplayName: md.DisplayName, Headline: md.Headline, Bio: md.Bio, Subjects: md.Subjects,
		Languages: md.Languages, LessonModes: md.LessonModes, Currency: md.Currency,
		HourlyRateMinor: md.HourlyRateMinor, Published: md.Published, Version: md.Version,
	}, Score: md.Score}, nil
}

// Health reports whether Meilisearch answers and is available.
func (m *Meilisearch) Health(ctx context.Context) error {
	h, err := m.client.Health(ctx)
	if err != nil {
		return fmt.Errorf("search: meilisearch: %w", err)
	}
	if h.Status != "available" {
		return errors.New("search: meilisearch: status " + h.Status)
	}
	return nil
}

// DeleteIndex drops the engine's index with every document (tests and reindexing).
func (m *Meilisearch) DeleteIndex(ctx context.Context) error {
	task, err := m.client.DeleteIndex(ctx, m.uid)
	if err != nil {
		return fmt.Errorf("search: meilisearch: delete index: %w", err)
	}
	_, err = m.wait(ctx, task, false)
	return err
}
