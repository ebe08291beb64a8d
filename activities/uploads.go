package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/clamd"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/uploads"
)

// Registered names of the upload activities.
const (
	InspectUploadName    = "InspectUpload"
	ScanUploadFileName   = "ScanUploadFile"
	FinishUploadScanName = "FinishUploadScan"
)

// UploadActivities are the side effects of ScanUpload: the uploads service (records and
// storage) and clamd. The worker streams a file from storage to clamd; no byte of it passes
// through the API.
type UploadActivities struct {
	Uploads *uploads.Service
	Store   *objectstore.Store
	Clamd   *clamd.Client
	// QuarantineBucket is where uploads wait for their scan.
	QuarantineBucket string
	// AbandonAfter is how long an upload may stay pending before it expires.
	AbandonAfter time.Duration
}

// RegisterUploads registers the upload activities on a worker of workflows.QueueUploads.
func RegisterUploads(r worker.ActivityRegistry, a *UploadActivities) {
	r.RegisterActivityWithOptions(a.InspectUpload, activity.RegisterOptions{Name: InspectUploadName})
	r.RegisterActivityWithOptions(a.ScanUploadFile, activity.RegisterOptions{Name: ScanUploadFileName})
	r.RegisterActivityWithOptions(a.FinishUploadScan, activity.RegisterOptions{Name: FinishUploadScanName})
	r.RegisterActivityWithOptions(a.ExpireAbandonedUploads, activity.RegisterOptions{Name: ExpireAbandonedUploadsName})
}

// InspectUploadResult is what the scan needs to know before streaming the file.
type InspectUploadResult struct {
	// Status is the upload's status now; anything but scanning means there is nothing to do.
	Status uploads.Status
	// Purpose is the upload's purpose, for the run's search attributes.
	Purpose uploads.Purpose
	// Inspection says whether to scan the file and whether it broke a rule.
	uploads.Inspection
}

// InspectUpload reads the upload and checks its stored file's existence, size and type.
func (a *UploadActivities) InspectUpload(ctx context.Context, id uuid.UUID) (InspectUploadResult, error) {
	u, err := a.Uploads.ForScan(ctx, id)
	if err != nil {
		return InspectUploadResult{}, uploadError(err)
	}
	res := InspectUploadResult{Status: u.Status, Purpose: u.Purpose}
	if u.Status != uploads.StatusScanning {
		return res, nil
	}
	res.Inspection, err = a.Uploads.Inspect(ctx, u)
	return res, uploadError(err)
}

// ScanUploadFileResult is clamd's verdict.
type ScanUploadFileResult struct {
	Infected  bool
	Signature string
}

// ScanUploadFile streams the quarantined file from storage to clamd, heartbeating with the
// bytes sent so far. Storage or clamd being down fails the attempt, which the workflow
// retries with backoff; the file stays in quarantine meanwhile.
func (a *UploadActivities) ScanUploadFile(ctx context.Context, id uuid.UUID) (ScanUploadFileResult, error) {
	u, err := a.Uploads.ForScan(ctx, id)
	if err != nil {
		return ScanUploadFileResult{}, uploadError(err)
	}
	body, _, err := a.Store.Open(ctx, a.QuarantineBucket, u.ObjectKey)
	if err != nil {
		return ScanUploadFileResult{}, err
	}
	defer body.Close()
	c := *a.Clamd
	c.MaxSize = u.Size
	v, err := c.Scan(ctx, &heartbeatReader{ctx: ctx, r: io.LimitReader(body, u.Size+1)})
	if errors.Is(err, clamd.ErrTooLarge) {
		return ScanUploadFileResult{}, temporal.NewNonRetryableApplicationError("the file is larger than declared", ErrBadInput, err)
	}
	if err != nil {
		return ScanUploadFileResult{}, fmt.Errorf("scan upload %s: %w", id, err)
	}
	return ScanUploadFileResult{Infected: v.Infected, Signature: v.Signature}, nil
}

// heartbeatReader records a heartbeat with the bytes read so far, at most every 1 MiB, so a
// killed worker's scan moves to another worker within the heartbeat timeout.
type heartbeatReader struct {
	ctx        context.Context
	r          io.Reader
	read, last int64
}

func (h *heartbeatReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += int64(n)
	if h.read-h.last >= 1<<20 || h.last == 0 {
		activity.RecordHeartbeat(h.ctx, h.read)
		h.last = max(h.read, 1)
	}
	return n, err
}

// FinishUploadScan applies the verdict (idempotent: see uploads.Service.Finish).
func (a *UploadActivities) FinishUploadScan(ctx context.Context, id uuid.UUID, v uploads.Verdict) (uploads.Status, error) {
	u, err := a.Uploads.Finish(ctx, id, v)
	if err != nil {
		return "", uploadError(err)
	}
	return u.Status, nil
}

// uploadError makes an upload that no longer exists a non-retryable failure.
func uploadError(err error) error {
	if err != nil && tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, err)
	}
	return err
}

// ExpireAbandonedUploadsName is the registered name of ExpireAbandonedUploads.
const ExpireAbandonedUploadsName = "ExpireAbandonedUploads"

// ExpireAbandonedUploadsPage is how many uploads one ExpireAbandonedUploads call expires.
const ExpireAbandonedUploadsPage = 100

// ExpireAbandonedUploads expires one page of uploads pending for longer than AbandonAfter
// and returns how many it expired (a full page means there may be more).
func (a *UploadActivities) ExpireAbandonedUploads(ctx context.Context) (int, error) {
	return a.Uploads.ExpireAbandoned(ctx, time.Now().Add(-a.AbandonAfter), ExpireAbandonedUploadsPage)
}
