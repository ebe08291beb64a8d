package temporalclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// waitForCancel is an activity that runs until its attempt times out.
func waitForCancel(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func failing(workflow.Context) error {
	return temporal.NewNonRetryableApplicationError("refused", "Refused", nil)
}

func timingOut(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 300 * time.Millisecond,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	return workflow.ExecuteActivity(ctx, waitForCancel).Get(ctx, nil)
}

func succeeding(workflow.Context) error { return nil }

// TestWorkflowFailuresAreCountedByCause runs a failing, a timing-out and a succeeding
// workflow on a worker of a client built by temporalclient, and reads the failure counter.
func TestWorkflowFailuresAreCountedByCause(t *testing.T) {
	t.Parallel()
	_, queue := testenv.Temporal(t)
	reader := sdkmetric.NewManualReader()
	ctx := context.Background()
	c, err := temporalclient.Dial(ctx, config.Temporal{Address: testenv.TemporalAddress(), Namespace: testenv.TemporalNamespace()},
		temporalclient.Options{Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(failing, workflow.RegisterOptions{Name: "Failing"})
	w.RegisterWorkflowWithOptions(timingOut, workflow.RegisterOptions{Name: "TimingOut"})
	w.RegisterWorkflowWithOptions(succeeding, workflow.RegisterOptions{Name: "Succeeding"})
	w.RegisterActivity(waitForCancel)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, name := range []string{"Failing", "TimingOut", "Succeeding"} {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, name)
		if err != nil {
			t.Fatal(err)
		}
		err = run.Get(ctx, nil)
		if (err == nil) != (name == "Succeeding") {
			t.Fatalf("%s ended with %v", name, err)
		}
		var timeout *temporal.TimeoutError
		if name == "TimingOut" && !errors.As(err, &timeout) {
			t.Fatalf("TimingOut failed with %v, want a timeout", err)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != temporalclient.WorkflowFailuresMetric {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("%s is %T (monotonic: %v), want a counter", m.Name, m.Data, ok && sum.IsMonotonic)
			}
			for _, dp := range sum.DataPoints {
				typ, _ := dp.Attributes.Value(attribute.Key("workflow_type"))
				cause, _ := dp.Attributes.Value(attribute.Key("cause"))
				got[typ.AsString()+"/"+cause.AsString()] += dp.Value
			}
		}
	}
	want := map[string]int64{"Failing/error": 1, "TimingOut/timeout": 1}
	if len(got) != len(want) || got["Failing/error"] != 1 || got["TimingOut/timeout"] != 1 {
		t.Errorf("%s by workflow type and cause = %v, want %v", temporalclient.WorkflowFailuresMetric, got, want)
	}
}
