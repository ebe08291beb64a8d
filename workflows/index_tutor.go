package workflows

import (
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
)

// IndexTutorName is IndexTutor's registered workflow type name.
const IndexTutorName = "IndexTutor"

// IndexTutorInput is what IndexTutor needs from a tutor event.
type IndexTutorInput struct {
	// EventID is the outbox event that started the run.
	EventID uuid.UUID
	// EventType is the tutor event type (tutors.EventUpdated, ...).
	EventType string
	// TutorID is the tutor whose search document is brought up to date.
	TutorID uuid.UUID
	// Version is the tutor's version after the change; a document at this version or newer
	// is left alone.
	Version int64
	// Published says whether the tutor was published after the change.
	Published bool
}

// indexActivityOptions bound one attempt of an indexing activity and retry it with backoff
// for as long as it takes: a search engine that is down for a while delays the index, it
// never loses an event. Only a bad payload (activities.ErrBadInput) fails at once. An
// attempt is one read and one write, so 15 s is generous and is also how long the work of a
// killed worker waits before another worker retries it.
var indexActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 15 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        0, // unlimited: the engine comes back eventually
		NonRetryableErrorTypes: []string{activities.ErrBadInput},
	},
}

// IndexTutor brings a tutor's search document up to date after a tutor event: the
// IndexTutorDocument activity reads the tutor's current profile through package tutors and
// upserts its document (published and live) or replaces it with a tombstone (unpublished or
// deleted), at the profile's version, so an older event never overwrites a newer one and
// runs of one tutor may finish in any order. The run carries the TutorId and EventType
// search attributes, so operators find it in the Temporal UI. A run without a tutor id or
// version fails at once (InvalidInput); an engine that is down is retried until it answers.
func IndexTutor(ctx workflow.Context, in IndexTutorInput) (activities.IndexTutorDocumentResult, error) {
	if in.TutorID == uuid.Nil || in.Version < 1 {
		return activities.IndexTutorDocumentResult{}, temporal.NewNonRetryableApplicationError("IndexTutor needs a tutor id and a positive version", "InvalidInput", nil)
	}
	// The relay sets both at start; a run started by hand (or by an older relay) gets them
	// here, so every IndexTutor run is findable.
	err := workflow.UpsertTypedSearchAttributes(ctx,
		TutorIDAttribute.ValueSet(in.TutorID.String()), EventTypeAttribute.ValueSet(in.EventType))
	if err != nil {
		return activities.IndexTutorDocumentResult{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, indexActivityOptions)
	var res activities.IndexTutorDocumentResult
	err = workflow.ExecuteActivity(ctx, activities.IndexTutorDocumentName,
		activities.IndexTutorDocumentInput{TutorID: in.TutorID, EventVersion: in.Version}).Get(ctx, &res)
	if err != nil {
		return activities.IndexTutorDocumentResult{}, err
	}
	workflow.GetLogger(ctx).Info("tutor search document up to date", "tutor_id", in.TutorID.String(),
		"event_version", in.Version, "event_type", in.EventType, "action", res.Action, "version", res.Version)
	return res, nil
}

// RegisterSearch registers the workflows of QueueSearch on a worker of that queue. Their
// activities are registered with activities.RegisterSearch.
func RegisterSearch(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(IndexTutor, workflow.RegisterOptions{Name: IndexTutorName})
	r.RegisterWorkflowWithOptions(ReindexAll, workflow.RegisterOptions{Name: ReindexAllName})
}
