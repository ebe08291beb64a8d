package tutors

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// ListFilter selects live tutors; zero fields do not filter.
//
// Money sorts within one currency: the list is ordered by (currency, hourly rate, id), so
// prices are never compared across currencies, and a price filter (MinRate or MaxRate) needs
// a Currency.
type ListFilter struct {
	SubjectID uuid.UUID
	// Level (a name from Levels) narrows SubjectID to one level.
	Level string
	// Language is a BCP 47 tag; "en" also matches "en-GB".
	Language   string
	LessonMode string
	Currency   string
	// MinRate and MaxRate bound the hourly rate in minor units of Currency; 0 is unbounded.
	MinRate, MaxRate int64
	// IncludeUnpublished lists unpublished profiles too: admins only.
	IncludeUnpublished bool
	// After continues the list after this position; nil starts at the beginning.
	After *Position
	Limit int32
}

// Position is a tutor's place in the list order.
type Position struct {
	Currency string    `json:"c"`
	Rate     int64     `json:"r"`
	ID       uuid.UUID `json:"i"`
}

// Position is t's place in the list order.
func (t Tutor) Position() Position {
	return Position{Currency: t.Profile.Currency, Rate: t.Profile.HourlyRateMinor, ID: t.ID}
}

// List returns up to f.Limit tutors matching every filter of f that the actor (nil:
// anonymous) may list, in (currency, hourly rate, id) order.
func (s *Service) List(ctx context.Context, a *Actor, f ListFilter) ([]Tutor, error) {
	if f.IncludeUnpublished && a == nil {
		return nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to list unpublished profiles")
	}
	if f.IncludeUnpublished && !a.Admin {
		return nil, tutorhub.Errorf(tutorhub.EFORBIDDEN, "only admins may list unpublished profiles")
	}
	params, err := f.params()
	if err != nil {
		return nil, err
	}
	rows, err := s.reads.ListTutors(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list tutors: %w", err)
	}
	out := make([]Tutor, 0, len(rows))
	for _, r := range rows {
		t, err := tutorOf(r.Tutor, r.DisplayName, r.AvatarUploadID)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// params checks the filter and translates it into the query's: facets for subject, level,
// language and lesson mode, a currency and rate range, and the keyset.
func (f ListFilter) params() (queries.ListTutorsParams, error) {
	v := &tutorhub.Violations{}
	p := queries.ListTutorsParams{
		IncludeUnpublished: f.IncludeUnpublished,
		Facets:             []string{},
		Currency:           f.Currency,
		MinRate:            f.MinRate,
		MaxRate:            f.MaxRate,
		AfterRate:          -1,
		PageLimit:          f.Limit,
	}
	if (f.MinRate != 0 || f.MaxRate != 0) && f.Currency == "" {
		v.Add("currency", "list_tutors.currency_required", "a price filter needs a currency: prices compare only within one currency")
	}
	if p.MaxRate == 0 {
		p.MaxRate = MaxHourlyRateMinor
	}
	if f.SubjectID != uuid.Nil {
		if slices.Contains(Levels, f.Level) {
			p.Facets = append(p.Facets, "sl:"+f.SubjectID.String()+":"+f.Level)
		} else {
			p.Facets = append(p.Facets, "s:"+f.SubjectID.String())
		}
	}
	if f.Language != "" {
		before := len(v.List)
		if tag := tutorhub.CheckLanguage(v, "language", f.Language); len(v.List) == before {
			p.Facets = append(p.Facets, "l:"+strings.ToLower(tag))
		}
	}
	if slices.Contains(LessonModes, f.LessonMode) {
		p.Facets = append(p.Facets, "m:"+f.LessonMode)
	}
	if f.After != nil {
		p.AfterCurrency, p.AfterRate, p.AfterID = f.After.Currency, f.After.Rate, f.After.ID
	}
	return p, v.Err("invalid request")
}
