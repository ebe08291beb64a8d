package temporalclient

import (
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// WorkflowFailuresMetric counts the workflow runs a worker saw end in failure, by the
// SDK's tags (namespace, task_queue, workflow_type) and a cause: "timeout" when a timeout
// (an activity's, a child's, a timer-bound wait's) caused it, "error" otherwise. Prometheus
// shows it as tutorhub_workflow_failures_total. Canceled runs and continue-as-new are not
// failures. A run that times out on the server as a whole (its execution or run timeout) ends
// without its worker seeing it: the server's own metrics count those.
const WorkflowFailuresMetric = "tutorhub_workflow_failures"

// failureCounter is a worker interceptor (given to the client, which hands it to every
// worker it creates) that counts failed workflow runs through the workflow's metrics handler,
// which reports nothing while a run's history is replayed, so a run counts once.
type failureCounter struct {
	interceptor.ClientInterceptorBase
	interceptor.WorkerInterceptorBase
}

func (*failureCounter) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &countFailures{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type countFailures struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (c *countFailures) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := c.Next.ExecuteWorkflow(ctx, in)
	if err != nil && !workflow.IsContinueAsNewError(err) && !temporal.IsCanceledError(err) {
		cause := "error"
		if temporal.IsTimeoutError(err) {
			cause = "timeout"
		}
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"cause": cause}).Counter(WorkflowFailuresMetric).Inc(1)
	}
	return res, err
}
