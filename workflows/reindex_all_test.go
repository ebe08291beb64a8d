package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/workflows"
)

// fakePages answers ReindexPage from a list of tutor ids, n per page, each page taking a
// minute of test time.
func fakePages(env *testsuite.TestWorkflowEnvironment, ids []uuid.UUID) *int {
	calls := 0
	env.OnActivity(activities.ReindexPageName, mock.Anything, mock.Anything).After(time.Minute).Return(
		func(_ context.Context, in activities.ReindexPageInput) (activities.ReindexPageResult, error) {
			calls++
			start := 0
			for i, id := range ids {
				if id == in.After {
					start = i + 1
				}
			}
			end := min(start+int(in.Limit), len(ids))
			res := activities.ReindexPageResult{Indexed: int64(end - start), Last: in.After, Done: end-start < int(in.Limit)}
			if end > start {
				res.Last = ids[end-1]
			}
			return res, nil
		})
	return &calls
}

func sortedIDs(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.UUID{15: byte(i + 1)}
	}
	return ids
}

func TestReindexAllWalksEveryPageThenSwaps(t *testing.T) {
	t.Parallel()
	env := newSearchEnv()
	env.OnActivity(activities.BeginReindexName, mock.Anything, activities.ReindexInput{BuildID: "b1"}).Return(int64(5), nil).Once()
	calls := fakePages(env, sortedIDs(5))
	env.OnActivity(activities.SwapReindexName, mock.Anything, activities.ReindexInput{BuildID: "b1"}).Return(nil).Once()
	var midway workflows.ReindexProgress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.ReindexProgressQuery)
		if err != nil {
			t.Errorf("progress query: %v", err)
			return
		}
		if err := v.Get(&midway); err != nil {
			t.Error(err)
		}
	}, 90*time.Second)
	env.ExecuteWorkflow(workflows.ReindexAllName, workflows.ReindexAllInput{BuildID: "b1", PageSize: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var got workflows.ReindexProgress
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if want := (workflows.ReindexProgress{Phase: workflows.PhaseDone, Done: 5, Total: 5}); got != want {
		t.Errorf("result %+v, want %+v", got, want)
	}
	if want := (workflows.ReindexProgress{Phase: workflows.PhaseBuilding, Done: 2, Total: 5}); midway != want {
		t.Errorf("progress after the first page = %+v, want %+v", midway, want)
	}
	if *calls != 3 {
		t.Errorf("%d pages, want 3", *calls)
	}
	env.AssertExpectations(t)
}

func TestReindexAllContinuesAsNewAndResumes(t *testing.T) {
	t.Parallel()
	ids := sortedIDs(5)
	env := newSearchEnv()
	env.OnActivity(activities.BeginReindexName, mock.Anything, mock.Anything).Return(int64(5), nil).Once()
	fakePages(env, ids)
	env.ExecuteWorkflow(workflows.ReindexAllName, workflows.ReindexAllInput{BuildID: "b2", PageSize: 2, PagesPerRun: 2})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow error %v, want continue-as-new after 2 pages", err)
	}
	var next workflows.ReindexAllInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	want := workflows.ReindexAllInput{BuildID: "b2", PageSize: 2, PagesPerRun: 2, Begun: true, After: ids[3], Total: 5, Done: 4}
	if next != want {
		t.Fatalf("continued with %+v, want %+v", next, want)
	}

	// The next run does not begin the build again: it resumes after the last page.
	env = newSearchEnv()
	calls := fakePages(env, ids)
	env.OnActivity(activities.SwapReindexName, mock.Anything, mock.Anything).Return(nil).Once()
	env.ExecuteWorkflow(workflows.ReindexAllName, next)
	var got workflows.ReindexProgress
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Done != 5 || got.Phase != workflows.PhaseDone || *calls != 1 {
		t.Errorf("resumed run: %+v after %d pages, want done with 5 after 1", got, *calls)
	}
}

func TestReindexAllFailsAtOnceOnAnEngineThatCannotRebuild(t *testing.T) {
	t.Parallel()
	env := newSearchEnv()
	env.OnActivity(activities.BeginReindexName, mock.Anything, mock.Anything).
		Return(int64(0), temporal.NewNonRetryableApplicationError("no", activities.ErrUnsupported, nil)).Once()
	env.ExecuteWorkflow(workflows.ReindexAllName, workflows.ReindexAllInput{BuildID: "b3"})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrUnsupported {
		t.Fatalf("workflow error %v, want %s", err, activities.ErrUnsupported)
	}
	env = newSearchEnv()
	env.ExecuteWorkflow(workflows.ReindexAllName, workflows.ReindexAllInput{})
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != "InvalidInput" {
		t.Fatalf("no build id: %v, want InvalidInput", err)
	}
}
