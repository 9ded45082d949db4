package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// claimTTL is how long a claim this process takes lasts before the
// driver renews it (scheduler.DriverOptions' default).
const claimTTL = 10 * time.Second

func cmdRetry(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("retry", "RUN [TASK] [flags]",
		"Run the failed tasks of a finished run again, into the same run: with TASK that task (failed or\n"+
			"cancelled) and what it held back; without, every task that failed, was cancelled or did not run\n"+
			"because an upstream failed. Their new attempts are numbered on from the old ones, which are kept,\n"+
			"and each has its retries: again. Succeeded tasks keep their outputs and do not run again.\n"+
			"The run is driven here in the foreground, as 'cairn resume' does; with --detach it is left to\n"+
			"'cairn server', which takes it at once.\n"+
			"With --server, that server retries its run (an operator token), and this command follows it there\n"+
			"as 'cairn run --server' does, or with --detach returns at once.")
	detach := fs.Bool("detach", false, "leave the run to 'cairn server' instead of running it here")
	var ef execFlags
	ef.register(a, fs)
	params := paramFlags{}
	fs.Var(params, "p", "give a secret param again: -p name=value (better, in the environment: CAIRN_PARAM_NAME=value)")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if err := ef.check(); err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"want a run id and at most one task"}
	}
	taskID := ""
	if len(pos) == 2 {
		taskID = pos[1]
	}
	if rf.remote() {
		if err := localOnly(fs, "workers", "log-limit", "stop-grace", "labels", "queues"); err != nil {
			return err
		}
		if len(params) > 0 {
			return usageError{"-p gives secret params to the process that runs the tasks: with --server that is the server, from its environment"}
		}
		return a.retryRemote(ctx, rf, pos[0], taskID, ef, *detach)
	}
	if *detach && len(params) > 0 {
		return usageError{"-p gives secret params to the process that runs the tasks: with --detach that is cairn server, from its environment"}
	}
	st, r, err := a.openRun(ctx, pos[0])
	if err != nil {
		return err
	}
	defer st.Close()
	if !*detach {
		defer runHeap(int64(len(r.Source)))()
	}
	id := r.ID
	wf, reg, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
		return storedWorkflow(ctx, st, reg, r, "retry")
	})
	if err != nil {
		return err
	}
	if !*detach {
		// Before anything changes: a retry that cannot run here is refused.
		if a.secrets, err = a.resumeSecrets(r, wf, params); err != nil {
			return err
		}
	}
	owner := ""
	if !*detach {
		a.owner = ownerName()
		owner = a.owner
	}
	arts, _, err := a.stores()
	if err != nil {
		return err
	}
	n, err := retryRun(ctx, st, arts, r, wf, taskID, owner, cliActor())
	if err != nil {
		return err
	}
	if *detach {
		fmt.Fprintf(a.stderr, "run %s: %s to run again\n", id, plural(n, "task"))
		if who, ok := a.starter(ctx, st); ok {
			fmt.Fprintf(a.stderr, "%s takes it; follow it with: cairn show %s\n", who, id)
		} else {
			fmt.Fprintf(a.stderr, "%s: start one ('cairn server'), or run it here: cairn resume %s\n", a.noStarter(), id)
		}
		return nil
	}
	fmt.Fprintf(a.stderr, "run %s: %s to run again\n", id, plural(n, "task"))
	return a.execute(ctx, st, wf, reg, id, nil, nil, ef, "retry")
}

// retryRun retries task taskID of run r ("" for every failed one) in one
// transaction with its audit entry, claimed by owner ("" for none), and
// returns how many tasks run again. A retry that would read an artifact
// arts lacks (cairn gc removed it) is refused first (scheduler.GoneInputs).
func retryRun(ctx context.Context, st database, arts *artifacts.Dir, r *cairn.Run, g scheduler.Graph, taskID, owner, actor string) (int, error) {
	trs, err := st.ListTaskRuns(ctx, r.ID)
	if err != nil {
		return 0, err
	}
	ids, err := scheduler.RetryTasks(r, g, trs, taskID)
	if err != nil {
		return 0, retryProblem(err)
	}
	if err := scheduler.GoneInputs(r, g, trs, ids, arts.Gone); err != nil {
		return 0, retryProblem(err)
	}
	detail, _ := json.Marshal(map[string]any{"tasks": ids})
	now := time.Now()
	err = st.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RetryRun(scheduler.Retry{RunID: r.ID, Tasks: ids, Owner: owner, Now: now, TTL: claimTTL}); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor, Action: scheduler.AuditRetry, RunID: r.ID, TaskID: taskID, Detail: detail})
		return err
	})
	if err != nil {
		return 0, retryProblem(err)
	}
	return len(ids), nil
}

// retryProblem drops the sentinel's own words from a refused retry: the
// message says what to do.
func retryProblem(err error) error {
	if errors.Is(err, cairn.ErrConflict) || errors.Is(err, cairn.ErrNotFound) {
		return errors.New(trimSentinel(err.Error()))
	}
	return err
}

// trimSentinel cuts a sentinel error's text from the end of msg.
func trimSentinel(msg string) string {
	for _, s := range []error{cairn.ErrConflict, cairn.ErrNotFound} {
		if suffix := ": " + s.Error(); len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
			return msg[:len(msg)-len(suffix)]
		}
	}
	return msg
}
