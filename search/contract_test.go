package search

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
)

// testTokens signs page tokens in the tests of every engine.
var testTokens = pagetoken.NewCodec([]byte("search-test-cursor-secret-0123456789"))

// Subjects the fixtures teach.
var (
	maths   = Subject{ID: uuid.MustParse("8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0001"), Name: "Mathematics", Levels: []string{"secondary", "upper_secondary"}}
	physics = Subject{ID: uuid.MustParse("8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0002"), Name: "Physics", Levels: []string{"undergraduate"}}
	french  = Subject{ID: uuid.MustParse("8f0a6a2e-31e5-4e55-9b0a-5b1d1a0f0003"), Name: "French", Levels: []string{"adult"}}
)

// doc is a published document at version 1 with the given text; change it as a test needs.
func doc(name, headline, bio string, subjects ...Subject) Document {
	return Document{
		ID: uuid.New(), DisplayName: name, Headline: headline, Bio: bio, Subjects: subjects,
		Languages: []string{"en-GB"}, LessonModes: []string{"online"}, Currency: "EUR", HourlyRateMinor: 4000,
		Published: true, Version: 1,
	}
}

func ids(hits []Hit) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// contract runs the behaviour every Engine must have against engines made by newEngine,
// which returns an empty index of its own for each call.
func contract(t *testing.T, newEngine func(t *testing.T) Engine) {
	ctx := context.Background()
	search := func(t *testing.T, e Engine, q Query) Result {
		t.Helper()
		res, err := e.Search(ctx, q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		return res
	}
	upsert := func(t *testing.T, e Engine, ds ...Document) {
		t.Helper()
		for _, d := range ds {
			if err := e.Upsert(ctx, d); err != nil {
				t.Fatalf("Upsert %s: %v", d.DisplayName, err)
			}
		}
	}
	found := func(t *testing.T, e Engine, text string) []uuid.UUID {
		t.Helper()
		return ids(search(t, e, Query{Text: text}).Hits)
	}

	t.Run("health", func(t *testing.T) {
		if err := newEngine(t).Health(ctx); err != nil {
			t.Fatalf("Health: %v", err)
		}
	})

	t.Run("text matches words, prefixes, accents and typos", func(t *testing.T) {
		e := newEngine(t)
		ana := doc("Ana Lopes", "Patient algebra coach", "I prepare students for their final exams in Lisbon.", maths)
		jose := doc("José Martín", "Quantum mechanics explained", "Former researcher at a synchrotron.", physics)
		upsert(t, e, ana, jose)
		for _, tc := range []struct {
			text string
			want []uuid.UUID
		}{
			{"algebra", []uuid.UUID{ana.ID}},               // headline word
			{"lisbon", []uuid.UUID{ana.ID}},                // bio word
			{"synchro", []uuid.UUID{jose.ID}},              // prefix of a bio word
			{"Jose", []uuid.UUID{jose.ID}},                 // without the accent
			{"mathematcs", []uuid.UUID{ana.ID}},            // a typo in a subject name
			{"physics", []uuid.UUID{jose.ID}},              // subject name
			{"ana final exams", []uuid.UUID{ana.ID}},       // several words
			{"zzzyzzx", nil},                               // nothing
			{"Ana:* & !(lisbon) | '", []uuid.UUID{ana.ID}}, // query syntax is plain text
		} {
			if got := found(t, e, tc.text); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("search %q = %v, want %v", tc.text, got, tc.want)
			}
		}
	})

	t.Run("name and headline rank above bio", func(t *testing.T) {
		e := newEngine(t)
		inBio := doc("Bea Costa", "Friendly tutor", "I also enjoy chemistry experiments with my classes.")
		inHeadline := doc("Carl Berg", "Chemistry for everyone", "Twenty years of teaching.")
		upsert(t, e, inBio, inHeadline)
		if got := found(t, e, "chemistry"); !slices.Equal(got, []uuid.UUID{inHeadline.ID, inBio.ID}) {
			t.Fatalf("order %v, want headline match %s first", got, inHeadline.ID)
		}
	})

	t.Run("only published, non-deleted documents are found", func(t *testing.T) {
		e := newEngine(t)
		draft := doc("Dora Draft", "Unpublished tutor", "orchid")
		draft.Published = false
		gone := doc("Gus Gone", "Deleted tutor", "orchid")
		live := doc("Liv Live", "Published tutor", "orchid")
		upsert(t, e, draft, gone, live)
		if err := e.Delete(ctx, gone.ID, 2); err != nil {
			t.Fatal(err)
		}
		if got := found(t, e, "orchid"); !slices.Equal(got, []uuid.UUID{live.ID}) {
			t.Fatalf("found %v, want only %s", got, live.ID)
		}
		// Unpublishing (a newer version) hides a document.
		live.Published, live.Version = false, 2
		upsert(t, e, live)
		if got := found(t, e, "orchid"); len(got) != 0 {
			t.Fatalf("found %v after unpublishing", got)
		}
	})

	t.Run("versions: older and equal writes are no-ops in any order", func(t *testing.T) {
		e := newEngine(t)
		v1 := doc("Vera Version", "Tutor", "walrus")
		v2 := v1
		v2.Bio, v2.Version = "penguin", 2
		upsert(t, e, v2, v1) // the newer arrives first
		if got := found(t, e, "walrus"); len(got) != 0 {
			t.Fatalf("the older version overwrote the newer: %v", got)
		}
		if got := found(t, e, "penguin"); !slices.Equal(got, []uuid.UUID{v1.ID}) {
			t.Fatalf("newer version not found: %v", got)
		}
		same := v2
		same.Bio = "narwhal" // a different document at the same version changes nothing
		upsert(t, e, same)
		if got := found(t, e, "narwhal"); len(got) != 0 {
			t.Fatalf("an equal version overwrote the stored one: %v", got)
		}
		// A tombstone wins over older upserts that arrive after it.
		if err := e.Delete(ctx, v1.ID, 3); err != nil {
			t.Fatal(err)
		}
		upsert(t, e, v2)
		if got := found(t, e, "penguin"); len(got) != 0 {
			t.Fatalf("an upsert older than the deletion brought the document back: %v", got)
		}
		// A deletion older than the stored document is a no-op too.
		other := doc("Otto Other", "Tutor", "puffin")
		other.Version = 5
		upsert(t, e, other)
		if err := e.Delete(ctx, other.ID, 4); err != nil {
			t.Fatal(err)
		}
		if got := found(t, e, "puffin"); !slices.Equal(got, []uuid.UUID{other.ID}) {
			t.Fatalf("an older deletion removed a newer document: %v", got)
		}
		// A newer version after a deletion (a profile created again) is found.
		v4 := v2
		v4.Bio, v4.Version = "toucan", 4
		upsert(t, e, v4)
		if got := found(t, e, "toucan"); !slices.Equal(got, []uuid.UUID{v1.ID}) {
			t.Fatalf("a version newer than the tombstone is not found: %v", got)
		}
	})

	t.Run("bulk upsert", func(t *testing.T) {
		e := newEngine(t)
		var ds []Document
		for range 30 {
			ds = append(ds, doc("Bulk Tutor", "Geometry", "kestrel"))
		}
		if err := e.BulkUpsert(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if got := search(t, e, Query{Text: "kestrel", Limit: 100}).Hits; len(got) != 30 {
			t.Fatalf("found %d of 30", len(got))
		}
		if err := e.BulkUpsert(ctx, make([]Document, MaxBulk+1)); tutorhub.ErrorCode(err) != tutorhub.EINVALID {
			t.Fatalf("BulkUpsert of %d = %v, want EINVALID", MaxBulk+1, err)
		}
	})

	t.Run("filters", func(t *testing.T) {
		e := newEngine(t)
		a := doc("Alma", "Tutor", "heron", maths)
		a.Languages, a.LessonModes, a.Currency, a.HourlyRateMinor = []string{"en-GB", "pt"}, []string{"online", "in_person"}, "EUR", 3000
		b := doc("Bruno", "Tutor", "heron", physics)
		b.Languages, b.LessonModes, b.Currency, b.HourlyRateMinor = []string{"de"}, []string{"in_person"}, "EUR", 6000
		c := doc("Cleo", "Tutor", "heron", french, maths)
		c.Languages, c.LessonModes, c.Currency, c.HourlyRateMinor = []string{"fr"}, []string{"online"}, "GBP", 3500
		upsert(t, e, a, b, c)
		for _, tc := range []struct {
			name string
			f    Filter
			want []uuid.UUID
		}{
			{"subject", Filter{SubjectID: maths.ID}, []uuid.UUID{a.ID, c.ID}},
			{"subject and level", Filter{SubjectID: maths.ID, Level: "upper_secondary"}, []uuid.UUID{a.ID, c.ID}},
			{"subject and a level it is not taught at", Filter{SubjectID: maths.ID, Level: "adult"}, nil},
			{"level alone", Filter{Level: "adult"}, []uuid.UUID{c.ID}},
			{"language prefix", Filter{Language: "en"}, []uuid.UUID{a.ID}},
			{"language, any case", Filter{Language: "EN-gb"}, []uuid.UUID{a.ID}},
			{"lesson mode", Filter{LessonMode: "in_person"}, []uuid.UUID{a.ID, b.ID}},
			{"currency", Filter{Currency: "GBP"}, []uuid.UUID{c.ID}},
			{"price range in a currency", Filter{Currency: "EUR", MinRate: 2000, MaxRate: 4000}, []uuid.UUID{a.ID}},
			{"minimum price", Filter{Currency: "EUR", MinRate: 5000}, []uuid.UUID{b.ID}},
			{"everything", Filter{SubjectID: maths.ID, Level: "secondary", Language: "pt", LessonMode: "online", Currency: "EUR", MaxRate: 3000}, []uuid.UUID{a.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := ids(search(t, e, Query{Text: "heron", Filter: tc.f, Sort: SortPrice}).Hits)
				slices.SortFunc(got, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
				want := slices.Clone(tc.want)
				slices.SortFunc(want, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("got %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("facet counts", func(t *testing.T) {
		e := newEngine(t)
		a := doc("Alma", "Tutor", "ibis", maths)
		a.Languages = []string{"en-GB", "pt"}
		b := doc("Bruno", "Tutor", "ibis", maths, physics)
		b.Languages, b.LessonModes, b.Currency = []string{"en"}, []string{"online", "in_person"}, "GBP"
		c := doc("Cleo", "Tutor", "stork", french)
		upsert(t, e, a, b, c)
		res := search(t, e, Query{Text: "ibis", Facets: Facets})
		want := map[Facet][]FacetCount{
			FacetSubject:    {{maths.ID.String(), 2}, {physics.ID.String(), 1}},
			FacetLevel:      {{"secondary", 2}, {"upper_secondary", 2}, {"undergraduate", 1}},
			FacetLanguage:   {{"en", 2}, {"pt", 1}},
			FacetLessonMode: {{"online", 2}, {"in_person", 1}},
			FacetCurrency:   {{"EUR", 1}, {"GBP", 1}},
		}
		for _, f := range Facets {
			if !slices.Equal(res.Facets[f], want[f]) {
				t.Errorf("facet %s = %v, want %v", f, res.Facets[f], want[f])
			}
		}
		// Counts follow the filters; only the asked facets are counted.
		res = search(t, e, Query{Text: "ibis", Filter: Filter{Currency: "GBP"}, Facets: []Facet{FacetSubject}})
		if len(res.Facets) != 1 || !slices.Equal(res.Facets[FacetSubject], []FacetCount{{maths.ID.String(), 1}, {physics.ID.String(), 1}}) {
			t.Errorf("filtered facets = %v", res.Facets)
		}
		if res := search(t, e, Query{Text: "ibis"}); res.Facets != nil {
			t.Errorf("facets %v counted without being asked for", res.Facets)
		}
	})

	t.Run("pages cover every match once, in order", func(t *testing.T) {
		e := newEngine(t)
		var all []Document
		for i := range 23 {
			d := doc("Pat Page", "Violin", "magpie")
			d.Currency, d.HourlyRateMinor = []string{"EUR", "USD"}[i%2], int64(1000+100*(i%5))
			all = append(all, d)
		}
		if err := e.BulkUpsert(ctx, all); err != nil {
			t.Fatal(err)
		}
		for _, sort := range []Sort{SortRelevance, SortPrice} {
			t.Run(string(sort), func(t *testing.T) {
				seen := map[uuid.UUID]bool{}
				var hits []Hit
				q := Query{Text: "magpie", Sort: sort, Limit: 5}
				for pages := 0; ; pages++ {
					if pages > 10 {
						t.Fatal("paging does not end")
					}
					res := search(t, e, q)
					for _, h := range res.Hits {
						if seen[h.ID] {
							t.Fatalf("%s returned twice", h.ID)
						}
						seen[h.ID] = true
					}
					hits = append(hits, res.Hits...)
					if res.NextPageToken == "" {
						break
					}
					q.PageToken = res.NextPageToken
				}
				if len(hits) != len(all) {
					t.Fatalf("paged through %d of %d", len(hits), len(all))
				}
				if sort == SortPrice && !slices.IsSortedFunc(hits, func(a, b Hit) int {
					return strings.Compare(a.Currency, b.Currency)*2 + cmpInt(a.HourlyRateMinor, b.HourlyRateMinor)
				}) {
					t.Fatal("price order broken")
				}
				if sort == SortRelevance && !slices.IsSortedFunc(hits, func(a, b Hit) int { return -cmpFloat(a.Score, b.Score) }) {
					t.Fatal("relevance order broken")
				}
			})
		}
	})

	t.Run("rebuild: a build fills beside the live index and swaps in", func(t *testing.T) {
		e := newEngine(t)
		rb, ok := e.(Rebuilder)
		if !ok {
			t.Fatalf("the %s engine does not implement Rebuilder: `tutorhub search reindex` fails on it", e.Name())
		}
		builds := func(t *testing.T) []string {
			t.Helper()
			got, err := rb.Builds(ctx)
			if err != nil {
				t.Fatalf("Builds: %v", err)
			}
			return got
		}
		mathsHits := func(t *testing.T, word string) []uuid.UUID {
			t.Helper()
			return ids(search(t, e, Query{Text: word, Filter: Filter{SubjectID: maths.ID}, Facets: []Facet{FacetSubject}}).Hits)
		}
		old := doc("Olga Old", "Tutor", "marmot", maths)
		upsert(t, e, old)
		if err := rb.BeginBuild(ctx, "Bad-Id"); err == nil {
			t.Error("a build id with capitals and dashes was accepted")
		}
		const id = "contract_1"
		for range 2 { // beginning twice is a no-op
			if err := rb.BeginBuild(ctx, id); err != nil {
				t.Fatalf("BeginBuild: %v", err)
			}
		}
		if got := builds(t); !slices.Equal(got, []string{id}) {
			t.Fatalf("Builds = %v, want [%s]", got, id)
		}
		// The build has the version guard of the live index.
		fresh := doc("Nina New", "Tutor", "marmot", maths)
		fresh.Version = 2
		older := fresh
		older.Bio, older.Version = "ocelot", 1
		same := fresh
		same.Bio = "ocelot"
		gone := doc("Gus Gone", "Tutor", "marmot", maths)
		for _, w := range []struct {
			name string
			do   func() error
		}{
			{"upsert", func() error { return rb.BuildUpsert(ctx, id, fresh) }},
			{"upsert of an older version", func() error { return rb.BuildUpsert(ctx, id, older) }},
			{"upsert at the same version", func() error { return rb.BuildUpsert(ctx, id, same) }},
			{"upsert of a tutor deleted next", func() error { return rb.BuildUpsert(ctx, id, gone) }},
			{"delete", func() error { return rb.BuildDelete(ctx, id, gone.ID, gone.Version+1) }},
			{"upsert older than the deletion", func() error { return rb.BuildUpsert(ctx, id, gone) }},
		} {
			if err := w.do(); err != nil {
				t.Fatalf("build %s: %v", w.name, err)
			}
		}
		if got := mathsHits(t, "marmot"); !slices.Equal(got, []uuid.UUID{old.ID}) {
			t.Fatalf("during the build, searches see %v, want only the live %v", got, old.ID)
		}

		for range 2 { // a retried swap finds the build gone and changes nothing
			if err := rb.SwapBuild(ctx, id); err != nil {
				t.Fatalf("SwapBuild: %v", err)
			}
			if got := mathsHits(t, "marmot"); !slices.Equal(got, []uuid.UUID{fresh.ID}) {
				t.Fatalf("after the swap, searches see %v, want only the build's %v", got, fresh.ID)
			}
		}
		if got := mathsHits(t, "ocelot"); len(got) != 0 {
			t.Errorf("an older or equal version replaced the build's document: %v", got)
		}
		if got := builds(t); len(got) != 0 {
			t.Fatalf("Builds after the swap = %v, want none", got)
		}
		// A late write to the swapped build is a no-op and does not bring the build back.
		if err := rb.BuildUpsert(ctx, id, doc("Late Larry", "Tutor", "marmot", maths)); err != nil {
			t.Errorf("a write to a swapped build: %v", err)
		}
		if got := builds(t); len(got) != 0 {
			t.Fatalf("Builds after a late write = %v, want none", got)
		}
		// The swapped-in index is the live one in every respect: writes, guard, facets.
		upsert(t, e, old)
		if got := mathsHits(t, "marmot"); len(got) != 2 {
			t.Errorf("the swapped-in index takes writes: found %v", got)
		}
		older.ID = old.ID
		older.Version = old.Version
		upsert(t, e, older)
		if got := mathsHits(t, "ocelot"); len(got) != 0 {
			t.Errorf("the swapped-in index lost the version guard: %v", got)
		}
		if res := search(t, e, Query{Text: "marmot", Facets: []Facet{FacetSubject}}); !slices.Equal(res.Facets[FacetSubject], []FacetCount{{maths.ID.String(), 2}}) {
			t.Errorf("facets of the swapped-in index = %v", res.Facets)
		}

		// A dropped build is gone; dropping it again, or writing to it, is a no-op.
		const dropped = "contract_2"
		if err := rb.BeginBuild(ctx, dropped); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := rb.DropBuild(ctx, dropped); err != nil {
				t.Fatalf("DropBuild: %v", err)
			}
		}
		if err := rb.BuildUpsert(ctx, dropped, doc("Late Lena", "Tutor", "marmot", maths)); err != nil {
			t.Errorf("a write to a dropped build: %v", err)
		}
		if got := builds(t); len(got) != 0 {
			t.Fatalf("Builds after a drop = %v, want none", got)
		}
		if err := rb.SwapBuild(ctx, dropped); err != nil {
			t.Errorf("swapping a dropped build: %v", err)
		}
		if got := mathsHits(t, "marmot"); len(got) != 2 {
			t.Errorf("swapping a dropped build changed the live index: found %v", got)
		}
	})

	t.Run("bad input is EINVALID naming the field", func(t *testing.T) {
		e := newEngine(t)
		upsert(t, e, doc("Tess Token", "Cello", "osprey"), doc("Tim Token", "Cello", "osprey"))
		first := search(t, e, Query{Text: "osprey", Limit: 1})
		if first.NextPageToken == "" {
			t.Fatal("no next page token")
		}
		tampered := []byte(first.NextPageToken)
		tampered[len(tampered)/2] ^= 0x01
		for _, tc := range []struct {
			name  string
			q     Query
			field string
		}{
			{"empty query", Query{}, "query"},
			{"blank query", Query{Text: "   \t"}, "query"},
			{"punctuation only", Query{Text: "!?*&|"}, "query"},
			{"huge query", Query{Text: strings.Repeat("a", MaxQueryChars+1)}, "query"},
			{"too many words", Query{Text: strings.Repeat("word ", MaxQueryWords+1)}, "query"},
			{"invalid UTF-8", Query{Text: "ab\xffcd"}, "query"},
			{"unknown level", Query{Text: "osprey", Filter: Filter{Level: "kindergarten"}}, "level"},
			{"unknown lesson mode", Query{Text: "osprey", Filter: Filter{LessonMode: "by_post"}}, "lesson_mode"},
			{"not a language", Query{Text: "osprey", Filter: Filter{Language: "english!"}}, "language"},
			{"unknown currency", Query{Text: "osprey", Filter: Filter{Currency: "XXX"}}, "currency"},
			{"price without currency", Query{Text: "osprey", Filter: Filter{MinRate: 100}}, "currency"},
			{"inverted price range", Query{Text: "osprey", Filter: Filter{Currency: "EUR", MinRate: 500, MaxRate: 100}}, "max_hourly_rate_minor"},
			{"negative price", Query{Text: "osprey", Filter: Filter{Currency: "EUR", MinRate: -1}}, "min_hourly_rate_minor"},
			{"unknown facet", Query{Text: "osprey", Facets: []Facet{"colour"}}, "facets[0]"},
			{"repeated facet", Query{Text: "osprey", Facets: []Facet{FacetSubject, FacetSubject}}, "facets[1]"},
			{"unknown sort", Query{Text: "osprey", Sort: "random"}, "sort"},
			{"page size", Query{Text: "osprey", Limit: MaxLimit + 1}, "page_size"},
			{"tampered page token", Query{Text: "osprey", Limit: 1, PageToken: string(tampered)}, "page_token"},
			{"garbage page token", Query{Text: "osprey", PageToken: "not-a-token"}, "page_token"},
			{"page token of another search", Query{Text: "cello", Limit: 1, PageToken: first.NextPageToken}, "page_token"},
			{"page token of another sort", Query{Text: "osprey", Limit: 1, Sort: SortPrice, PageToken: first.NextPageToken}, "page_token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.Search(ctx, tc.q)
				var de *tutorhub.Error
				if !errors.As(err, &de) || de.Code != tutorhub.EINVALID {
					t.Fatalf("Search = %v, want EINVALID", err)
				}
				if !slices.ContainsFunc(de.Violations, func(v tutorhub.Violation) bool { return v.Field == tc.field }) {
					t.Fatalf("violations %+v do not name %q", de.Violations, tc.field)
				}
			})
		}
		for _, d := range []Document{{Version: 1}, {ID: uuid.New()}} {
			if err := e.Upsert(ctx, d); tutorhub.ErrorCode(err) != tutorhub.EINVALID {
				t.Errorf("Upsert(%+v) = %v, want EINVALID", d, err)
			}
		}
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
