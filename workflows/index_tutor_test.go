package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// newSearchEnv is a test environment with the search queue's workflows and activities
// registered; tests mock the activities with env.OnActivity.
func newSearchEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	workflows.RegisterSearch(env)
	activities.RegisterSearch(env, &activities.SearchActivities{})
	return env
}

func TestIndexTutor(t *testing.T) {
	t.Parallel()
	valid := workflows.IndexTutorInput{EventID: uuid.New(), EventType: tutors.EventUpdated, TutorID: uuid.New(), Version: 4, Published: true}
	engineDown := errors.New("search engine unavailable")
	for _, tc := range []struct {
		name string
		in   func() workflows.IndexTutorInput
		// results are the activity's answers to its attempts, in order.
		results  []error
		want     activities.IndexTutorDocumentResult
		wantType string // the application error type of a failed run; "" for success
		attempts int    // activity attempts the run makes
	}{
		{"a tutor event indexes the tutor's current version", func() workflows.IndexTutorInput { return valid }, []error{nil},
			activities.IndexTutorDocumentResult{Action: activities.ActionUpserted, Version: 5}, "", 1},
		{"a search engine that is down is retried until it answers", func() workflows.IndexTutorInput { return valid },
			[]error{engineDown, engineDown, engineDown, nil},
			activities.IndexTutorDocumentResult{Action: activities.ActionUpserted, Version: 5}, "", 4},
		{"a document the engine refuses fails without retries", func() workflows.IndexTutorInput { return valid },
			[]error{temporal.NewNonRetryableApplicationError("bad document", activities.ErrBadInput, nil)},
			activities.IndexTutorDocumentResult{}, activities.ErrBadInput, 1},
		{"no tutor id fails without retries", func() workflows.IndexTutorInput { in := valid; in.TutorID = uuid.Nil; return in }, nil,
			activities.IndexTutorDocumentResult{}, "InvalidInput", 0},
		{"no version fails without retries", func() workflows.IndexTutorInput { in := valid; in.Version = 0; return in }, nil,
			activities.IndexTutorDocumentResult{}, "InvalidInput", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newSearchEnv()
			in := tc.in()
			attempts := 0
			env.OnActivity(activities.IndexTutorDocumentName, mock.Anything, activities.IndexTutorDocumentInput{TutorID: in.TutorID, EventVersion: in.Version}).
				Return(func(context.Context, activities.IndexTutorDocumentInput) (activities.IndexTutorDocumentResult, error) {
					err := tc.results[attempts]
					attempts++
					if err != nil {
						return activities.IndexTutorDocumentResult{}, err
					}
					return tc.want, nil
				})
			var upserted []string
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				id, _ := sa.GetKeyword(workflows.TutorIDAttribute)
				typ, _ := sa.GetKeyword(workflows.EventTypeAttribute)
				upserted = append(upserted, id, typ)
			}).Return(nil).Maybe()
			env.ExecuteWorkflow(workflows.IndexTutorName, in)
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if attempts != tc.attempts {
				t.Errorf("activity attempts = %d, want %d", attempts, tc.attempts)
			}
			err := env.GetWorkflowError()
			if tc.wantType != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tc.wantType {
					t.Fatalf("workflow error = %v, want a %s", err, tc.wantType)
				}
				return
			}
			if err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var got activities.IndexTutorDocumentResult
			if err := env.GetWorkflowResult(&got); err != nil || got != tc.want {
				t.Errorf("result = %+v, %v; want %+v", got, err, tc.want)
			}
			if want := []string{in.TutorID.String(), in.EventType}; len(upserted) != 2 || upserted[0] != want[0] || upserted[1] != want[1] {
				t.Errorf("search attributes upserted = %v, want TutorId and EventType %v", upserted, want)
			}
		})
	}
}
