package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

// cacheOff says why caching was off for task taskID of run r, from the
// workflow the run stored, read with the task types reg.
func (a *app) cacheOff(ctx context.Context, st sourceReader, r *cairn.Run, taskID string) string {
	if r.ReproduceOf != "" {
		return fmt.Sprintf("run %s reproduces run %s, which uses no cache", r.ID, r.ReproduceOf)
	}
	wf, _, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
		return storedWorkflow(ctx, st, reg, r, "explain")
	})
	if err != nil {
		return "the workflow the run stored cannot be read again to say why: " + oneLine(err.Error())
	}
	t := wf.Declared(taskID)
	if t == nil {
		return "the workflow the run stored has no such task"
	}
	if t.Cached {
		return fmt.Sprintf("the run was started with --no-cache (else: %s)", t.CacheWhy)
	}
	return t.CacheWhy
}

// cachedFrom is the attempt whose outputs task tr's latest attempt
// reused; zero when it ran.
func cachedFrom(tr *cairn.TaskRun, atts []*cairn.Attempt) cairn.AttemptRef {
	if n := len(atts); tr.State == cairn.TaskSucceeded && n > 0 {
		return atts[n-1].CachedFrom
	}
	return cairn.AttemptRef{}
}

// cacheFromRun is the cache story of task tr as its run alone tells it:
// the attempt it reused, or that it ran (on: why) or that caching was off.
func cacheFromRun(tr *cairn.TaskRun, atts []*cairn.Attempt, on string) lineage.CacheStory {
	story := lineage.CacheStory{On: tr.Cache, Changes: []string{}}
	if from := cachedFrom(tr, atts); !from.IsZero() {
		story.Hit = &from
		story.Why = fmt.Sprintf("reused the outputs of %s: not run", from)
	} else if tr.Cache {
		story.Why = on
	} else {
		story.Why = "off"
	}
	return story
}

// showTask prints one task of a run with its cache story (cairn show RUN
// TASK).
func (a *app) showTask(ctx context.Context, src runSource, d *runDetail, taskID string, asJSON bool) error {
	tr, err := d.task(taskID)
	if err != nil {
		return err
	}
	atts := d.atts[tr.TaskID]
	var story lineage.CacheStory
	switch src := src.(type) {
	case *localSource:
		if src.st == nil {
			story = cacheFromRun(tr, atts, "on; the home has no database to explain why it ran")
			break
		}
		story, err = lineage.ExplainCache(ctx, src.st, d.Run, tr, atts, func() string { return a.cacheOff(ctx, src.st, d.Run, tr.TaskID) })
		if err != nil {
			return err
		}
	case *remoteSource:
		// The server explains it from its own store
		// (GET /api/v1/runs/{id}/tasks/{task}/cache); a server that does
		// not (an older one) leaves what the run says.
		s, err := src.c.CacheStory(ctx, d.ID, tr.TaskID)
		switch {
		case errors.Is(err, client.ErrNotImplemented):
			story = cacheFromRun(tr, atts, "on; this server does not explain why it ran: cairn show RUN TASK on the server's host does")
		case err != nil:
			return remoteErr(err)
		default:
			story = *s
		}
	default:
		story = cacheFromRun(tr, atts, "on")
	}
	if asJSON {
		tj := runjson.FromTask(tr, atts)
		tj.Waiting = d.waiting[tr.TaskID]
		return writeJSON(a.stdout, struct {
			Task  taskJSON           `json:"task"`
			Cache lineage.CacheStory `json:"cache"`
		}{tj, story})
	}
	w := a.stdout
	sty := newStyle(w)
	dur := "-"
	if d, ok := taskDuration(tr, atts); ok {
		dur = d.Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "run       %s\ntask      %s (%s)\nstate     %s\nattempts  %s\nduration  %s\n", d.ID, tr.TaskID, tr.Type,
		sty.state(string(tr.State)), runjson.AttemptsText(tr, nil), dur)
	word := "cache"
	if story.Hit != nil {
		word = sty.paint(colorCyan, "cache")
	}
	fmt.Fprintf(w, "%s     %s\n", word, printable(story.Why))
	for _, c := range story.Changes {
		fmt.Fprintf(w, "            %s\n", printable(c))
	}
	if tr.Error != "" {
		fmt.Fprintf(w, "error     %s\n", printable(oneLine(tr.Error)))
	}
	if why := d.waiting[tr.TaskID]; why != "" {
		fmt.Fprintf(w, "%s   %s\n", sty.paint(colorYellow, "waiting"), printable(strings.TrimPrefix(why, "waiting: ")))
	}
	for _, k := range sortedKeys(tr.Outputs) {
		fmt.Fprintf(w, "  output  %s = %s\n", printable(k), clip(string(tr.Outputs[k]), maxOutputText, d.ID))
	}
	for _, k := range sortedKeys(tr.Metrics) {
		fmt.Fprintf(w, "  metric  %s = %g\n", printable(k), tr.Metrics[k])
	}
	return nil
}
