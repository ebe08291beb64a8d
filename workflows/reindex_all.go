package workflows

import (
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
)

// ReindexAllName is ReindexAll's registered workflow type name.
const ReindexAllName = "ReindexAll"

// ReindexProgressQuery is the query that returns a ReindexAll run's ReindexProgress.
const ReindexProgressQuery = "progress"

// ReindexEventType is the EventType search attribute of ReindexAll runs.
const ReindexEventType = "search.reindex"

// Defaults of ReindexAllInput.
const (
	DefaultReindexPageSize    = 500
	DefaultReindexPagesPerRun = 100
)

// ReindexAllInput starts a rebuild; the fields after PagesPerRun carry its state across
// continue-as-new and are zero on the first run.
type ReindexAllInput struct {
	// BuildID names the new index (search.CheckBuildID); `tutorhub search reindex` derives
	// it from the start time.
	BuildID string
	// PageSize is how many tutors one ReindexPage activity writes (0: the default).
	PageSize int32
	// PagesPerRun is how many pages a run walks before it continues as new, which keeps
	// its history short (0: the default).
	PagesPerRun int

	Begun bool
	After uuid.UUID
	Total int64
	Done  int64
}

// Phases of a rebuild, as ReindexProgress reports them.
const (
	PhaseBuilding = "building"
	PhaseSwapping = "swapping"
	PhaseDone     = "done"
)

// ReindexProgress is how far a rebuild got.
type ReindexProgress struct {
	Phase string
	// Done counts the tutors written to the new index; Total is how many were published
	// when the rebuild began (Done may pass it when tutors are published meanwhile).
	Done, Total int64
}

// reindexActivityOptions: a page is a few hundred short writes and heartbeats after each, so
// a killed worker's page moves on within a minute; every step retries until it succeeds,
// except for bad input and an engine that cannot rebuild.
var reindexActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	HeartbeatTimeout:    time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrBadInput, activities.ErrUnsupported},
	},
}

// ReindexAll rebuilds the search index from the tutors table without downtime: it begins a
// new index beside the live one (from then on every IndexTutor run writes to both), walks
// the published tutors into it page by page in id order, continuing as new every
// PagesPerRun pages, and swaps it in. Safe while writes continue: see docs/search.md,
// "Rebuilding". The ReindexProgressQuery query reports its progress.
func ReindexAll(ctx workflow.Context, in ReindexAllInput) (ReindexProgress, error) {
	if in.BuildID == "" || in.PageSize < 0 || in.PagesPerRun < 0 {
		return ReindexProgress{}, temporal.NewNonRetryableApplicationError("ReindexAll needs a build id and non-negative sizes", "InvalidInput", nil)
	}
	if in.PageSize == 0 {
		in.PageSize = DefaultReindexPageSize
	}
	if in.PagesPerRun == 0 {
		in.PagesPerRun = DefaultReindexPagesPerRun
	}
	progress := ReindexProgress{Phase: PhaseBuilding, Done: in.Done, Total: in.Total}
	if err := workflow.SetQueryHandler(ctx, ReindexProgressQuery, func() (ReindexProgress, error) { return progress, nil }); err != nil {
		return progress, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, EventTypeAttribute.ValueSet(ReindexEventType)); err != nil {
		return progress, err
	}
	ctx = workflow.WithActivityOptions(ctx, reindexActivityOptions)
	if !in.Begun {
		if err := workflow.ExecuteActivity(ctx, activities.BeginReindexName, activities.ReindexInput{BuildID: in.BuildID}).Get(ctx, &progress.Total); err != nil {
			return progress, err
		}
		in.Begun, in.Total = true, progress.Total
	}
	for pages := 0; ; pages++ {
		if pages == in.PagesPerRun {
			in.Done = progress.Done
			return progress, workflow.NewContinueAsNewError(ctx, ReindexAllName, in)
		}
		var page activities.ReindexPageResult
		err := workflow.ExecuteActivity(ctx, activities.ReindexPageName,
			activities.ReindexPageInput{BuildID: in.BuildID, After: in.After, Limit: in.PageSize}).Get(ctx, &page)
		if err != nil {
			return progress, err
		}
		progress.Done += page.Indexed
		in.After = page.Last
		if page.Done {
			break
		}
	}
	progress.Phase = PhaseSwapping
	if err := workflow.ExecuteActivity(ctx, activities.SwapReindexName, activities.ReindexInput{BuildID: in.BuildID}).Get(ctx, nil); err != nil {
		return progress, err
	}
	progress.Phase = PhaseDone
	workflow.GetLogger(ctx).Info("search index rebuilt and swapped in", "build_id", in.BuildID, "tutors", progress.Done)
	return progress, nil
}
