// Package search is tutor discovery: one Engine interface over a search index of tutor
// profiles, with two implementations, PostgreSQL (NewPostgres, the default: a weighted
// tsvector, unaccent and pg_trgm in the application's own database) and Meilisearch
// (NewMeilisearch). Both pass the same contract tests (contract_test.go).
//
// The index holds one Document per tutor, built from a tutors.Tutor (FromTutor). Documents
// carry the profile version: a write with a version older than (or equal to) the stored one
// changes nothing, and a deletion leaves a tombstone at its version, so events may be applied
// in any order, late or twice, and the index ends at the newest profile. Searches see only
// published, non-deleted documents.
//
// Queries are checked here, the same for every engine: bad input (an empty or huge query,
// unknown filter values, a tampered or foreign page token) is a tutorhub EINVALID error whose
// violations name the field as SearchTutorsRequest spells it.
package search

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
)

// Limits of a query.
const (
	// MaxQueryChars is the longest query text, in characters.
	MaxQueryChars = 200
	// MaxQueryWords is the most words (runs of letters and digits) a query may hold.
	MaxQueryWords = 12
	// DefaultLimit is the page size when a query names none; MaxLimit the largest.
	DefaultLimit = 20
	MaxLimit     = 100
	// MaxBulk is the most documents one BulkUpsert takes.
	MaxBulk = 1000
)

// Engine is a search index of tutor documents. Every method is safe for concurrent use.
type Engine interface {
	// Name is the engine's name as configured: "postgres" or "meilisearch".
	Name() string
	// Upsert stores d unless the index holds the same tutor at d.Version or newer (then it
	// is a no-op, not an error). When it returns, Search sees the write.
	Upsert(ctx context.Context, d Document) error
	// BulkUpsert is Upsert of each document (at most MaxBulk), with the same guarantees.
	BulkUpsert(ctx context.Context, ds []Document) error
	// Delete removes tutor id from search results by storing a tombstone at version, unless
	// the index holds the tutor at version or newer; an upsert older than the tombstone is
	// then a no-op too.
	Delete(ctx context.Context, id uuid.UUID, version int64) error
	// Search returns one page of published, non-deleted documents matching q.
	Search(ctx context.Context, q Query) (Result, error)
	// Health reports whether the engine answers.
	Health(ctx context.Context) error
}

// Document is what the index holds of one tutor profile.
type Document struct {
	ID          uuid.UUID
	DisplayName string
	Headline    string
	Bio         string
	Subjects    []Subject
	// Languages are BCP 47 tags as the profile stores them (canonical form).
	Languages []string
	// LessonModes are names from tutors.LessonModes.
	LessonModes []string
	// Currency is an ISO 4217 code; HourlyRateMinor is in its minor units.
	Currency        string
	HourlyRateMinor int64
	Published       bool
	// Version is the profile version the document was built from.
	Version int64
}

// Subject is a subject a tutor teaches, with its catalogue name (searched) and levels.
type Subject struct {
	ID     uuid.UUID `json:"subject_id"`
	Name   string    `json:"name"`
	Levels []string  `json:"levels"`
}

// FromTutor builds the document of t; subjectNames gives the catalogue name of each subject
// id (a missing name is searched as empty).
func FromTutor(t tutors.Tutor, subjectNames map[uuid.UUID]string) Document {
	d := Document{
		ID: t.ID, DisplayName: t.DisplayName, Headline: t.Profile.Headline, Bio: t.Profile.Bio,
		Languages: slices.Clone(t.Profile.Languages), LessonModes: slices.Clone(t.Profile.LessonModes),
		Currency: t.Profile.Currency, HourlyRateMinor: t.Profile.HourlyRateMinor,
		Published: t.Published, Version: t.Version,
	}
	for _, s := range t.Profile.Subjects {
		d.Subjects = append(d.Subjects, Subject{ID: s.SubjectID, Name: subjectNames[s.SubjectID], Levels: slices.Clone(s.Levels)})
	}
	return d
}

// check refuses a document no engine may store.
func (d *Document) check() error {
	if d.ID == uuid.Nil {
		return tutorhub.Invalid("id", "document.id", "a document needs the tutor id")
	}
	if d.Version <= 0 {
		return tutorhub.Invalid("version", "document.version", "a document needs the profile version")
	}
	return nil
}

// subjectNames is the subjects' names, searched with weight B.
func (d *Document) subjectNames() string {
	names := make([]string, 0, len(d.Subjects))
	for _, s := range d.Subjects {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// Sort is the order of results.
type Sort string

// Sorts.
const (
	// SortRelevance orders by how well a document matches the text, best first (the default).
	SortRelevance Sort = "relevance"
	// SortPrice orders by currency, then hourly rate (cheapest first), then id: money sorts
	// within one currency.
	SortPrice Sort = "price"
)

// Facet names a dimension whose value counts a search returns.
type Facet string

// Facets.
const (
	FacetSubject    Facet = "subject"     // values: subject ids
	FacetLevel      Facet = "level"       // values: names from tutors.Levels
	FacetLanguage   Facet = "language"    // values: primary language subtags, lower case ("en")
	FacetLessonMode Facet = "lesson_mode" // values: names from tutors.LessonModes
	FacetCurrency   Facet = "currency"    // values: ISO 4217 codes
)

// Facets lists every facet, in the order results report them.
var Facets = []Facet{FacetSubject, FacetLevel, FacetLanguage, FacetLessonMode, FacetCurrency}

// Filter narrows a search; zero fields do not filter, and every field set must match.
type Filter struct {
	SubjectID uuid.UUID
	// Level (a name from tutors.Levels) alone matches tutors teaching any subject at that
	// level; with SubjectID, that subject at that level.
	Level string
	// Language is a BCP 47 tag; "en" also matches "en-GB".
	Language   string
	LessonMode string
	// Currency is an ISO 4217 code tutors charge in; required with MinRate or MaxRate.
	Currency string
	// MinRate and MaxRate bound the hourly rate in minor units of Currency; 0 is unbounded.
	MinRate, MaxRate int64
}

// Query is one search request.
type Query struct {
	// Text is free text: every word matches as a prefix, close misspellings match too.
	// Required: at least one letter or digit, at most MaxQueryChars characters.
	Text   string
	Filter Filter
	// Facets are the dimensions to count values of among all matches.
	Facets []Facet
	// Sort is the order; empty means SortRelevance.
	Sort Sort
	// PageToken continues a previous search (Result.NextPageToken) with the same text,
	// filters and sort; empty starts at the first page.
	PageToken string
	// Limit is the page size, 1 to MaxLimit; 0 means DefaultLimit.
	Limit int
}

// Result is one page of a search.
type Result struct {
	Hits []Hit
	// Facets holds, for each facet the query asked for, the number of matching documents
	// per value, most frequent first.
	Facets map[Facet][]FacetCount
	// NextPageToken continues the search; empty on the last page.
	NextPageToken string
}

// Hit is one matching document.
type Hit struct {
	Document
	// Score is the engine's relevance score (higher is better); 0 in price order.
	Score float64
}

// FacetCount is how many matching documents hold one facet value.
type FacetCount struct {
	Value string
	Count int64
}

// checked is a query that passed check, in the terms both engines use.
type checked struct {
	Query
	// words are the query's words, lower case.
	words []string
	// facets are the filter's facet tokens (as search_document_facets spells them).
	facets []string
	// maxRate is MaxRate, or tutors.MaxHourlyRateMinor when unbounded.
	maxRate int64
}

// check validates q and fills in defaults; every violation is reported at once.
func check(q Query) (checked, error) {
	v := &tutorhub.Violations{}
	c := checked{Query: q}
	c.Text = strings.TrimSpace(q.Text)
	switch n := utf8.RuneCountInString(c.Text); {
	case !utf8.ValidString(c.Text):
		v.Add("query", "query.utf8", "must be valid UTF-8")
	case n == 0:
		v.Add("query", "query.required", "type something to search for")
	case n > MaxQueryChars:
		v.Add("query", "query.max_len", "at most %d characters, got %d", MaxQueryChars, n)
	default:
		c.words = strings.FieldsFunc(strings.ToLower(c.Text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		switch {
		case len(c.words) == 0:
			v.Add("query", "query.words", "the query needs at least one letter or digit")
		case len(c.words) > MaxQueryWords:
			v.Add("query", "query.max_words", "at most %d words, got %d", MaxQueryWords, len(c.words))
		}
	}

	f := q.Filter
	if f.Level != "" && !slices.Contains(tutors.Levels, f.Level) {
		v.Add("level", "level.known", "unknown level %q", f.Level)
	}
	if f.LessonMode != "" && !slices.Contains(tutors.LessonModes, f.LessonMode) {
		v.Add("lesson_mode", "lesson_mode.known", "unknown lesson mode %q", f.LessonMode)
	}
	if f.Currency != "" && !tutors.SupportedCurrency(f.Currency) {
		v.Add("currency", "currency.supported", "%q is not a supported ISO 4217 currency", f.Currency)
	}
	if f.SubjectID != uuid.Nil {
		if f.Level != "" {
			c.facets = append(c.facets, "sl:"+f.SubjectID.String()+":"+f.Level)
		} else {
			c.facets = append(c.facets, "s:"+f.SubjectID.String())
		}
	} else if f.Level != "" {
		c.facets = append(c.facets, "lv:"+f.Level)
	}
	if f.Language != "" {
		before := len(v.List)
		if tag := tutorhub.CheckLanguage(v, "language", f.Language); len(v.List) == before {
			c.Filter.Language = strings.ToLower(tag)
			c.facets = append(c.facets, "l:"+c.Filter.Language)
		}
	}
	if f.LessonMode != "" {
		c.facets = append(c.facets, "m:"+f.LessonMode)
	}
	for _, r := range []struct {
		field string
		rate  int64
	}{{"min_hourly_rate_minor", f.MinRate}, {"max_hourly_rate_minor", f.MaxRate}} {
		if r.rate < 0 || r.rate > tutors.MaxHourlyRateMinor {
			v.Add(r.field, "hourly_rate.range", "must be between 0 and %d", int64(tutors.MaxHourlyRateMinor))
		}
	}
	if f.MaxRate != 0 && f.MaxRate < f.MinRate {
		v.Add("max_hourly_rate_minor", "search.price_range", "must not be less than min_hourly_rate_minor")
	}
	if (f.MinRate != 0 || f.MaxRate != 0) && f.Currency == "" {
		v.Add("currency", "search.currency_required", "a price filter needs a currency: prices compare only within one currency")
	}
	c.maxRate = f.MaxRate
	if c.maxRate == 0 {
		c.maxRate = tutors.MaxHourlyRateMinor
	}

	for i, fc := range q.Facets {
		if !slices.Contains(Facets, fc) || slices.Index(q.Facets, fc) != i {
			v.Add(fmt.Sprintf("facets[%d]", i), "facets.known", "unknown or repeated facet %q", fc)
		}
	}
	switch q.Sort {
	case "":
		c.Sort = SortRelevance
	case SortRelevance, SortPrice:
	default:
		v.Add("sort", "sort.known", "unknown sort %q", q.Sort)
	}
	switch {
	case q.Limit == 0:
		c.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		v.Add("page_size", "page_size.range", "must be between 0 and %d", MaxLimit)
	}
	return c, v.Err("invalid search")
}

// scope binds a page token to the engine, the text, the filters and the sort: a token is
// refused with any other search.
func (c *checked) scope(engine string) string {
	f := c.Filter
	return strings.Join([]string{
		"search/v1", engine, string(c.Sort), strings.Join(c.words, " "), f.SubjectID.String(), f.Level, f.Language,
		f.LessonMode, f.Currency, strconv.FormatInt(f.MinRate, 10), strconv.FormatInt(f.MaxRate, 10),
	}, "|")
}

// position is a page token's content: where the next page starts. Relevance order uses
// Score and ID, price order Currency, Rate and ID, and Meilisearch Offset.
type position struct {
	Score    float64   `json:"s,omitempty"`
	Currency string    `json:"c,omitempty"`
	Rate     int64     `json:"r,omitempty"`
	ID       uuid.UUID `json:"i"`
	Offset   int       `json:"o,omitempty"`
}

// after decodes c's page token; nil on the first page.
func (c *checked) after(tokens *pagetoken.Codec, engine string) (*position, error) {
	if c.PageToken == "" {
		return nil, nil
	}
	var p position
	if err := tokens.Decode(c.scope(engine), c.PageToken, &p); err != nil {
		return nil, tutorhub.Invalid("page_token", "page_token.valid", "the page token is invalid, or belongs to another search")
	}
	return &p, nil
}

// facetValues turns the engine-independent facet tokens and counts into Result.Facets for
// the facets the query asked for.
func facetValues(asked []Facet, counts map[string]int64) map[Facet][]FacetCount {
	if len(asked) == 0 {
		return nil
	}
	out := make(map[Facet][]FacetCount, len(asked))
	for _, f := range asked {
		out[f] = []FacetCount{}
	}
	for token, n := range counts {
		kind, value, _ := strings.Cut(token, ":")
		var f Facet
		switch kind {
		case "s":
			f = FacetSubject
		case "lv":
			f = FacetLevel
		case "l":
			if strings.Contains(value, "-") {
				continue // regional tags count under their language
			}
			f = FacetLanguage
		case "m":
			f = FacetLessonMode
		case "c":
			f = FacetCurrency
		default:
			continue
		}
		if list, ok := out[f]; ok {
			out[f] = append(list, FacetCount{Value: value, Count: n})
		}
	}
	for f, list := range out {
		slices.SortFunc(list, func(a, b FacetCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		out[f] = list
	}
	return out
}

// facetKinds are the token kinds (search_document_facets) of the asked facets.
func facetKinds(asked []Facet) []string {
	kinds := make([]string, 0, len(asked))
	for _, f := range asked {
		switch f {
		case FacetSubject:
			kinds = append(kinds, "s")
		case FacetLevel:
			kinds = append(kinds, "lv")
		case FacetLanguage:
			kinds = append(kinds, "l")
		case FacetLessonMode:
			kinds = append(kinds, "m")
		case FacetCurrency:
			kinds = append(kinds, "c")
		}
	}
	return kinds
}

// KnownSubjects wraps e so that a search filtering on a subject the catalogue (the subjects
// table in db) does not hold is refused as bad input (EINVALID on subject_id) instead of
// finding nothing. Everything else goes to e unchanged.
func KnownSubjects(e Engine, db queries.DBTX) Engine {
	return knownSubjects{Engine: e, q: queries.New(db)}
}

type knownSubjects struct {
	Engine
	q *queries.Queries
}

// Search checks the subject filter, then searches.
func (k knownSubjects) Search(ctx context.Context, q Query) (Result, error) {
	if id := q.Filter.SubjectID; id != uuid.Nil {
		known, err := k.q.KnownSubjectIDs(ctx, []string{id.String()})
		if err != nil {
			return Result{}, fmt.Errorf("search: check subject %s: %w", id, err)
		}
		if len(known) == 0 {
			return Result{}, tutorhub.Invalid("subject_id", "subject_id.known", fmt.Sprintf("no subject %s in the catalogue", id))
		}
	}
	return k.Engine.Search(ctx, q)
}
