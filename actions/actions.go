// Package actions is the write side of cairn server: core.Actions (of
// ui/core; package ui serves them) — trigger, submit, cancel, retry,
// resume — over the store and the server's scheduler service, each action
// written in one transaction with its audit entry. Triggered runs come from the server's workflows folder
// (workflows/catalog); a run is created queued, for the service (Adopt)
// to start within its active-run limits, and a run a retry or resume
// claims is handed to the service at once (Service.Take).
//
// It is a package of its own, rather than part of cmd/cairn, so that the
// API is tested through the real handler, store, service and worker pool
// in one process (actions_test.go), and cmd/cairn only wires it.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// Options configure Actions.
type Options struct {
	// Store is the server's database. Required.
	Store scheduler.Store
	// Service is the server's scheduler service (with Adopt): it plans
	// the runs a retry or resume gives it. Required.
	Service *scheduler.Service
	// Workflows are the workflows the server offers, and the checker of
	// the files clients send (a catalog without a folder checks only).
	// Required.
	Workflows *catalog.Catalog
	// Types parse the workflow a run stored, to retry it. Required.
	Types workflows.TypeSet
	// Artifacts is the server's artifact store: a retry that would read
	// an artifact it lacks (cairn gc removed it) is refused before
	// anything changes (scheduler.GoneInputs). Nil: not checked.
	Artifacts interface {
		Gone(digest string) (bool, error)
	}
	// HasSecret reports whether the server's environment gives the
	// secret param of environment variable env (CAIRN_PARAM_NAME) a
	// value; nil: none. A run whose workflow requires a secret the server
	// lacks is refused at once rather than failed when it starts.
	HasSecret func(env string) bool
	// OwnerGone is the server's: a claim's process known dead.
	OwnerGone func(owner string) bool
	// ClaimTTL is how long a claim taken here lasts before the service
	// renews it (its OwnerTTL; default 10 s).
	ClaimTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger gets what fails after an action committed, and what the
	// schedules do.
	Logger *slog.Logger
	// InSlotTx, if set, is called inside the transaction that creates a
	// schedule's runs, once they are written and before the commit: a
	// crash test's way to kill the process there (cairn server's
	// test-only CAIRN_TEST_KILL_IN_SLOT_TX). Nil in production.
	InSlotTx func()
}

// Actions implements core.Actions and core.Schedules.
type Actions struct {
	o Options

	mu   sync.Mutex
	memo map[string]*cronMemo // Fire's, by workflow name
}

var _ core.Actions = (*Actions)(nil)

// New returns the actions of a server.
func New(o Options) (*Actions, error) {
	if o.Store == nil || o.Service == nil || o.Workflows == nil || o.Types == nil {
		return nil, errors.New("actions: Options.Store, Service, Workflows and Types are required")
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Actions{o: o, memo: map[string]*cronMemo{}}, nil
}

// APIActor is the audit log's actor of a request that carries no caller
// (a handler without authentication in a test, say).
const APIActor = "api"

// actor is who the audit log says asked: the request's caller.
func actor(ctx context.Context) string {
	if c, ok := core.CallerFrom(ctx); ok && c.Actor != "" {
		return c.Actor
	}
	return APIActor
}

func detail(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// Trigger creates a queued run of the served workflow name with params
// (text, typed by the workflow as -p is), for the service to start.
func (a *Actions) Trigger(ctx context.Context, name string, params map[string]string, o core.RunOptions) (string, error) {
	e, ok := a.o.Workflows.Lookup(name)
	if !ok {
		return "", fmt.Errorf("no workflow %s in the server's workflows folder (GET %s/workflows lists them): %w",
			core.Brief(name), core.APIPrefix, cairn.ErrNotFound)
	}
	if !e.OK() {
		msg := ""
		if len(e.Problems) > 0 {
			msg = ": " + e.Problems[0].String()
		}
		return "", fmt.Errorf("workflow %s cannot run: its file %s has problems (fix the file; the server reads it again)%s: %w",
			name, e.File, msg, cairn.ErrConflict)
	}
	return a.create(ctx, e.Workflow, e.Path, e.File, params, o, map[string]any{"workflow": name, "file": e.File})
}

// Submit creates a queued run of a workflow file a client sent.
func (a *Actions) Submit(ctx context.Context, file string, src []byte, params map[string]string, o core.RunOptions) (string, error) {
	wf, problems := a.o.Workflows.Check(file, src)
	if len(problems) > 0 {
		return "", &core.ProblemsError{File: file, Problems: problems}
	}
	return a.create(ctx, wf, file, file, params, o, map[string]any{"workflow": wf.Name, "file": file, "submitted": true})
}

// create binds params and stores a queued run of wf with its audit entry;
// file names wf's file in problems.
func (a *Actions) create(ctx context.Context, wf *workflows.Workflow, sourcePath, file string, params map[string]string, o core.RunOptions, audit map[string]any) (string, error) {
	if wf.UsesPools() {
		// A pool the database does not declare, or too small: said at
		// the task's pool: (the store would refuse the run without
		// saying where).
		ps, err := a.o.Store.Pools(ctx)
		if err != nil {
			return "", err
		}
		if err := workflows.CheckPools(wf, ps); err != nil {
			return "", &core.ProblemsError{File: file, Problems: catalog.Problems(file, err)}
		}
	}
	bad := &core.ParamsError{Params: map[string]string{}}
	bind := make(map[string]string, len(params)+1)
	for k, v := range params {
		bind[k] = v
	}
	for _, d := range wf.Params {
		if !d.Secret {
			continue
		}
		env := workflows.SecretEnv(d.Name)
		if _, given := params[d.Name]; given {
			bad.Params[d.Name] = fmt.Sprintf("secret params are never sent nor stored: give the server its value in its environment (%s=VALUE) and leave it out", env)
		} else if d.Required && (a.o.HasSecret == nil || !a.o.HasSecret(env)) {
			bad.Params[d.Name] = fmt.Sprintf("secret param %q is required and this server's environment lacks %s: start the server with it set", d.Name, env)
		}
		// Bound to its placeholder; the server puts its value back when
		// a task is leased. (A refused one too, so that the other params
		// are checked: every refused param is named at once.)
		bind[d.Name] = workflows.SecretPlaceholder(d.Name)
	}
	bound, err := wf.BindParams(bind)
	if err != nil {
		var pe *workflows.ParamsError
		if !errors.As(err, &pe) {
			return "", err
		}
		for k, msg := range pe.ByParam {
			if _, ok := bad.Params[k]; !ok {
				// Keyed by the param: its name need not lead the text too.
				bad.Params[k] = strings.TrimPrefix(msg, fmt.Sprintf("param %q: ", k))
			}
		}
		if len(pe.ByParam) == 0 {
			bad.Other = pe.Problems
		}
	}
	if len(bad.Params) > 0 || len(bad.Other) > 0 {
		return "", bad
	}
	now := a.o.Now()
	run, trs := wf.NewRun(bound, now)
	run.SourcePath, run.Trigger = sourcePath, cairn.TriggerAPI
	if o.NoCache {
		workflows.NoCache(trs)
		audit["no_cache"] = true
	}
	given := map[string]string{}
	for k, v := range params {
		given[k] = v
	}
	if len(given) > 0 {
		audit["params"] = given
	}
	// Started here at once, claimed as created, when an adopt pass would
	// start it at once anyway (no cap on active runs applies); else left
	// for one, asked for now (Kick), within the limits, rather than at
	// the next read of evaluations.
	claimed := a.o.Service != nil && a.o.Service.ClaimNew(run)
	err = a.o.Store.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.CreateRun(run, trs); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor(ctx), Action: scheduler.AuditTrigger, RunID: run.ID, Detail: detail(audit)})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("trigger %s: %w", wf.Name, err)
	}
	switch {
	case claimed:
		// The service keeps run and trs from here on.
		a.o.Service.StartNew(context.WithoutCancel(ctx), run, trs)
	case a.o.Service != nil:
		a.o.Service.Kick()
	}
	return run.ID, nil
}

// Cancel asks run id to stop, with its audit entry; a run no live
// process drives (queued, or orphaned) is taken by the service, which
// cancels it at once.
func (a *Actions) Cancel(ctx context.Context, id string) error {
	now := a.o.Now()
	err := a.o.Store.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RequestCancel(id); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor(ctx), Action: scheduler.AuditCancel, RunID: id})
		return err
	})
	if err != nil {
		if errors.Is(err, cairn.ErrTerminal) {
			if r, gerr := a.o.Store.GetRun(ctx, id); gerr == nil {
				return fmt.Errorf("run %s already %s: nothing to cancel: %w", id, r.State, cairn.ErrTerminal)
			}
		}
		return err
	}
	r, err := a.o.Store.GetRun(ctx, id)
	if err != nil {
		return nil // the request is recorded; its owner acts on it
	}
	svc := a.o.Service
	if r.State.Terminal() || r.Owner == svc.Owner() || (r.Owner != "" && !a.unclaimed(r, now)) {
		return nil // its scheduler reads the request within a poll
	}
	if _, err := a.o.Store.ClaimRun(ctx, id, svc.Owner(), now, a.o.ClaimTTL, a.gone(r.Owner)); err != nil {
		return nil // taken meanwhile: its new owner cancels it
	}
	if err := svc.Take(ctx, id); err != nil {
		a.o.Logger.Error("cancel: the server could not take the run to cancel it; it does when it can", "run", id, "err", err)
	}
	return nil
}

// gone reports whether owner's process is known dead.
func (a *Actions) gone(owner string) bool {
	return owner != "" && a.o.OwnerGone != nil && a.o.OwnerGone(owner)
}

// unclaimed reports whether no live process holds run r's claim.
func (a *Actions) unclaimed(r *cairn.Run, now time.Time) bool {
	return r.Owner == "" || !r.OwnerExpiresAt.After(now) || a.gone(r.Owner)
}

// graph parses the workflow run r stored.
func (a *Actions) graph(ctx context.Context, r *cairn.Run) (*workflows.Workflow, error) {
	sources, err := a.o.Store.RunSources(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	wf, err := workflows.ParseRun(r, sources, workflows.Options{Types: a.o.Types})
	if err != nil {
		return nil, fmt.Errorf("run %s: the workflow stored with it does not parse with this server: %v: %w", r.ID, err, cairn.ErrConflict)
	}
	if wf.Digest != r.Digest {
		return nil, fmt.Errorf("run %s was planned from workflow %s but this server reads its file as %s: retry it with the cairn version that made it: %w",
			r.ID, r.Digest, wf.Digest, cairn.ErrConflict)
	}
	return wf, nil
}

// Retry runs task taskID of finished run id again ("" for every failed
// one, and what they held back), into the same run, with its audit entry
// in the same transaction; the service plans it at once.
func (a *Actions) Retry(ctx context.Context, id, taskID string) error {
	r, err := a.o.Store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	wf, err := a.graph(ctx, r)
	if err != nil {
		return err
	}
	trs, err := a.o.Store.ListTaskRuns(ctx, id)
	if err != nil {
		return err
	}
	ids, err := scheduler.RetryTasks(r, wf, trs, taskID)
	if err != nil {
		return err
	}
	if a.o.Artifacts != nil {
		if err := scheduler.GoneInputs(r, wf, trs, ids, a.o.Artifacts.Gone); err != nil {
			return err
		}
	}
	svc := a.o.Service
	now := a.o.Now()
	err = a.o.Store.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RetryRun(scheduler.Retry{RunID: id, Tasks: ids, Owner: svc.Owner(), Now: now, TTL: a.o.ClaimTTL}); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor(ctx), Action: scheduler.AuditRetry, RunID: id, TaskID: taskID,
			Detail: detail(map[string]any{"tasks": ids})})
		return err
	})
	if err != nil {
		return err
	}
	if err := svc.Take(ctx, id); err != nil {
		// The retry is recorded and the claim released: the service (or
		// another scheduler) takes the run when it can.
		a.o.Logger.Error("retry: the server could not take the run at once; it tries again", "run", id, "err", err)
	}
	return nil
}

// Resume takes an orphaned run — its process is gone or its claim
// expired — for the service, which finishes it, with its audit entry.
func (a *Actions) Resume(ctx context.Context, id string) error {
	r, err := a.o.Store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	now := a.o.Now()
	svc := a.o.Service
	switch {
	case r.State.Terminal():
		return fmt.Errorf("run %s already %s: nothing to resume (retry it to run its failed tasks again): %w", id, r.State, cairn.ErrTerminal)
	case r.Owner == svc.Owner():
		return fmt.Errorf("run %s: this server drives it already: %w", id, cairn.ErrConflict)
	case r.State == cairn.RunQueued && r.Owner == "":
		return fmt.Errorf("run %s is queued: the server starts it within its active-run limits: %w", id, cairn.ErrConflict)
	case !(r.Owner == "" || runjson.Orphaned(r, now, a.o.OwnerGone)):
		return fmt.Errorf("run %s: %s drives it (its claim is live until %s): cancel it, or wait: %w",
			id, r.Owner, r.OwnerExpiresAt.UTC().Format(time.RFC3339), cairn.ErrRunOwned)
	}
	steal := a.gone(r.Owner)
	err = a.o.Store.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.ClaimRun(id, svc.Owner(), now, a.o.ClaimTTL, steal); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor(ctx), Action: scheduler.AuditResume, RunID: id,
			Detail: detail(map[string]any{"from": r.Owner})})
		return err
	})
	if err != nil {
		return err
	}
	if err := svc.Take(ctx, id); err != nil {
		return fmt.Errorf("resume run %s: %w", id, err)
	}
	return nil
}
