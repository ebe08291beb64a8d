package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/workflows"
)

// searchCmd runs `tutorhub search reindex`.
func searchCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reindex" {
		fmt.Fprintln(stderr, "usage: tutorhub search reindex [--page-size N] [--queue-prefix P]")
		return exitCode(2)
	}
	fs := flag.NewFlagSet("search reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pageSize := fs.Int("page-size", workflows.DefaultReindexPageSize, "tutors per page (1 to 1000)")
	prefix := fs.String("queue-prefix", "", "the --queue-prefix of the worker that serves the search queue")
	if err := fs.Parse(args[1:]); err != nil {
		return exitCode(2)
	}
	if fs.NArg() > 0 || *pageSize < 1 || *pageSize > 1000 {
		fmt.Fprintln(stderr, "tutorhub search reindex: --page-size must be 1 to 1000, and no arguments")
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	tc, err := temporalclient.Dial(dialCtx, cfg.Temporal, temporalclient.Options{})
	cancel()
	if err != nil {
		return err
	}
	defer tc.Close()
	_, err = reindex(ctx, tc, reindexOptions{QueuePrefix: *prefix, PageSize: int32(*pageSize), Now: time.Now(), Out: stdout, Poll: 500 * time.Millisecond})
	return err
}

// reindexOptions configure reindex.
type reindexOptions struct {
	QueuePrefix string
	PageSize    int32
	PagesPerRun int
	// Now names the run: workflow id search-reindex/<UTC time>, build r<UTC time>.
	Now time.Time
	// Out receives the progress: a bar redrawn in place on a terminal, else a line per change.
	Out io.Writer
	// Poll is how often the progress is asked for.
	Poll time.Duration
}

// reindex starts ReindexAll, reports its progress until it ends, and returns its final
// progress.
func reindex(ctx context.Context, tc client.Client, o reindexOptions) (workflows.ReindexProgress, error) {
	at := o.Now.UTC()
	id := "search-reindex/" + at.Format("20060102T150405.000Z")
	build := "r" + strings.ReplaceAll(strings.ToLower(at.Format("20060102t150405.000")), ".", "_")
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             o.QueuePrefix + workflows.QueueSearch,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.EventTypeAttribute.ValueSet(workflows.ReindexEventType)),
	}, workflows.ReindexAllName, workflows.ReindexAllInput{BuildID: build, PageSize: o.PageSize, PagesPerRun: o.PagesPerRun})
	if err != nil {
		return workflows.ReindexProgress{}, fmt.Errorf("start %s: %w", id, err)
	}
	fmt.Fprintf(o.Out, "reindex: started workflow %s (new index %s); it goes on if this command stops\n", id, build)
	done := make(chan error, 1)
	var final workflows.ReindexProgress
	go func() { done <- run.Get(ctx, &final) }() // Get follows the continued runs
	// The dev seed's progress bar: redrawn in place on a terminal, a "n/total" line per
	// tenth elsewhere. Done may pass Total (tutors published during the rebuild).
	progress := newProgressBar(o.Out, isTerminal(o.Out), "reindex")
	var last workflows.ReindexProgress
	show := func(p workflows.ReindexProgress) {
		if p == last {
			return
		}
		last = p
		progress.update(p.Done, max(p.Total, p.Done))
	}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return final, fmt.Errorf("reindex %s: %w", id, err)
			}
			show(final)
			progress.finish()
			fmt.Fprintf(o.Out, "reindex: done, %d tutors in the new index, now live\n", final.Done)
			return final, nil
		case <-tick.C:
			// The latest run answers: the run id is left empty across continue-as-new.
			v, err := tc.QueryWorkflow(ctx, id, "", workflows.ReindexProgressQuery)
			if err != nil {
				continue // between runs, or not started on a worker yet
			}
			var p workflows.ReindexProgress
			if v.Get(&p) == nil {
				show(p)
			}
		case <-ctx.Done():
			return last, errors.Join(ctx.Err(), fmt.Errorf("stopped watching %s; it goes on", id))
		}
	}
}
