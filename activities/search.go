package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/tutors"
)

// Registered activity names of the search queue.
const (
	// IndexTutorDocumentName is SearchActivities.IndexTutorDocument.
	IndexTutorDocumentName = "IndexTutorDocument"
	// BeginReindexName, ReindexPageName and SwapReindexName are the steps of a rebuild.
	BeginReindexName = "BeginReindex"
	ReindexPageName  = "ReindexPage"
	SwapReindexName  = "SwapReindex"
)

// Application error types the search activities fail with; each is non-retryable.
const (
	// ErrBadInput is a request no retry can fix (no tutor id, a bad build id).
	ErrBadInput = "BadInput"
	// ErrUnsupported is a rebuild asked of an engine that cannot build a new index.
	ErrUnsupported = "Unsupported"
)

// TutorReader reads a tutor as the indexer needs it (tutors.Service).
type TutorReader interface {
	ForIndex(ctx context.Context, id uuid.UUID, lock bool) (tutors.Indexed, func(), error)
	IDsForIndex(ctx context.Context, after uuid.UUID, limit int32) ([]uuid.UUID, error)
	CountForIndex(ctx context.Context) (int64, error)
}

// SearchActivities keep the search index in step with the tutors table.
type SearchActivities struct {
	// Tutors reads profiles (a *tutors.Service).
	Tutors TutorReader
	// Engine is the index written to.
	Engine search.Engine
}

// RegisterSearch registers a's activities on a worker of the search queue.
func RegisterSearch(r worker.ActivityRegistry, a *SearchActivities) {
	r.RegisterActivityWithOptions(a.IndexTutorDocument, activity.RegisterOptions{Name: IndexTutorDocumentName})
	r.RegisterActivityWithOptions(a.BeginReindex, activity.RegisterOptions{Name: BeginReindexName})
	r.RegisterActivityWithOptions(a.ReindexPage, activity.RegisterOptions{Name: ReindexPageName})
	r.RegisterActivityWithOptions(a.SwapReindex, activity.RegisterOptions{Name: SwapReindexName})
}

// IndexTutorDocumentInput names the tutor to bring up to date.
type IndexTutorDocumentInput struct {
	TutorID uuid.UUID
	// EventVersion is the version the triggering event carried; informative only: the
	// activity writes the tutor's current version, which is never older.
	EventVersion int64
}

// Index actions, as IndexTutorDocumentResult reports them.
const (
	// ActionUpserted: the tutor is published and live; its document was written.
	ActionUpserted = "upserted"
	// ActionRemoved: the tutor is unpublished or deleted; a tombstone at its version was
	// written.
	ActionRemoved = "removed"
	// ActionGone: no such tutor was ever stored; there is nothing to index.
	ActionGone = "gone"
)

// IndexTutorDocumentResult says what the activity wrote.
type IndexTutorDocumentResult struct {
	Action string
	// Version is the profile version written (0 for ActionGone).
	Version int64
}

// IndexTutorDocument reads the tutor's current profile and makes the index hold it: the
// document when the tutor is published and live, a tombstone otherwise, both at the profile's
// current version.
//
// Idempotent and order-free: the engines ignore a write at a version they already hold or
// have passed. Writing the current profile rather than the event's makes runs of one tutor
// interchangeable (any of them brings the index to the newest version). And the read and the
// write happen under the tutor's indexing lock (tutors.Service.ForIndex), so two runs in
// different processes write in turn, each at least as new as the one before: this closes the
// window in which Meilisearch's read-then-write guard could let an older write land last.
// Engine failures are returned as retryable errors: the workflow's retry policy waits for
// the engine to come back.
func (a *SearchActivities) IndexTutorDocument(ctx context.Context, in IndexTutorDocumentInput) (IndexTutorDocumentResult, error) {
	if in.TutorID == uuid.Nil {
		return IndexTutorDocumentResult{}, temporal.NewNonRetryableApplicationError("IndexTutorDocument needs a tutor id", ErrBadInput, nil)
	}
	t, release, err := a.Tutors.ForIndex(ctx, in.TutorID, true)
	defer release()
	if tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND {
		return IndexTutorDocumentResult{Action: ActionGone}, nil
	}
	if err != nil {
		return IndexTutorDocumentResult{}, fmt.Errorf("index tutor %s: %w", in.TutorID, err)
	}
	// A rebuild in progress gets the write first and the live index last: a swap between
	// the two then loses nothing (search.Rebuilder). The list is read under the tutor's
	// lock, so a rebuild that begins later reads this tutor after this run.
	var builds []string
	if rb, ok := a.Engine.(search.Rebuilder); ok {
		if builds, err = rb.Builds(ctx); err != nil {
			return IndexTutorDocumentResult{}, fmt.Errorf("index tutor %s: %w", in.TutorID, err)
		}
	}
	for _, b := range builds {
		if _, err := a.write(ctx, t, b); err != nil {
			return IndexTutorDocumentResult{}, err
		}
	}
	res, err := a.write(ctx, t, "")
	if err != nil {
		return IndexTutorDocumentResult{}, err
	}
	activity.GetLogger(ctx).Info("tutor search document up to date", "tutor_id", t.ID.String(), "version", t.Version,
		"action", res.Action, "deleted", t.Deleted, "builds", len(builds))
	return res, nil
}

// write makes the live index (build "") or build hold t: its document when it is published
// and live, a tombstone otherwise.
func (a *SearchActivities) write(ctx context.Context, t tutors.Indexed, build string) (IndexTutorDocumentResult, error) {
	rb, _ := a.Engine.(search.Rebuilder)
	if t.Deleted || !t.Published {
		var err error
		if build == "" {
			err = a.Engine.Delete(ctx, t.ID, t.Version)
		} else {
			err = rb.BuildDelete(ctx, build, t.ID, t.Version)
		}
		if err != nil {
			return IndexTutorDocumentResult{}, engineError(fmt.Errorf("index tutor %s: remove at version %d: %w", t.ID, t.Version, err))
		}
		return IndexTutorDocumentResult{Action: ActionRemoved, Version: t.Version}, nil
	}
	d := search.FromTutor(t.Tutor, t.SubjectNames)
	var err error
	if build == "" {
		err = a.Engine.Upsert(ctx, d)
	} else {
		err = rb.BuildUpsert(ctx, build, d)
	}
	if err != nil {
		return IndexTutorDocumentResult{}, engineError(fmt.Errorf("index tutor %s: upsert at version %d: %w", t.ID, t.Version, err))
	}
	return IndexTutorDocumentResult{Action: ActionUpserted, Version: t.Version}, nil
}

// engineError makes an engine's refusal of a document (EINVALID: a document no retry can
// fix) non-retryable, and leaves every other failure (the engine is down) to retries.
func engineError(err error) error {
	if tutorhub.ErrorCode(err) == tutorhub.EINVALID {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, errors.Unwrap(err))
	}
	return err
}

// ReindexInput names a rebuild.
type ReindexInput struct {
	// BuildID names the new index (search.CheckBuildID).
	BuildID string
}

// ReindexPageInput is one page of a rebuild.
type ReindexPageInput struct {
	BuildID string
	// After is the last tutor id of the previous page; uuid.Nil on the first.
	After uuid.UUID
	// Limit is the page size.
	Limit int32
}

// ReindexPageResult is what one page did.
type ReindexPageResult struct {
	// Indexed counts the tutors written to the build.
	Indexed int64
	// Last is the last tutor id of the page (the next page's After).
	Last uuid.UUID
	// Done says no tutor is left after Last.
	Done bool
}

func (a *SearchActivities) rebuilder() (search.Rebuilder, error) {
	rb, ok := a.Engine.(search.Rebuilder)
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError("the "+a.Engine.Name()+" engine cannot build a new index", ErrUnsupported, nil)
	}
	return rb, nil
}

func checkBuild(id string) error {
	if err := search.CheckBuildID(id); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, nil)
	}
	return nil
}

// BeginReindex creates the empty build index (idempotent) and returns how many published
// tutors the rebuild will walk, for progress. From its return on, IndexTutorDocument writes
// to the build too.
func (a *SearchActivities) BeginReindex(ctx context.Context, in ReindexInput) (int64, error) {
	if err := checkBuild(in.BuildID); err != nil {
		return 0, err
	}
	rb, err := a.rebuilder()
	if err != nil {
		return 0, err
	}
	if err := rb.BeginBuild(ctx, in.BuildID); err != nil {
		return 0, engineError(err)
	}
	return a.Tutors.CountForIndex(ctx)
}

// ReindexPage writes the next page of published tutors to the build, each read at its
// current version under its indexing lock (as IndexTutorDocument does), so a page and the
// indexing of a concurrent change of one tutor write in turn and the newer version stays.
// Idempotent: a retried page writes the same or newer versions.
func (a *SearchActivities) ReindexPage(ctx context.Context, in ReindexPageInput) (ReindexPageResult, error) {
	if err := checkBuild(in.BuildID); err != nil {
		return ReindexPageResult{}, err
	}
	if in.Limit < 1 || in.Limit > search.MaxBulk {
		return ReindexPageResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("page size %d is not 1 to %d", in.Limit, search.MaxBulk), ErrBadInput, nil)
	}
	if _, err := a.rebuilder(); err != nil {
		return ReindexPageResult{}, err
	}
	ids, err := a.Tutors.IDsForIndex(ctx, in.After, in.Limit)
	if err != nil {
		return ReindexPageResult{}, err
	}
	res := ReindexPageResult{Last: in.After, Done: len(ids) < int(in.Limit)}
	for _, id := range ids {
		err := func() error {
			t, release, err := a.Tutors.ForIndex(ctx, id, true)
			defer release()
			if tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND {
				return nil
			}
			if err != nil {
				return err
			}
			_, err = a.write(ctx, t, in.BuildID)
			return err
		}()
		if err != nil {
			return ReindexPageResult{}, fmt.Errorf("reindex %s: %w", in.BuildID, err)
		}
		res.Indexed++
		res.Last = id
		activity.RecordHeartbeat(ctx, res.Last)
	}
	return res, nil
}

// SwapReindex makes the build the live index (idempotent: a swapped build is gone).
func (a *SearchActivities) SwapReindex(ctx context.Context, in ReindexInput) error {
	if err := checkBuild(in.BuildID); err != nil {
		return err
	}
	rb, err := a.rebuilder()
	if err != nil {
		return err
	}
	return engineError(rb.SwapBuild(ctx, in.BuildID))
}
