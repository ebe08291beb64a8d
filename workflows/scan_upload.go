package workflows

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/uploads"
)

// ScanUploadName is ScanUpload's registered workflow type name.
const ScanUploadName = "ScanUpload"

// Search attributes of ScanUpload runs.
var (
	// UploadIDAttribute is the upload a run scans.
	UploadIDAttribute = temporal.NewSearchAttributeKeyKeyword("UploadId")
	// UploadPurposeAttribute is the scanned upload's purpose.
	UploadPurposeAttribute = temporal.NewSearchAttributeKeyKeyword("UploadPurpose")
)

// ScanUploadID is the id of an upload's scan: one per upload, whatever started it.
func ScanUploadID(id uuid.UUID) string { return "scan-upload/" + id.String() }

// ScanUploadInput names the upload to scan.
type ScanUploadInput struct {
	UploadID uuid.UUID
}

// ScanUploadResult is the upload's final status.
type ScanUploadResult struct {
	Status uploads.Status
}

// uploadActivityOptions retry storage and clamd outages with backoff for up to a day; the
// file stays quarantined (never served) until the scan ends. The heartbeat timeout moves a
// killed worker's scan to another worker within seconds.
var uploadActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    5 * time.Minute,
	ScheduleToCloseTimeout: 24 * time.Hour,
	HeartbeatTimeout:       20 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrBadInput},
	},
}

// ScanUpload checks a completed upload and gives it its verdict: InspectUpload checks that the
// file exists with the declared size and a type its bytes confirm; ScanUploadFile streams it
// to clamd (a file of the wrong type too: malware is infected, whatever its type); FinishUploadScan promotes a clean file (and sets the avatar or queues the document
// for review) or deletes an infected or rejected one, records the status and the
// upload.scanned event. An upload that is no longer scanning (already finished, deleted)
// ends the run with its status.
func ScanUpload(ctx workflow.Context, in ScanUploadInput) (ScanUploadResult, error) {
	if in.UploadID == uuid.Nil {
		return ScanUploadResult{}, temporal.NewNonRetryableApplicationError("ScanUpload needs an upload id", "InvalidInput", nil)
	}
	ctx = workflow.WithActivityOptions(ctx, uploadActivityOptions)
	var inspected activities.InspectUploadResult
	if err := workflow.ExecuteActivity(ctx, activities.InspectUploadName, in.UploadID).Get(ctx, &inspected); err != nil {
		return ScanUploadResult{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		UploadIDAttribute.ValueSet(in.UploadID.String()), UploadPurposeAttribute.ValueSet(string(inspected.Purpose))); err != nil {
		return ScanUploadResult{}, err
	}
	if inspected.Status != uploads.StatusScanning {
		return ScanUploadResult{Status: inspected.Status}, nil
	}
	verdict := inspected.Rejected
	if inspected.Scan {
		var scanned activities.ScanUploadFileResult
		if err := workflow.ExecuteActivity(ctx, activities.ScanUploadFileName, in.UploadID).Get(ctx, &scanned); err != nil {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrBadInput {
				return ScanUploadResult{}, err
			}
			verdict = &uploads.Verdict{Status: uploads.StatusRejected, Reason: "the file is larger than declared"}
		} else if scanned.Infected {
			verdict = &uploads.Verdict{Status: uploads.StatusInfected, Reason: "virus found: " + scanned.Signature, SniffedType: inspected.SniffedType}
		} else if verdict == nil {
			verdict = &uploads.Verdict{Status: uploads.StatusClean, SniffedType: inspected.SniffedType}
		}
	}
	var status uploads.Status
	if err := workflow.ExecuteActivity(ctx, activities.FinishUploadScanName, in.UploadID, *verdict).Get(ctx, &status); err != nil {
		return ScanUploadResult{}, err
	}
	workflow.GetLogger(ctx).Info("upload scanned", "upload_id", in.UploadID.String(), "status", string(status))
	return ScanUploadResult{Status: status}, nil
}

// RegisterUploads registers the workflows of QueueUploads on a worker of that queue. Their
// activities are registered with activities.RegisterUploads.
func RegisterUploads(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(ScanUpload, workflow.RegisterOptions{Name: ScanUploadName})
	r.RegisterWorkflowWithOptions(ExpireAbandonedUploads, workflow.RegisterOptions{Name: ExpireAbandonedUploadsName})
}

// ExpireAbandonedUploadsName is ExpireAbandonedUploads's registered workflow type name.
const ExpireAbandonedUploadsName = "ExpireAbandonedUploads"

// ExpireAbandonedUploadsScheduleID is the Temporal schedule that runs ExpireAbandonedUploads
// hourly; `tutorhub worker` serving QueueUploads creates it.
const ExpireAbandonedUploadsScheduleID = "expire-abandoned-uploads"

// ExpireAbandonedUploads expires every upload left pending (never completed) for longer than
// TUTORHUB_UPLOADS_ABANDON_AFTER, a page at a time, deleting what was stored for it.
func ExpireAbandonedUploads(ctx workflow.Context) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	total := 0
	for page := 0; page < 1000; page++ {
		var n int
		if err := workflow.ExecuteActivity(ctx, activities.ExpireAbandonedUploadsName).Get(ctx, &n); err != nil {
			return total, err
		}
		total += n
		if n < activities.ExpireAbandonedUploadsPage {
			break
		}
	}
	return total, nil
}
