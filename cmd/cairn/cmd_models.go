package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/deploy"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

const modelsHelp = `The model registry: the versions of each model that a workflow's deploy task
registered (numbered from 1 per name; model:NAME@VERSION names one), their
metrics, the run that made each, and their stage: candidate, production or
archived. A model has at most one version in production.

  cairn models list [--json]
                       every model: its production version, its newest, how many
                       versions each stage holds, the production version's metrics
  cairn models show NAME[@VERSION] [--json]
                       a model: every version with its stage and metrics (the metrics
                       across versions), the run and task that made it, and the
                       history of its stages; with @VERSION, that version in full
  cairn models promote NAME VERSION [--stage production|candidate|archived]
                       moves a version to a stage (production by default); the
                       version in production before is archived, in the same
                       transaction
  cairn models rollback NAME
                       puts back in production the version that was there before
                       the current one, and archives the current one
  cairn models rollout NAME [--json]
                       the model's rollout (a deploy with strategy: canary, shadow
                       or ab): strategy, state, the candidate's share, each
                       version's requests, error rate, live metric (from feedback)
                       and p99 latency in the current step, what comes next, and
                       the history of its steps
  cairn models rollout NAME pause|resume|promote|abort|set-share N [--json]
                       changes the active rollout by hand: pause holds the share
                       (the canary neither steps nor is promoted; a failing
                       candidate is still rolled back), resume starts the step's
                       window again, promote puts the candidate in production,
                       abort rolls it back (production answers every request),
                       set-share N sends N% (0 to 100) of the requests to the
                       candidate (a canary goes on from there to its next step
                       above N). Each is in the rollout's history and the audit
                       log; a model with no active rollout is refused, saying why
  cairn models alerts NAME [list] [--json]
                       the model's own alerts (webhooks redacted), which the leader
                       watches on its production version, and on a rollout's
                       candidate while it is active
  cairn models alerts NAME set ALERT... [--json]
                       replaces them; each ALERT is on=EVENT,bound=B,webhook=URL with
                       format=json|slack, window=DURATION (default 10m: how far
                       back it looks) and min=N (labeled rows, requests or sampled
                       served rows it needs first; default 100, 20 and 200)
                       optional. EVENT live_metric_below (B a live metric such as
                       0.9: accuracy, a regressor's mae), p99_latency_above (B a
                       duration such as 50ms) or drift_above (B a PSI such as 0.2:
                       the largest drift of a feature of the served rows from the
                       version's training data). A deploy's alerts: sets them too,
                       with any strategy
  cairn models alerts NAME clear
                       leaves the model no alerts of its own

VERSION is a number, or model:NAME@VERSION. A version the model does not have, or
one of another model, changes nothing and is refused, saying why (exit 1).
Promotions and rollbacks are recorded in the model's history and the audit log
(cairn audit), by cli:USER@HOST here or by the token with --server (an operator
token; list and show need a viewer token).`

// modelSource is where cairn models reads and changes the registry: the
// home's database or a cairn server (--server), in the same shapes.
type modelSource interface {
	list(ctx context.Context) ([]runjson.ModelSummary, error)
	model(ctx context.Context, name string) (*runjson.Model, error)
	version(ctx context.Context, name string, v int) (*runjson.ModelVersion, error)
	promote(ctx context.Context, name string, v int, stage cairn.ModelStage) (*runjson.ModelChange, error)
	rollback(ctx context.Context, name string) (*runjson.ModelChange, error)
	rollout(ctx context.Context, name string) (*runjson.Rollout, error)
	changeRollout(ctx context.Context, name, action string, share int) (*runjson.Rollout, error)
	alerts(ctx context.Context, name string) (*runjson.ModelAlerts, error)
	setAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert) (*runjson.ModelAlerts, error)
	close()
}

func cmdModels(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("models", "list|show|promote|rollback|rollout|alerts [flags]", modelsHelp)
	var asJSON bool
	var stage string
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts (the API's shapes: docs/api.md)")
	fs.StringVar(&stage, "stage", "production", "promote: the stage to move the version to: production, candidate or archived")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) == 0 {
		return usageError{"want a subcommand: list, show, promote, rollback, rollout or alerts"}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	sub, rest := pos[0], pos[1:]
	if set["stage"] && sub != "promote" {
		return usageError{"--stage applies to models promote only"}
	}
	var run func(src modelSource) error
	write := false // a rollout's change by hand
	switch sub {
	case "list":
		if len(rest) > 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", rest[0])}
		}
		run = func(src modelSource) error { return a.modelsList(ctx, src, asJSON) }
	case "show":
		if len(rest) != 1 {
			return usageError{"models show wants one model: NAME or NAME@VERSION"}
		}
		name, v, err := parseModelArg(rest[0])
		if err != nil {
			return usageError{err.Error()}
		}
		run = func(src modelSource) error { return a.modelsShow(ctx, src, name, v, asJSON) }
	case "promote":
		if len(rest) != 2 {
			return usageError{"models promote wants a model and a version: cairn models promote NAME VERSION"}
		}
		if err := cairn.ValidModelName(rest[0]); err != nil {
			return usageError{err.Error()}
		}
		st := cairn.ModelStage(stage)
		if !st.Valid() {
			return usageError{fmt.Sprintf("--stage %q: want production, candidate or archived%s", stage,
				suggest(stage, []string{"production", "candidate", "archived"}))}
		}
		v, err := parseVersionArg(rest[0], rest[1])
		if err != nil {
			return modelProblem(err)
		}
		run = func(src modelSource) error { return a.modelsChange(src.promote(ctx, rest[0], v, st))(asJSON) }
	case "rollback":
		if len(rest) != 1 {
			return usageError{"models rollback wants one model: cairn models rollback NAME"}
		}
		if err := cairn.ValidModelName(rest[0]); err != nil {
			return usageError{err.Error()}
		}
		run = func(src modelSource) error { return a.modelsChange(src.rollback(ctx, rest[0]))(asJSON) }
	case "rollout":
		if len(rest) < 1 || len(rest) > 3 {
			return usageError{"models rollout wants one model, and an action if it changes the rollout: cairn models rollout NAME [pause|resume|promote|abort|set-share N]"}
		}
		if err := cairn.ValidModelName(rest[0]); err != nil {
			return usageError{err.Error()}
		}
		if len(rest) == 1 {
			run = func(src modelSource) error { return a.modelsRollout(ctx, src, rest[0], asJSON) }
			break
		}
		action, share, err := parseRolloutAction(rest[1:])
		if err != nil {
			return err
		}
		write = true
		run = func(src modelSource) error {
			r, err := src.changeRollout(ctx, rest[0], action, share)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, r)
			}
			fmt.Fprintf(a.stdout, "%s: %s\n\n", rolloutDone(action, share, r), r.Name)
			return a.printRollout(r)
		}
	case "alerts":
		if len(rest) < 1 {
			return usageError{"models alerts wants a model: cairn models alerts NAME [list|set ALERT...|clear]"}
		}
		if err := cairn.ValidModelName(rest[0]); err != nil {
			return usageError{err.Error()}
		}
		name, action := rest[0], "list"
		if len(rest) > 1 {
			action = rest[1]
		}
		var as []cairn.ModelAlert
		switch action {
		case "list":
			if len(rest) > 2 {
				return usageError{fmt.Sprintf("models alerts NAME list takes no argument, got %q", rest[2])}
			}
		case "set":
			if len(rest) < 3 {
				return usageError{"models alerts NAME set wants one alert or more: on=p99_latency_above,bound=50ms,webhook=https://..."}
			}
			if as, err = parseAlertArgs(rest[2:]); err != nil {
				return usageError{err.Error()}
			}
			write = true
		case "clear":
			if len(rest) > 2 {
				return usageError{fmt.Sprintf("models alerts NAME clear takes no argument, got %q", rest[2])}
			}
			write = true
		default:
			return usageError{fmt.Sprintf("models alerts action %q: want list, set or clear%s", action, suggest(action, []string{"list", "set", "clear"}))}
		}
		run = func(src modelSource) error {
			var m *runjson.ModelAlerts
			var err error
			if write {
				m, err = src.setAlerts(ctx, name, as)
			} else {
				m, err = src.alerts(ctx, name)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, m)
			}
			if action == "clear" {
				fmt.Fprintf(a.stdout, "cleared the alerts of %s\n", name)
				return nil
			}
			return a.printModelAlerts(m)
		}
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want list, show, promote, rollback, rollout or alerts%s", sub,
			suggest(sub, []string{"list", "show", "promote", "rollback", "rollout", "alerts"}))}
	}
	src, err := a.modelSource(ctx, rf, sub == "list" || sub == "show" || ((sub == "rollout" || sub == "alerts") && !write))
	if err != nil {
		return err
	}
	defer src.close()
	return modelProblem(run(src))
}

// modelProblem drops the sentinel's own words from a refusal: the
// message says why (exit 1, as a run that is not found).
func modelProblem(err error) error {
	if errors.Is(err, cairn.ErrConflict) || errors.Is(err, cairn.ErrNotFound) {
		return errors.New(trimSentinel(err.Error()))
	}
	return err
}

// parseModelArg reads NAME, NAME@VERSION or model:NAME[@VERSION]; version
// 0 when none is given.
func parseModelArg(s string) (string, int, error) {
	if !strings.HasPrefix(s, "model:") {
		s = "model:" + s
	}
	return cairn.ParseModelRef(s)
}

// parseVersionArg reads promote's VERSION: a number, or a reference to a
// version of model name (one of another model is refused: nothing changes).
func parseVersionArg(name, s string) (int, error) {
	if v, err := strconv.Atoi(s); err == nil {
		if v < 1 {
			return 0, usageError{fmt.Sprintf("version %d: versions are numbered from 1", v)}
		}
		return v, nil
	}
	other, v, err := parseModelArg(s)
	if err != nil || v == 0 {
		return 0, usageError{fmt.Sprintf("version %q: want a number, or model:%s@VERSION", s, name)}
	}
	if other != name {
		return 0, fmt.Errorf("%s is a version of model %s, not of %s: nothing changed (to promote it: cairn models promote %s %d): %w",
			printable(s), other, name, other, v, cairn.ErrNotFound)
	}
	return v, nil
}

// modelSource opens the registry of the home's database (read-only for a
// read-only subcommand: a home with no database has no model) or of
// --server.
func (a *app) modelSource(ctx context.Context, rf *remoteFlags, readOnly bool) (modelSource, error) {
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return nil, err
		}
		return remoteModels{c: c, rf: rf}, nil
	}
	a.readOnly = readOnly
	st, err := a.openStore(ctx)
	if err != nil && !(readOnly && errors.Is(err, errNoDatabase)) {
		return nil, err
	}
	return &localModels{st: st}, nil
}

// localModels is the registry of the home's database.
type localModels struct {
	st database // nil: no database yet
}

func (l *localModels) close() {
	if l.st != nil {
		l.st.Close()
	}
}

func (l *localModels) list(ctx context.Context) ([]runjson.ModelSummary, error) {
	if l.st == nil {
		return []runjson.ModelSummary{}, nil
	}
	return core.ModelSummaries(ctx, l.st)
}

func (l *localModels) model(ctx context.Context, name string) (*runjson.Model, error) {
	if l.st == nil {
		return nil, fmt.Errorf("no model is named %q: nothing has run with this home yet: %w", name, cairn.ErrNotFound)
	}
	return core.ModelDetail(ctx, l.st, name)
}

func (l *localModels) version(ctx context.Context, name string, v int) (*runjson.ModelVersion, error) {
	if l.st == nil {
		return nil, fmt.Errorf("no model is named %q: nothing has run with this home yet: %w", name, cairn.ErrNotFound)
	}
	return core.ModelVersionOf(ctx, l.st, name, v)
}

func (l *localModels) promote(ctx context.Context, name string, v int, stage cairn.ModelStage) (*runjson.ModelChange, error) {
	return core.PromoteModel(ctx, l.st, name, v, stage, cliActor(), time.Now())
}

func (l *localModels) rollback(ctx context.Context, name string) (*runjson.ModelChange, error) {
	return core.RollbackModel(ctx, l.st, name, cliActor(), time.Now())
}

func (l *localModels) rollout(ctx context.Context, name string) (*runjson.Rollout, error) {
	if l.st == nil {
		return nil, fmt.Errorf("model %s has no rollout: nothing has run with this home yet: %w", name, cairn.ErrNotFound)
	}
	return core.RolloutDetail(ctx, l.st, name, time.Now())
}

func (r remoteModels) rollout(ctx context.Context, name string) (*runjson.Rollout, error) {
	out, err := r.c.Rollout(ctx, name)
	return out, r.err(err)
}

func (l *localModels) changeRollout(ctx context.Context, name, action string, share int) (*runjson.Rollout, error) {
	return core.ChangeRollout(ctx, l.st, name, action, share, cliActor(), time.Now())
}

func (r remoteModels) changeRollout(ctx context.Context, name, action string, share int) (*runjson.Rollout, error) {
	out, err := r.c.ChangeRollout(ctx, name, action, share)
	return out, r.err(err)
}

func (l *localModels) alerts(ctx context.Context, name string) (*runjson.ModelAlerts, error) {
	if l.st == nil {
		return nil, fmt.Errorf("no model is named %q: nothing has run with this home yet: %w", name, cairn.ErrNotFound)
	}
	return core.ModelAlertsOf(ctx, l.st, name)
}

func (r remoteModels) alerts(ctx context.Context, name string) (*runjson.ModelAlerts, error) {
	out, err := r.c.ModelAlerts(ctx, name)
	return out, r.err(err)
}

func (l *localModels) setAlerts(ctx context.Context, name string, as []cairn.ModelAlert) (*runjson.ModelAlerts, error) {
	return core.SetModelAlerts(ctx, l.st, name, as, cliActor(), time.Now())
}

func (r remoteModels) setAlerts(ctx context.Context, name string, as []cairn.ModelAlert) (*runjson.ModelAlerts, error) {
	out, err := r.c.SetModelAlerts(ctx, name, as)
	return out, r.err(err)
}

// alertKeys are the keys of an ALERT of cairn models alerts NAME set.
var alertKeys = []string{"on", "bound", "webhook", "format", "window", "min"}

// parseAlertArgs reads the ALERTs of cairn models alerts NAME set, each
// KEY=VALUE,... (a comma not followed by a key belongs to the value
// before: a webhook's URL may hold one), as a deploy's alerts: reads
// them (deploy.AlertsOf).
func parseAlertArgs(args []string) ([]cairn.ModelAlert, error) {
	list := make([]any, 0, len(args))
	for n, arg := range args {
		m := map[string]any{}
		last := ""
		for _, part := range strings.Split(arg, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok || !slices.Contains(alertKeys, k) {
				if last == "" {
					return nil, fmt.Errorf("alert %d (%q): want KEY=VALUE,... with keys %s, such as on=p99_latency_above,bound=50ms,webhook=https://hooks.example.com/x",
						n+1, arg, strings.Join(alertKeys, ", "))
				}
				m[last] = m[last].(string) + "," + part
				continue
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("alert %d: %s given twice", n+1, k)
			}
			m[k], last = v, k
		}
		for _, k := range []string{"bound", "min"} {
			if s, ok := m[k].(string); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					m[k] = f
				}
			}
		}
		list = append(list, m)
	}
	return deploy.AlertsOf(list)
}

// printModelAlerts prints a model's own alerts.
func (a *app) printModelAlerts(m *runjson.ModelAlerts) error {
	w := a.stdout
	if len(m.Alerts) == 0 {
		fmt.Fprintf(w, "model %s has no alerts of its own (cairn models alerts %s set ALERT...; a deploy's alerts: sets them)\n", m.Name, m.Name)
		return nil
	}
	prod := "no version in production"
	if m.Production > 0 {
		prod = fmt.Sprintf("production version %d", m.Production)
	}
	fmt.Fprintf(w, "model %s: %s watched on %s (and a rollout's candidate)", m.Name, tasks.Plural(len(m.Alerts), "alert"), prod)
	if m.UpdatedAt != nil {
		fmt.Fprintf(w, ", set %s by %s", localTime(*m.UpdatedAt), m.Actor)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ON	BOUND	WINDOW	MIN	WEBHOOK	FORMAT")
	for _, al := range m.Alerts {
		bound := strconv.FormatFloat(al.Bound, 'g', -1, 64)
		if al.On == cairn.AlertP99Above {
			bound = time.Duration(al.Bound * float64(time.Second)).String()
		}
		window := time.Duration(al.Window).String() + " "
		if al.Window == 0 {
			window = cairn.DefaultAlertWindow.String() + " (default)"
		}
		minimum := strconv.Itoa(al.Min)
		if al.Min == 0 {
			minimum = "default"
		}
		format := al.Format
		if format == "" {
			format = cairn.AlertJSON
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", al.On, bound, strings.TrimSpace(window), minimum, al.Webhook, format)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Drift) > 0 {
		fmt.Fprintln(w, "drift from the training data (the largest PSI of a feature), as last measured:")
		for _, d := range m.Drift {
			if d.Error != "" {
				fmt.Fprintf(w, "  version %d: not measured (%s): %s\n", d.Version, localTime(d.At), d.Error)
				continue
			}
			fmt.Fprintf(w, "  version %d: %.3g on feature %s, %s (%s)\n", d.Version, d.Value, d.Feature, tasks.Plural(d.Rows, "served row"), localTime(d.At))
		}
	}
	return nil
}

// parseRolloutAction reads the action of cairn models rollout NAME
// ACTION [N].
func parseRolloutAction(args []string) (action string, share int, err error) {
	action = args[0]
	if !slices.Contains(core.RolloutActions, action) {
		return "", 0, usageError{fmt.Sprintf("rollout action %q: want one of %s%s", action, strings.Join(core.RolloutActions, ", "), suggest(action, core.RolloutActions))}
	}
	if action != core.RolloutSetShare {
		if len(args) > 1 {
			return "", 0, usageError{fmt.Sprintf("models rollout NAME %s takes no argument, got %q", action, args[1])}
		}
		return action, 0, nil
	}
	if len(args) != 2 {
		return "", 0, usageError{"models rollout NAME set-share wants the candidate's share: a percentage from 0 to 100, such as set-share 25"}
	}
	share, err = strconv.Atoi(strings.TrimSuffix(args[1], "%"))
	if err != nil || share < 0 || share > 100 {
		return "", 0, usageError{fmt.Sprintf("set-share %q: the candidate's share is a percentage from 0 to 100", args[1])}
	}
	return action, share, nil
}

// rolloutDone says what a change by hand did.
func rolloutDone(action string, share int, r *runjson.Rollout) string {
	switch action {
	case core.RolloutPause:
		return fmt.Sprintf("paused at %d%%", r.Share)
	case core.RolloutResume:
		return fmt.Sprintf("resumed at %d%%", r.Share)
	case core.RolloutPromote:
		return fmt.Sprintf("promoted version %d to production", r.Candidate)
	case core.RolloutAbort:
		return fmt.Sprintf("aborted: version %d rolled back, version %d answers every request", r.Candidate, r.Baseline)
	}
	return fmt.Sprintf("share set to %d%%", share)
}

// modelsRollout prints a model's rollout.
func (a *app) modelsRollout(ctx context.Context, src modelSource, name string, asJSON bool) error {
	r, err := src.rollout(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, r)
	}
	return a.printRollout(r)
}

// printRollout prints a rollout as cairn models rollout shows it.
func (a *app) printRollout(r *runjson.Rollout) error {
	w := a.stdout
	fmt.Fprintf(w, "model:     %s\n", r.Name)
	fmt.Fprintf(w, "strategy:  %s\n", r.Strategy)
	state := r.State
	if r.Reason != "" {
		state += " (" + r.Reason + ")"
	}
	if r.Paused {
		state += ", paused"
	}
	fmt.Fprintf(w, "state:     %s\n", state)
	if r.State == string(cairn.RolloutActive) {
		fmt.Fprintf(w, "versions:  %d in production, %d the candidate\n", r.Baseline, r.Candidate)
	} else { // ended: production may have changed since (a promotion, the rollout's or another)
		fmt.Fprintf(w, "versions:  %d was production, %d the candidate\n", r.Baseline, r.Candidate)
	}
	share := fmt.Sprintf("%d%% of requests to the candidate", r.Share)
	if r.Strategy == string(cairn.StrategyCanary) && len(r.Spec.Steps) > 0 {
		steps := make([]string, len(r.Spec.Steps))
		for i, s := range r.Spec.Steps {
			steps[i] = strconv.Itoa(s)
			if i == r.Step {
				steps[i] = "[" + steps[i] + "]"
			}
		}
		share += fmt.Sprintf(" (steps %s, every %s)", strings.Join(steps, " "), time.Duration(r.Spec.Interval))
	}
	if r.Strategy == string(cairn.StrategyShadow) {
		share = "none: production answers every request, the candidate scores each one too"
	}
	fmt.Fprintf(w, "share:     %s\n", share)
	fmt.Fprintf(w, "since:     %s (this step), started %s\n", localTime(r.StepAt), localTime(r.StartedAt))
	fmt.Fprintf(w, "next:      %s\n\n", r.Next)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tROLE\tREQUESTS\tFAILED\tERROR RATE\tLABELED\tLIVE METRIC\tP99")
	for _, v := range r.Versions {
		metric := "-"
		if v.Value != nil {
			metric = fmt.Sprintf("%s %.4g", v.Metric, *v.Value)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f%%\t%d\t%s\t%.1f ms\n", v.Version, v.Role, v.Requests, v.Failed, 100*v.ErrorRate, v.Labeled, metric, v.P99Ms)
	}
	tw.Flush()
	if len(r.History) > 0 {
		fmt.Fprintln(w, "\nhistory:")
		for _, e := range r.History {
			line := fmt.Sprintf("  %s  %-8s  %3d%%  %d against %d", localTime(e.At), e.Event, e.Share, e.Candidate, e.Baseline)
			if e.Detail != "" {
				line += "  " + e.Detail
			}
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

// remoteModels is the registry of a cairn server.
type remoteModels struct {
	c  *client.Client
	rf *remoteFlags
}

func (r remoteModels) close() {}

// err is a server's error in the command line's terms; a not-found keeps
// the server's reason (which versions the model has).
func (r remoteModels) err(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == 404 {
		return fmt.Errorf("%s (the server at %s): %w", ce.Message, r.c.URL(), cairn.ErrNotFound)
	}
	return remoteErr(err)
}

func (r remoteModels) list(ctx context.Context) ([]runjson.ModelSummary, error) {
	l, err := r.c.Models(ctx)
	if err != nil {
		return nil, r.err(err)
	}
	return l.Models, nil
}

func (r remoteModels) model(ctx context.Context, name string) (*runjson.Model, error) {
	m, err := r.c.Model(ctx, name)
	if err != nil {
		return nil, r.err(err)
	}
	return m, nil
}

func (r remoteModels) version(ctx context.Context, name string, v int) (*runjson.ModelVersion, error) {
	mv, err := r.c.ModelVersion(ctx, name, v)
	if err != nil {
		return nil, r.err(err)
	}
	return mv, nil
}

func (r remoteModels) promote(ctx context.Context, name string, v int, stage cairn.ModelStage) (*runjson.ModelChange, error) {
	ch, err := r.c.PromoteModel(ctx, name, v, string(stage))
	if err != nil {
		return nil, r.err(err)
	}
	return ch, nil
}

func (r remoteModels) rollback(ctx context.Context, name string) (*runjson.ModelChange, error) {
	ch, err := r.c.RollbackModel(ctx, name)
	if err != nil {
		return nil, r.err(err)
	}
	return ch, nil
}

// The text.

// maxMetricColumns bounds the metric columns of models show's table.
const maxMetricColumns = 6

func (a *app) modelsList(ctx context.Context, src modelSource, asJSON bool) error {
	list, err := src.list(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, runjson.ModelList{Models: list})
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stderr, "no model is registered yet: a workflow's deploy task registers one (docs/workflows.md, deploy)")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPRODUCTION\tNEWEST\tVERSIONS\tPRODUCTION METRICS")
	for _, s := range list {
		prod := "-"
		if s.Production != nil {
			prod = strconv.Itoa(*s.Production)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.Name, prod, s.Newest, stageCounts(s), orDash(metricsLine(s.Metrics, 4)))
	}
	return tw.Flush()
}

// stageCounts is "3 (1 production, 1 candidate, 1 archived)".
func stageCounts(s runjson.ModelSummary) string {
	var parts []string
	for _, st := range []cairn.ModelStage{cairn.StageProduction, cairn.StageCandidate, cairn.StageArchived} {
		if n := s.Stages[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return fmt.Sprintf("%d (%s)", s.Versions, strings.Join(parts, ", "))
}

// metricsLine is "accuracy 0.9167 · f1 0.9153", at most max metrics.
func metricsLine(m map[string]float64, max int) string {
	keys := sortedKeys(m)
	var parts []string
	for i, k := range keys {
		if max > 0 && i == max {
			parts = append(parts, fmt.Sprintf("… %d more", len(keys)-max))
			break
		}
		parts = append(parts, printable(k)+" "+strconv.FormatFloat(m[k], 'g', 4, 64))
	}
	return strings.Join(parts, " · ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) modelsShow(ctx context.Context, src modelSource, name string, v int, asJSON bool) error {
	if v > 0 {
		mv, err := src.version(ctx, name, v)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, mv)
		}
		m, err := src.model(ctx, name)
		if err != nil {
			return err
		}
		return a.showVersion(mv, m)
	}
	m, err := src.model(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, m)
	}
	w := a.stdout
	if m.Production != nil {
		fmt.Fprintf(w, "model %s: version %d in production, %s\n", m.Name, *m.Production, plural(len(m.Versions), "version"))
	} else {
		fmt.Fprintf(w, "model %s: no version in production, %s\n", m.Name, plural(len(m.Versions), "version"))
	}
	// The metrics across versions: a column per metric.
	seen := map[string]bool{}
	for _, mv := range m.Versions {
		for k := range mv.Metrics {
			seen[k] = true
		}
	}
	metrics := sortedKeys(seen)
	more := 0
	if len(metrics) > maxMetricColumns {
		more, metrics = len(metrics)-maxMetricColumns, metrics[:maxMetricColumns]
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "VERSION\tSTAGE"
	for _, k := range metrics {
		head += "\t" + strings.ToUpper(printable(k))
	}
	fmt.Fprintln(tw, head+"\tMADE BY\tREGISTERED")
	for _, mv := range m.Versions {
		row := fmt.Sprintf("%d\t%s", mv.Version, mv.Stage)
		for _, k := range metrics {
			if x, ok := mv.Metrics[k]; ok {
				row += "\t" + strconv.FormatFloat(x, 'g', 4, 64)
			} else {
				row += "\t-"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row, producerText(mv.Producer), localTime(mv.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more > 0 {
		fmt.Fprintf(w, "(%d more metrics: cairn models show %s --json)\n", more, m.Name)
	}
	fmt.Fprintln(w, "\nhistory:")
	writeHistory(w, m.History, 0)
	return nil
}

// producerText names the deploy attempt that registered a version.
func producerText(p cairn.AttemptRef) string {
	if p.RunID == "" {
		return "-"
	}
	s := p.RunID + "/" + printable(p.TaskID)
	if p.Number > 1 {
		s += fmt.Sprintf(" (attempt %d)", p.Number)
	}
	return s
}

// writeHistory prints the changes of stage, oldest first (of version v
// only, unless 0).
func writeHistory(w io.Writer, hist []runjson.StageChange, v int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, h := range hist {
		if v != 0 && h.Version != v {
			continue
		}
		change := "registered as " + string(h.To)
		if h.From != nil {
			change = string(*h.From) + " → " + string(h.To)
		}
		fmt.Fprintf(tw, "  %s\tversion %d\t%s\t%s\t%s\n", localTime(h.At), h.Version, change, h.Reason, printable(h.Actor))
		n++
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  (none)")
	}
}

func (a *app) showVersion(mv *runjson.ModelVersion, m *runjson.Model) error {
	w := a.stdout
	fmt.Fprintf(w, "%s: %s since %s\n", mv.Ref, mv.Stage, localTime(mv.StageChangedAt))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	media := mv.Model.MediaType
	if media == "" {
		media = "unknown type"
	}
	fmt.Fprintf(tw, "  artifact\t%s (%s, %s)\n", mv.Model.Digest, plural(int(mv.Model.Size), "byte"), media)
	fmt.Fprintf(tw, "  metrics\t%s\n", orDash(metricsLine(mv.Metrics, 0)))
	if mv.Report != nil {
		fmt.Fprintf(tw, "  report\t%s\n", mv.Report.Digest)
	} else {
		fmt.Fprintf(tw, "  report\t- (the deploy had no report input)\n")
	}
	made := producerText(mv.Producer)
	if mv.Producer.RunID != "" {
		made += "   (cairn show " + mv.Producer.RunID + ")"
	}
	fmt.Fprintf(tw, "  made by\t%s\n", made)
	fmt.Fprintf(tw, "  registered\t%s\n", localTime(mv.CreatedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nhistory:")
	writeHistory(w, m.History, mv.Version)
	return nil
}

// modelsChange prints what a promotion or rollback did.
func (a *app) modelsChange(ch *runjson.ModelChange, err error) func(asJSON bool) error {
	return func(asJSON bool) error {
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, ch)
		}
		v := ch.Version
		if !ch.Changed {
			fmt.Fprintf(a.stdout, "model %s: version %d is %s already: nothing changed\n", v.Name, v.Version, v.Stage)
			return nil
		}
		fmt.Fprintf(a.stdout, "model %s: version %d %s → %s", v.Name, v.Version, ch.From, v.Stage)
		if ch.Replaced != nil && *ch.Replaced != v.Version {
			fmt.Fprintf(a.stdout, "; version %d, in production before, is archived", *ch.Replaced)
		}
		fmt.Fprintln(a.stdout)
		return nil
	}
}
