package server

import (
	"context"

	"github.com/google/uuid"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/search"
)

// SearchServer implements tutorhub.v1.SearchService over a search engine: it decodes the
// request, calls the engine (which checks the query) and renders the page.
type SearchServer struct {
	engine search.Engine
}

// NewSearchServer returns the search handler over engine.
func NewSearchServer(engine search.Engine) *SearchServer {
	return &SearchServer{engine: engine}
}

// searchFacets maps the API's facets to the search package's.
var searchFacets = map[tutorhubv1.SearchFacet]search.Facet{
	tutorhubv1.SearchFacet_SEARCH_FACET_SUBJECT:     search.FacetSubject,
	tutorhubv1.SearchFacet_SEARCH_FACET_LEVEL:       search.FacetLevel,
	tutorhubv1.SearchFacet_SEARCH_FACET_LANGUAGE:    search.FacetLanguage,
	tutorhubv1.SearchFacet_SEARCH_FACET_LESSON_MODE: search.FacetLessonMode,
	tutorhubv1.SearchFacet_SEARCH_FACET_CURRENCY:    search.FacetCurrency,
}

// SearchTutors returns one page of published tutors matching the query and filters.
func (s *SearchServer) SearchTutors(ctx context.Context, req *tutorhubv1.SearchTutorsRequest) (*tutorhubv1.SearchTutorsResponse, error) {
	subjectID, _ := uuid.Parse(req.GetSubjectId()) // protovalidate checked the form
	q := search.Query{
		Text: req.GetQuery(),
		Filter: search.Filter{
			SubjectID: subjectID, Level: enumName(req.GetLevel()), Language: req.GetLanguage(),
			LessonMode: enumName(req.GetLessonMode()), Currency: req.GetCurrency(),
			MinRate: req.GetMinHourlyRateMinor(), MaxRate: req.GetMaxHourlyRateMinor(),
		},
		Sort:      search.SortRelevance,
		PageToken: req.GetPageToken(),
		Limit:     int(req.GetPageSize()),
	}
	if req.GetSort() == tutorhubv1.SearchSort_SEARCH_SORT_PRICE {
		q.Sort = search.SortPrice
	}
	for _, f := range req.GetFacets() {
		name, ok := searchFacets[f]
		if !ok {
			name = search.Facet(f.String()) // refused by the engine's check
		}
		q.Facets = append(q.Facets, name)
	}
	res, err := s.engine.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &tutorhubv1.SearchTutorsResponse{NextPageToken: res.NextPageToken}
	for _, h := range res.Hits {
		out.Hits = append(out.Hits, searchHitProto(h))
	}
	for _, f := range req.GetFacets() {
		counts := &tutorhubv1.FacetCounts{Facet: f}
		for _, c := range res.Facets[searchFacets[f]] {
			value := c.Value
			switch f {
			case tutorhubv1.SearchFacet_SEARCH_FACET_LEVEL:
				value = enumValue[tutorhubv1.Level](value).String()
			case tutorhubv1.SearchFacet_SEARCH_FACET_LESSON_MODE:
				value = enumValue[tutorhubv1.LessonMode](value).String()
			}
			counts.Values = append(counts.Values, &tutorhubv1.FacetValue{Value: value, Count: c.Count})
		}
		out.Facets = append(out.Facets, counts)
	}
	return out, nil
}

func searchHitProto(h search.Hit) *tutorhubv1.TutorSearchHit {
	pb := &tutorhubv1.TutorSearchHit{
		TutorId: h.ID.String(), DisplayName: h.DisplayName, Headline: h.Headline, Bio: h.Bio,
		Languages: h.Languages, HourlyRateMinor: h.HourlyRateMinor, Currency: h.Currency,
		Version: h.Version, Score: h.Score,
	}
	for _, s := range h.Subjects {
		ts := &tutorhubv1.TutorSubject{SubjectId: s.ID.String()}
		for _, l := range s.Levels {
			ts.Levels = append(ts.Levels, enumValue[tutorhubv1.Level](l))
		}
		pb.Subjects = append(pb.Subjects, ts)
	}
	for _, m := range h.LessonModes {
		pb.LessonModes = append(pb.LessonModes, enumValue[tutorhubv1.LessonMode](m))
	}
	return pb
}
