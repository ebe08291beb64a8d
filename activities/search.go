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
)

// Application error types the search activities fail with; each is non-retryable.
const (
	// ErrBadInput is a request no retry can fix (no tutor id).
	ErrBadInput = "BadInput"
)

// TutorReader reads a tutor as the indexer needs it (tutors.Service).
type TutorReader interface {
	ForIndex(ctx context.Context, id uuid.UUID, lock bool) (tutors.Indexed, func(), error)
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
	log := activity.GetLogger(ctx)
	if t.Deleted || !t.Published {
		if err := a.Engine.Delete(ctx, t.ID, t.Version); err != nil {
			return IndexTutorDocumentResult{}, engineError(fmt.Errorf("index tutor %s: remove at version %d: %w", t.ID, t.Version, err))
		}
		log.Info("tutor removed from search", "tutor_id", t.ID.String(), "version", t.Version, "deleted", t.Deleted)
		return IndexTutorDocumentResult{Action: ActionRemoved, Version: t.Version}, nil
	}
	if err := a.Engine.Upsert(ctx, search.FromTutor(t.Tutor, t.SubjectNames)); err != nil {
		return IndexTutorDocumentResult{}, engineError(fmt.Errorf("index tutor %s: upsert at version %d: %w", t.ID, t.Version, err))
	}
	log.Info("tutor indexed", "tutor_id", t.ID.String(), "version", t.Version)
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
