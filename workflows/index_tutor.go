package workflows

import (
	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
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

// IndexTutor brings a tutor's search document up to date after a tutor event.
//
// STUB: the search package and its activities (read the profile through package tutors,
// upsert or delete the document when the event's version is newer) are being built on their
// own branch. Until they are merged, this registered stub only checks its input and records
// the event in the run's log, so the outbox relay, the worker and the Temporal UI work end to
// end. Replace the body with the activity calls; the name, the input and the routing stay.
func IndexTutor(ctx workflow.Context, in IndexTutorInput) error {
	if in.TutorID == uuid.Nil || in.Version < 1 {
		return temporal.NewNonRetryableApplicationError("IndexTutor needs a tutor id and a positive version", "InvalidInput", nil)
	}
	workflow.GetLogger(ctx).Info("tutor event received (IndexTutor is a stub until the search activities land)",
		"tutor_id", in.TutorID.String(), "version", in.Version, "event_type", in.EventType, "event_id", in.EventID.String())
	return nil
}

// RegisterSearch registers the workflows of QueueSearch on a worker of that queue.
func RegisterSearch(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(IndexTutor, workflow.RegisterOptions{Name: IndexTutorName})
}
