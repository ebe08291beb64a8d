package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

func TestWorkerRefusesBadQueues(t *testing.T) {
	t.Parallel()
	env := baseEnv("postgres://x@127.0.0.1:1/none")
	for _, tc := range []struct{ queues, want string }{
		{"bogus", `unknown queue "bogus"`},
		{"search,search", `queue "search" is listed twice`},
		{"search,", "empty queue name"},
	} {
		t.Run(tc.queues, func(t *testing.T) {
			r := runBinary(t, env, "worker", "--queues", tc.queues)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// startWorker starts `tutorhub worker` and waits until it logs its metrics address.
func startWorker(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, "worker", "serving worker metrics", 60*time.Second, env, args...)
}

// TestWorkerDispatchesRunsAndDrains runs the worker against the real stack: an outbox event
// becomes a completed IndexTutor run on the worker's own search queue, the relay's log line
// carries a trace id, /metrics shows the relay's metrics (its lag among them), the Temporal
// SDK's, and a failed run among the workflow failures, and SIGTERM stops it cleanly.
func TestWorkerDispatchesRunsAndDrains(t *testing.T) {
	t.Parallel()
	tc, queue := testenv.Temporal(t)
	dbURL := testenv.DatabaseURL(t)
	prefix := queue + "/"
	p := startWorker(t, baseEnv(dbURL,
		"TUTORHUB_TEMPORAL_ADDRESS="+testenv.TemporalAddress(),
		"TUTORHUB_TEMPORAL_NAMESPACE="+testenv.TemporalNamespace(),
		"TUTORHUB_WORKER_METRICS_ADDR=127.0.0.1:0",
	), "--queues", workflows.QueueSearch, "--queue-prefix", prefix)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tutor := uuid.New()
	payload := fmt.Sprintf(`{"schema":%d,"tutor_id":%q,"user_id":%q,"version":1,"published":true}`, tutors.EventSchema, tutor, uuid.New())
	if err := queries.New(conn).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: tutors.Aggregate, AggregateID: tutor, EventType: tutors.EventPublished, Payload: payload,
	}); err != nil {
		t.Fatal(err)
	}
	var workflowID string
	eventually(t, 30*time.Second, "the event is dispatched", func() bool {
		err := conn.QueryRow(ctx, "SELECT workflow_id FROM outbox WHERE aggregate_id = $1 AND processed_at IS NOT NULL", tutor).Scan(&workflowID)
		return err == nil
	})
	eventually(t, 30*time.Second, "the workflow completes on the worker", func() bool {
		d, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	d, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.GetWorkflowExecutionInfo().GetTaskQueue(); got != prefix+workflows.QueueSearch {
		t.Errorf("the run's task queue is %q, want %q", got, prefix+workflows.QueueSearch)
	}
	var traced bool
	for _, l := range p.Logs() {
		if l["msg"] == "outbox event dispatched" && l["workflow_id"] == workflowID {
			id, _ := l["trace_id"].(string)
			traced = len(id) == 32
		}
	}
	if !traced {
		t.Errorf("no dispatch log line with a trace id for %s in %v", workflowID, p.Logs())
	}

	// A run that fails on the worker (IndexTutor refuses an input without a tutor id) is
	// counted as a workflow failure.
	failed, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: prefix + workflows.QueueSearch}, workflows.IndexTutorName, workflows.IndexTutorInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := failed.Get(ctx, nil); err == nil {
		t.Fatal("IndexTutor without a tutor id succeeded")
	}
	scrape := func() string {
		resp, err := http.Get("http://" + p.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	failures := regexp.MustCompile(`(?m)^tutorhub_workflow_failures_total\{[^}]*cause="error"[^}]*workflow_type="IndexTutor"[^}]*\} 1$`)
	eventually(t, 10*time.Second, "/metrics counts the failed run", func() bool { return failures.MatchString(scrape()) })
	body := scrape()
	for _, metric := range []string{"tutorhub_outbox_dispatched_total", "tutorhub_outbox_backlog", "tutorhub_outbox_oldest_age_seconds", "temporal_request",
		`tutorhub_outbox_relay_lag_seconds_count{event_type="tutor.published"`, `tutorhub_outbox_relay_lag_seconds_bucket{event_type="tutor.published"`} {
		if !strings.Contains(body, metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}
	if got := getStatus("http://" + p.addr + "/health"); got != http.StatusOK {
		t.Errorf("/health: %d", got)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("worker did not exit after SIGTERM")
	}
	if !slices.ContainsFunc(p.Logs(), func(l map[string]any) bool { return l["msg"] == "shutdown complete" }) {
		t.Error("the worker did not log \"shutdown complete\"")
	}
}
