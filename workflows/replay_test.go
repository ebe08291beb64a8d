package workflows_test

import (
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/workflows"
)

// Histories recorded on the dev server with
// `temporal workflow show --output json --namespace tutorhub -w ID` from runs of the current
// code (cmd/tutorhub TestWorkerKeepsTheIndexInStepWithTutors logs the tutor id to find them
// by TutorId; `temporal workflow list --query 'WorkflowId="search-reindex/..."'` lists the
// runs of a rebuild, and `workflow show -r RUN` exports one). A change to a workflow that these histories no longer replay against would
// break runs in flight: put it behind workflow.GetVersion, and add a history of the new
// version here.
var recordedHistories = []struct{ file, workflow string }{
	{"index_tutor_updated.json", workflows.IndexTutorName},
	{"index_tutor_deleted.json", workflows.IndexTutorName},
	// Recorded from cmd/tutorhub TestSearchReindexRebuildsWhileWritesContinue (page size 1,
	// two pages a run): the first run of a chain (begin, two pages, continue-as-new) and
	// the last (two pages, the swap).
	{"reindex_all_first_run.json", workflows.ReindexAllName},
	{"reindex_all_last_run.json", workflows.ReindexAllName},
	// Recorded from server TestChangingThePasswordNotifiesOnceByMailInboxAndStream (find them
	// with `temporal workflow list --query "WorkflowType='NotifyFanout'"`): a security notice
	// delivered to the inbox and by mail, and a tutor notice whose mail the user turned off.
	{"notify_fanout_password_changed.json", workflows.NotifyFanoutName},
	{"notify_fanout_tutor_published_inbox_only.json", workflows.NotifyFanoutName},
	// Recorded from TestScanUploadEndToEnd, which logs each run's id (scan-upload/UPLOAD_ID).
	{"scan_upload_infected.json", workflows.ScanUploadName},
	{"scan_upload_clean_document.json", workflows.ScanUploadName},
	{"scan_upload_clean_avatar.json", workflows.ScanUploadName},
	{"scan_upload_rejected.json", workflows.ScanUploadName},
	// Recorded from TestBookingPaidThroughStripeEndToEnd, which logs the booking's and
	// Reconcile's run ids (the PaymentWebhook is stripe-event/EVENT_ID, the SignalBooking runs
	// are listed by `--query "WorkflowType='SignalBooking'"`): a booking paid, confirmed and
	// cancelled in the free window with its refund; the accept's signal; the succeeded event
	// applied and signalled; a reconciliation without drift.
	{"booking_lifecycle_paid_then_cancelled.json", workflows.BookingLifecycleName},
	{"signal_booking.json", workflows.SignalBookingName},
	{"payment_webhook_succeeded.json", workflows.PaymentWebhookName},
	{"reconcile_no_drift.json", workflows.ReconcileName},
}

func TestRecordedHistoriesReplay(t *testing.T) {
	t.Parallel()
	for _, h := range recordedHistories {
		t.Run(h.file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			workflows.RegisterSearch(r)
			workflows.RegisterNotify(r)
			workflows.RegisterUploads(r)
			workflows.RegisterBookings(r)
			workflows.RegisterPayments(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", h.file)); err != nil {
				t.Fatalf("%s no longer replays: %v", h.workflow, err)
			}
		})
	}
}

// TestReplayCatchesANonDeterministicChange proves the replay test has teeth: IndexTutor
// without its search-attribute upsert does not replay a recorded history.
func TestReplayCatchesANonDeterministicChange(t *testing.T) {
	t.Parallel()
	changed := func(ctx workflow.Context, in workflows.IndexTutorInput) (activities.IndexTutorDocumentResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		var res activities.IndexTutorDocumentResult
		err := workflow.ExecuteActivity(ctx, activities.IndexTutorDocumentName,
			activities.IndexTutorDocumentInput{TutorID: in.TutorID, EventVersion: in.Version}).Get(ctx, &res)
		return res, err
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.IndexTutorName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", recordedHistories[0].file)); err == nil {
		t.Fatal("a changed IndexTutor replayed the recorded history")
	}
}

// TestReplayCatchesAChangedFanout: NotifyFanout delivering its channels one after another
// (each awaited before the next starts) does not replay the recorded fan-out.
func TestReplayCatchesAChangedFanout(t *testing.T) {
	t.Parallel()
	changed := func(ctx workflow.Context, n notifications.Notice) (workflows.NotifyFanoutResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.EventTypeAttribute.ValueSet(n.EventType),
			workflows.UserIDAttribute.ValueSet(n.Recipients[0].String())); err != nil {
			return workflows.NotifyFanoutResult{}, err
		}
		var plan []notifications.Delivery
		if err := workflow.ExecuteActivity(ctx, activities.PlanNotificationName, n).Get(ctx, &plan); err != nil {
			return workflows.NotifyFanoutResult{}, err
		}
		for _, d := range plan {
			var outcome string
			name := activities.DeliverInboxName
			if d.Channel == notifications.ChannelEmail {
				name = activities.DeliverEmailName
			}
			if err := workflow.ExecuteActivity(ctx, name, activities.DeliverInput{Notice: n, UserID: d.UserID}).Get(ctx, &outcome); err != nil {
				return workflows.NotifyFanoutResult{}, err
			}
		}
		return workflows.NotifyFanoutResult{}, nil
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.NotifyFanoutName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", "notify_fanout_password_changed.json")); err == nil {
		t.Fatal("a sequential NotifyFanout replayed the recorded parallel fan-out")
	}
}
