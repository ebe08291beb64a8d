package workflows_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

func TestIndexTutor(t *testing.T) {
	t.Parallel()
	valid := workflows.IndexTutorInput{EventID: uuid.New(), EventType: tutors.EventUpdated, TutorID: uuid.New(), Version: 4, Published: true}
	for _, tc := range []struct {
		name     string
		in       func() workflows.IndexTutorInput
		wantType string // the application error type of a failed run; "" for success
	}{
		{"a tutor event completes", func() workflows.IndexTutorInput { return valid }, ""},
		{"no tutor id fails without retries", func() workflows.IndexTutorInput { in := valid; in.TutorID = uuid.Nil; return in }, "InvalidInput"},
		{"no version fails without retries", func() workflows.IndexTutorInput { in := valid; in.Version = 0; return in }, "InvalidInput"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			workflows.RegisterSearch(env)
			env.ExecuteWorkflow(workflows.IndexTutorName, tc.in())
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			err := env.GetWorkflowError()
			if tc.wantType == "" {
				if err != nil {
					t.Fatalf("workflow failed: %v", err)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != tc.wantType || !appErr.NonRetryable() {
				t.Fatalf("workflow error = %v, want a non-retryable %s", err, tc.wantType)
			}
		})
	}
}
