package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/secrets"
	"github.com/cairnml/cairn/workflows"
)

// secretParams takes the values of the workflow's secret params out of
// params (from -p) or, where -p does not give one, from the environment
// (workflows.SecretEnv). It returns the values by placeholder, to hold in
// memory, and params with each given secret's value replaced by its
// placeholder, to bind and store. The variables are removed from this
// process's environment, so that no child inherits them.
func secretParams(wf *workflows.Workflow, params paramFlags) (map[string]string, paramFlags) {
	out := paramFlags{}
	for k, v := range params {
		out[k] = v
	}
	values := map[string]string{}
	for _, d := range wf.Params {
		if !d.Secret {
			continue
		}
		// A plain param spelling the placeholder would have the value
		// filled in wherever it is used: make it inert.
		for k, v := range out {
			if dk, ok := wf.Param(k); ok && !dk.Secret {
				out[k] = strings.ReplaceAll(v, workflows.SecretPlaceholder(d.Name), secrets.Inert(workflows.SecretPlaceholder(d.Name)))
			}
		}
		env := workflows.SecretEnv(d.Name)
		v, ok := out[d.Name]
		if !ok {
			v, ok = os.LookupEnv(env)
		}
		os.Unsetenv(env)
		if !ok {
			continue // BindParams says it is required, or gives the zero value
		}
		ph := workflows.SecretPlaceholder(d.Name)
		values[ph] = v
		out[d.Name] = ph
	}
	return values, out
}

// warnSecretFlags prints one warning line for each secret param given with
// -p: a command line is visible to every local user (ps, /proc/PID/cmdline)
// while the command runs; the environment variable is not.
func warnSecretFlags(w io.Writer, wf *workflows.Workflow, params paramFlags) {
	for _, d := range wf.Params {
		if _, ok := params[d.Name]; d.Secret && ok {
			fmt.Fprintf(w, "cairn: warning: -p %s: secret param %s on the command line is visible to other local users in ps; give it privately in the environment: %s=VALUE\n",
				d.Name, d.Name, workflows.SecretEnv(d.Name))
		}
	}
}

// resumeSecrets gives a resumed run its secret params again: they are not
// stored, so they come from -p or the environment as for 'cairn run'. A
// required one that is missing is an error that says how to give it; a
// -p for a param that is not secret is refused (a run's params are
// fixed when it starts).
func (a *app) resumeSecrets(r *cairn.Run, wf *workflows.Workflow, params paramFlags) (*secrets.Set, error) {
	for k := range params {
		if d, ok := wf.Param(k); !ok || !d.Secret {
			return nil, usageError{fmt.Sprintf("-p %s: on resume, -p only gives secret params again (the run's other params are fixed when it starts)", k)}
		}
	}
	warnSecretFlags(a.stderr, wf, params)
	values, _ := secretParams(wf, params)
	var missing []string
	for _, d := range wf.Params {
		ph := workflows.SecretPlaceholder(d.Name)
		if _, ok := values[ph]; !d.Secret || ok {
			continue
		}
		if stored, _ := r.Params[d.Name].(string); stored != ph {
			continue // not given when the run started: it has its zero value
		}
		if d.Required {
			missing = append(missing, fmt.Sprintf("%s=VALUE", workflows.SecretEnv(d.Name)))
			continue
		}
		fmt.Fprintf(a.stderr, "cairn: warning: secret param %s was given when run %s started but not now (set %s): its tasks get an empty value\n",
			d.Name, r.ID, workflows.SecretEnv(d.Name))
		values[ph] = ""
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("run %s needs its secret params again (they are not stored): set %s in the environment (or pass -p NAME=VALUE, which other users can see in ps)",
			r.ID, strings.Join(missing, " "))
	}
	return secrets.New(values), nil
}

// secretLeaser puts a run's secret values into the params of the work it
// leases, at the last moment, and takes them out of what an attempt
// reports (its error and outputs) before it is stored. sets gives the
// values of a run (nil for none): one run's for cairn run, every run's a
// server plans for cairn server.
type secretLeaser struct {
	executor.Leaser
	sets func(runID string) *secrets.Set
}

func withSecrets(l executor.Leaser, set *secrets.Set) executor.Leaser {
	if set == nil {
		return l
	}
	return secretLeaser{Leaser: l, sets: func(string) *secrets.Set { return set }}
}

func (s secretLeaser) Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	items, err := s.Leaser.Lease(ctx, r)
	return s.fill(items), err
}

func (s secretLeaser) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	items, err := s.Leaser.CompleteAndLease(ctx, l, s.redact(l.RunID, c), next)
	return s.fill(items), err
}

// CompleteAndLeaseMany is CompleteAndLease of several reports at once
// (remote.ManyCompleter), in one call of the wrapped leaser when it takes
// them so (*scheduler.Broker), else one by one.
func (s secretLeaser) CompleteAndLeaseMany(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error) {
	m, ok := s.Leaser.(remote.ManyCompleter)
	if !ok {
		items, errs := make([][]cairn.WorkItem, len(leases)), make([]error, len(leases))
		for i, l := range leases {
			items[i], errs[i] = s.CompleteAndLease(ctx, l, cs[i], next[i])
		}
		return items, errs
	}
	red := make([]cairn.Completion, len(cs))
	for i, c := range cs {
		red[i] = s.redact(leases[i].RunID, c)
	}
	items, errs := m.CompleteAndLeaseMany(ctx, leases, red, next)
	for i := range items {
		items[i] = s.fill(items[i])
	}
	return items, errs
}

// GiveBack gives back tasks leased ahead (executor.AheadLeaser), as the
// wrapped leaser does; one that cannot (not a broker) refuses, and the
// leases expire.
func (s secretLeaser) GiveBack(ctx context.Context, leases []cairn.Lease) error {
	a, ok := s.Leaser.(executor.AheadLeaser)
	if !ok {
		return fmt.Errorf("give back %d leases: %T cannot", len(leases), s.Leaser)
	}
	return a.GiveBack(ctx, leases)
}

// GiveBackEach is GiveBack saying which leases were given back
// (remote.GiveBacker: the worker API's give-back call); one that cannot
// (not a broker) refuses.
func (s secretLeaser) GiveBackEach(ctx context.Context, leases []cairn.Lease) ([]bool, error) {
	g, ok := s.Leaser.(remote.GiveBacker)
	if !ok {
		return nil, fmt.Errorf("give back %d leases: %T cannot", len(leases), s.Leaser)
	}
	return g.GiveBackEach(ctx, leases)
}

// redact takes run runID's secret values out of what an attempt reports
// (its error, stack and outputs).
func (s secretLeaser) redact(runID string, c cairn.Completion) cairn.Completion {
	if set := s.sets(runID); set != nil {
		c.Error = set.Redact(c.Error)
		c.Stack = set.Redact(c.Stack)
		if c.Outputs != nil {
			out := make(map[string]json.RawMessage, len(c.Outputs))
			for k, v := range c.Outputs {
				out[k] = set.RedactJSON(set.Defuse(v))
			}
			c.Outputs = out
		}
	}
	return c
}

func (s secretLeaser) fill(items []cairn.WorkItem) []cairn.WorkItem {
	for i := range items {
		if set := s.sets(items[i].Lease.RunID); set != nil {
			items[i].Params = set.Fill(items[i].Params)
		}
	}
	return items
}

// secretLogs redacts the run's secret values from every attempt's log as
// it is written.
type secretLogs struct {
	executor.Logs
	sets func(runID string) *secrets.Set
}

func withSecretLogs(l executor.Logs, set *secrets.Set) executor.Logs {
	if set == nil {
		return l
	}
	return secretLogs{Logs: l, sets: func(string) *secrets.Set { return set }}
}

func (s secretLogs) Create(runID, taskID string, attempt int) (io.WriteCloser, error) {
	w, err := s.Logs.Create(runID, taskID, attempt)
	if err != nil {
		return nil, err
	}
	if set := s.sets(runID); set != nil {
		return set.Writer(w), nil
	}
	return w, nil
}
