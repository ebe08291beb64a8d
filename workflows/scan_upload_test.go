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
	"github.com/tutorhub/tutorhub/uploads"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestScanUploadDecides: the verdict ScanUpload hands to FinishUploadScan for each thing the
// inspection and the scanner can say, and that a scanner outage is retried, not judged.
func TestScanUploadDecides(t *testing.T) {
	rejected := &uploads.Verdict{Status: uploads.StatusRejected, Reason: "the file's content is application/x-executable, not the declared image/png"}
	cases := []struct {
		name     string
		inspect  activities.InspectUploadResult
		scan     *activities.ScanUploadFileResult
		scanErr  error
		want     *uploads.Verdict // nil: FinishUploadScan is not called
		wantScan bool
	}{
		{"clean", activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Scan: true, SniffedType: uploads.TypePNG}},
			&activities.ScanUploadFileResult{}, nil, &uploads.Verdict{Status: uploads.StatusClean, SniffedType: uploads.TypePNG}, true},
		{"infected wins over a wrong type", activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Scan: true, Rejected: rejected}},
			&activities.ScanUploadFileResult{Infected: true, Signature: "Eicar"}, nil, &uploads.Verdict{Status: uploads.StatusInfected, Reason: "virus found: Eicar"}, true},
		{"a wrong type that is not malware is rejected", activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Scan: true, Rejected: rejected}},
			&activities.ScanUploadFileResult{}, nil, rejected, true},
		{"a missing file is rejected unscanned", activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Rejected: &uploads.Verdict{Status: uploads.StatusRejected, Reason: "no file was uploaded"}}},
			nil, nil, &uploads.Verdict{Status: uploads.StatusRejected, Reason: "no file was uploaded"}, false},
		{"a longer stream than declared is rejected", activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Scan: true}},
			nil, temporal.NewNonRetryableApplicationError("larger", activities.ErrBadInput, nil), &uploads.Verdict{Status: uploads.StatusRejected, Reason: "the file is larger than declared"}, true},
		{"an upload already finished is left alone", activities.InspectUploadResult{Status: uploads.StatusClean},
			nil, nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			workflows.RegisterUploads(env)
			activities.RegisterUploads(env, &activities.UploadActivities{})
			id := uuid.New()
			env.OnActivity(activities.InspectUploadName, mock.Anything, id).Return(tc.inspect, nil)
			scanned := false
			if tc.wantScan {
				env.OnActivity(activities.ScanUploadFileName, mock.Anything, id).Return(
					func(_ context.Context, _ uuid.UUID) (activities.ScanUploadFileResult, error) {
						scanned = true
						if tc.scanErr != nil {
							return activities.ScanUploadFileResult{}, tc.scanErr
						}
						return *tc.scan, nil
					})
			}
			var got *uploads.Verdict
			env.OnActivity(activities.FinishUploadScanName, mock.Anything, id, mock.Anything).Return(
				func(_ context.Context, _ uuid.UUID, v uploads.Verdict) (uploads.Status, error) {
					got = &v
					return v.Status, nil
				})
			env.ExecuteWorkflow(workflows.ScanUpload, workflows.ScanUploadInput{UploadID: id})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if scanned != tc.wantScan {
				t.Errorf("scanned = %v, want %v", scanned, tc.wantScan)
			}
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("FinishUploadScan called with %+v", *got)
			case tc.want != nil && (got == nil || *got != *tc.want):
				t.Errorf("verdict %+v, want %+v", got, *tc.want)
			}
		})
	}
}

// A scanner that is down fails the attempt; the workflow retries it until clamd answers, and
// only then judges the file.
func TestScanUploadRetriesAScannerOutage(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	workflows.RegisterUploads(env)
	activities.RegisterUploads(env, &activities.UploadActivities{})
	id := uuid.New()
	env.OnActivity(activities.InspectUploadName, mock.Anything, id).Return(
		activities.InspectUploadResult{Status: uploads.StatusScanning, Inspection: uploads.Inspection{Scan: true}}, nil)
	attempts := 0
	env.OnActivity(activities.ScanUploadFileName, mock.Anything, id).Return(
		func(_ context.Context, _ uuid.UUID) (activities.ScanUploadFileResult, error) {
			attempts++
			if attempts < 4 {
				return activities.ScanUploadFileResult{}, errors.New("clamd: dial 127.0.0.1:3310: connection refused")
			}
			return activities.ScanUploadFileResult{}, nil
		})
	env.OnActivity(activities.FinishUploadScanName, mock.Anything, id, mock.Anything).Return(uploads.StatusClean, nil)
	env.ExecuteWorkflow(workflows.ScanUpload, workflows.ScanUploadInput{UploadID: id})
	var res workflows.ScanUploadResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if attempts != 4 || res.Status != uploads.StatusClean {
		t.Errorf("%d attempts, status %s; want 4 and clean", attempts, res.Status)
	}
}
