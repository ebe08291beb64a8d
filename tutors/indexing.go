package tutors

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/queries"
)

// Indexed is a tutor as the search indexer sees it: the stored profile at its current
// version, deleted or not.
type Indexed struct {
	Tutor
	// Deleted says the profile is soft-deleted: it must leave the index.
	Deleted bool
	// SubjectNames gives the catalogue name of each subject the profile teaches.
	SubjectNames map[uuid.UUID]string
}

// ForIndex reads tutor id at its current version for the search indexer, deleted profiles
// included, bypassing the cache. A tutor that never existed is ENOTFOUND.
//
// When lock is true it first takes an advisory lock of the tutor's indexing, held until
// the returned release func runs (release must always be called): two indexers holding it in
// turn see the tutor's versions in commit order, so each writes a version at least as new
// as the one before and the index never goes backwards, whatever the engine's guard.
func (s *Service) ForIndex(ctx context.Context, id uuid.UUID, lock bool) (Indexed, func(), error) {
	noop := func() {}
	q := s.q
	release := noop
	if lock {
		tx, err := s.db.Begin(ctx)
		if err != nil {
			return Indexed{}, noop, fmt.Errorf("index tutor %s: begin: %w", id, err)
		}
		release = func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }
		q = s.q.WithTx(tx)
		if err := q.LockTutorIndexing(ctx, id); err != nil {
			release()
			return Indexed{}, noop, fmt.Errorf("index tutor %s: lock: %w", id, err)
		}
	}
	ix, err := readForIndex(ctx, q, id)
	if err != nil {
		release()
		return Indexed{}, noop, err
	}
	return ix, release, nil
}

func readForIndex(ctx context.Context, q *queries.Queries, id uuid.UUID) (Indexed, error) {
	row, err := q.GetTutorForIndex(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Indexed{}, NotFound(id)
	}
	if err != nil {
		return Indexed{}, fmt.Errorf("index tutor %s: read: %w", id, err)
	}
	t, err := tutorOf(row.Tutor, row.DisplayName, uuid.NullUUID{})
	if err != nil {
		return Indexed{}, err
	}
	ix := Indexed{Tutor: t, Deleted: row.Tutor.DeletedAt.Valid}
	ix.SubjectNames, err = subjectNames(ctx, q, []Tutor{t})
	if err != nil {
		return Indexed{}, err
	}
	return ix, nil
}

// subjectNames reads the catalogue names of every subject the tutors teach.
func subjectNames(ctx context.Context, q *queries.Queries, ts []Tutor) (map[uuid.UUID]string, error) {
	var ids []string
	for _, t := range ts {
		for _, s := range t.Profile.Subjects {
			ids = append(ids, s.SubjectID.String())
		}
	}
	names := make(map[uuid.UUID]string, len(ids))
	if len(ids) == 0 {
		return names, nil
	}
	rows, err := q.SubjectNames(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("subject names: %w", err)
	}
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	return names, nil
}

// IDsForIndex returns up to limit ids of published live tutors after after, in id order:
// the pages a search rebuild walks (uuid.Nil starts at the beginning).
func (s *Service) IDsForIndex(ctx context.Context, after uuid.UUID, limit int32) ([]uuid.UUID, error) {
	ids, err := s.q.ListTutorIDsForIndex(ctx, queries.ListTutorIDsForIndexParams{AfterID: after, PageLimit: limit})
	if err != nil {
		return nil, fmt.Errorf("tutor ids after %s: %w", after, err)
	}
	return ids, nil
}

// CountForIndex counts the published live tutors.
func (s *Service) CountForIndex(ctx context.Context) (int64, error) {
	n, err := s.q.CountTutorsForIndex(ctx)
	if err != nil {
		return 0, fmt.Errorf("count tutors: %w", err)
	}
	return n, nil
}
