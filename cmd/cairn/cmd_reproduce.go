package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/deploy"
	"github.com/cairnml/cairn/workflows"
)

// cairn reproduce RUN: the run again from what it recorded — the exact
// workflow file stored with it (its digest checked), its params, hence
// its seeds — into a new run that uses no cache and applies no effects
// (a deploy registers nothing), then every artifact output compared with
// the original's. Tasks that read outside Cairn (collect from a file, an
// URL or a database) are not read again: their recorded output is used,
// checked against its digest, so that a changed file does not stop a
// reproduction.

func cmdReproduce(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("reproduce", "RUN [flags]",
		"Run a finished run again from its record and check that it gives the same bytes.\n"+
			"The new run uses the exact workflow file stored with RUN (not the file on disk today), its params and\n"+
			"seeds, no cache, and applies no effects (a deploy registers nothing; its model is compared by digest).\n"+
			"Tasks that read outside Cairn (collect from file://, http(s):// or sql) are not read again: their\n"+
			"recorded output is used, its bytes checked against its digest; --reread reads them again instead,\n"+
			"and --pin TASK uses the recorded outputs of any other task.\n"+
			"Then every task's outputs (artifacts by digest, other values as JSON) and metrics are compared with RUN's.\n"+
			"Exits 0 when all are the same; otherwise exits 1\n"+
			"naming the first task (in the workflow's order) whose output differs.")
	var ef execFlags
	ef.register(a, fs)
	params := paramFlags{}
	fs.Var(params, "p", "give a secret param again: -p name=value (better, in the environment: CAIRN_PARAM_NAME=value)")
	reread := fs.Bool("reread", false, "run the tasks that read outside Cairn again instead of using their recorded outputs")
	var pins multiFlag
	fs.Var(&pins, "pin", "use the recorded outputs of this task instead of running it (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want exactly one run id"}
	}
	if err := ef.check(); err != nil {
		return err
	}
	st, orig, err := a.openRun(ctx, pos[0])
	if err != nil {
		return err
	}
	defer st.Close()
	if !orig.State.Terminal() {
		return fmt.Errorf("run %s is %s: reproduce a run once it has finished", orig.ID, orig.State)
	}
	wf, reg, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
		return storedWorkflow(ctx, st, reg, orig, "reproduce")
	})
	if err != nil {
		return err
	}
	for _, p := range pins {
		if wf.Task(p) == nil {
			return usageError{fmt.Sprintf("--pin %s: workflow %s has no task %q", p, wf.Name, p)}
		}
	}
	if a.secrets, err = a.resumeSecrets(orig, wf, params); err != nil {
		return err
	}
	origTasks, err := st.ListTaskRuns(ctx, orig.ID)
	if err != nil {
		return err
	}
	byID := make(map[string]*cairn.TaskRun, len(origTasks))
	for _, t := range origTasks {
		byID[t.TaskID] = t
	}
	// A for_each task that expanded takes the items the original recorded
	// rather than resolving its list again.
	if wf.RecordedItems, err = recordedItems(origTasks); err != nil {
		return fmt.Errorf("run %s: %w", orig.ID, err)
	}
	pinned := map[string]string{} // task → why
	for _, p := range pins {
		pinned[p] = "--pin"
	}
	if !*reread {
		for _, t := range origTasks {
			if why := readsOutside(t); why != "" {
				if _, set := pinned[t.TaskID]; !set {
					pinned[t.TaskID] = why
				}
			}
		}
	}
	// The new run has an id and a creation time of its own, and no slot:
	// a task that reads the run's would read other values.
	for _, t := range wf.Tasks {
		if ref := readsRun(t); ref != "" {
			if _, set := pinned[t.ID]; !set {
				pinned[t.ID] = "it reads ${{ " + ref + " }}, the run's own"
			}
		}
	}

	arts, _, err := a.stores()
	if err != nil {
		return err
	}
	now := time.Now()
	r, trs := wf.NewRun(orig.Params, now)
	r.SourcePath, r.ReproduceOf = orig.SourcePath, orig.ID
	for _, t := range trs {
		t.Cache = false
		why, ok := pinned[t.TaskID]
		if !ok {
			continue
		}
		o := byID[t.TaskID]
		if o == nil || o.State != cairn.TaskSucceeded {
			return fmt.Errorf("task %s (%s) did not succeed in run %s: it has no recorded outputs to use; run with --reread, or without --pin %s",
				t.TaskID, why, orig.ID, t.TaskID)
		}
		for _, name := range sortedKeys(o.Outputs) {
			ref, isArt := cairn.AsArtifactRef(o.Outputs[name])
			if !isArt {
				continue
			}
			if err := verifyArtifact(ctx, arts, ref); err != nil {
				return fmt.Errorf("task %s's recorded output %s: %w; reproduce needs it (%s)", t.TaskID, name, err, withoutRecorded(t.TaskID, why))
			}
		}
		t.State, t.Outputs, t.Metrics = cairn.TaskSucceeded, o.Outputs, o.Metrics
		t.StartedAt, t.FinishedAt = now, now
	}
	a.owner = ownerName()
	r.Owner, r.OwnerExpiresAt = a.owner, now.Add(10*time.Second)
	if err := st.CreateRun(ctx, r, trs); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "reproducing run %s as run %s\n", orig.ID, r.ID)
	for _, id := range sortedKeys(pinned) {
		fmt.Fprintf(a.stderr, "  %s: recorded outputs used (%s)\n", id, pinned[id])
	}
	runErr := a.execute(ctx, st, wf, reg, r.ID, r, trs, ef, "reproduce")
	if ctx.Err() != nil {
		return runErr
	}
	now2, err := st.ListTaskRuns(context.WithoutCancel(ctx), r.ID)
	if err != nil {
		return err
	}
	diffs := compareRuns(origTasks, now2, pinned)
	writeReproduction(a.stdout, orig.ID, r.ID, diffs)
	for _, d := range diffs {
		if d.differs {
			return exitError{exitFailed, fmt.Errorf("run %s does not reproduce run %s: task %s %s", r.ID, orig.ID, d.task, d.why)}
		}
	}
	if runErr != nil {
		return runErr
	}
	return nil
}

// recordedItems returns, by task id, the items each for_each task of a
// run expanded into, in item order, as recorded. An expanded task whose
// items are not all there is an error.
func recordedItems(trs []*cairn.TaskRun) (map[string][]json.RawMessage, error) {
	out := map[string][]json.RawMessage{}
	for _, t := range trs {
		if t.Expanded {
			out[t.TaskID] = make([]json.RawMessage, t.Items)
		}
	}
	for _, t := range trs {
		parent, k, ok := cairn.ParseItemID(t.TaskID)
		if !ok {
			continue
		}
		items, expanded := out[parent]
		if !expanded || k >= len(items) {
			return nil, fmt.Errorf("item %s of no expansion of %s", t.TaskID, parent)
		}
		items[k] = t.Item
	}
	for id, items := range out {
		for k, v := range items {
			if v == nil {
				return nil, fmt.Errorf("task %s lacks its recorded item %s", id, cairn.ItemID(id, k))
			}
		}
	}
	return out, nil
}

// withoutRecorded says how a reproduction can do without the recorded
// outputs of task id, used because of why (see pinned): run it again,
// when --pin asked for them or it reads outside Cairn; a task that reads
// the run's own id or slot has no other way.
func withoutRecorded(id, why string) string {
	switch {
	case why == "--pin":
		return "or leave out --pin " + id + " to run it again"
	case strings.HasPrefix(why, "it reads ${{"):
		return why + ": it is not run again"
	}
	return "or --reread to read the source again"
}

// readsOutside says why task run t read data from outside Cairn, or "":
// collect from a file, URL or database, and retrain, which reads the
// model registry (its production version changes between runs).
func readsOutside(t *cairn.TaskRun) string {
	if t.Type == "retrain" {
		return "retrain reads the model registry, which changes"
	}
	if t.Type != "collect" || len(t.Params) == 0 {
		return ""
	}
	var p struct {
		Source string `json:"source"`
	}
	if json.Unmarshal(t.Params, &p) != nil {
		return ""
	}
	switch {
	case p.Source == "synthetic":
		return ""
	case p.Source == "sql":
		return "collect from a database"
	case strings.HasPrefix(p.Source, "file:"):
		return "collect from " + p.Source
	case strings.HasPrefix(p.Source, "http://"), strings.HasPrefix(p.Source, "https://"):
		return "collect from " + p.Source
	}
	return ""
}

// runRef finds a reference to the run's own id or slot (compiled when
// reproduce needs it, not at every start).
var runRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\brun\.(id|scheduled_for)\b`) })

// readsRun returns the reference to the run's own id or slot that task t
// holds in its with:, inputs: or when:, or "".
func readsRun(t *workflows.Task) string {
	with, _ := json.Marshal(t.With)
	inputs, _ := json.Marshal(t.Inputs)
	for _, text := range []string{string(with), string(inputs), t.When} {
		if m := runRef().FindString(text); m != "" {
			return m
		}
	}
	return ""
}

// verifyArtifact reads ref whole: its bytes must match its digest.
func verifyArtifact(ctx context.Context, arts tasks.Artifacts, ref cairn.ArtifactRef) error {
	rc, err := arts.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return nil
}

// taskDiff is what reproduce found of one task.
type taskDiff struct {
	task    string
	differs bool
	why     string // what differs, or what is the same
}

// compareRuns compares the outputs and metrics of each task of orig with
// those of repro, in orig's order.
func compareRuns(orig, repro []*cairn.TaskRun, pinned map[string]string) []taskDiff {
	now := make(map[string]*cairn.TaskRun, len(repro))
	for _, t := range repro {
		now[t.TaskID] = t
	}
	var out []taskDiff
	for _, o := range orig {
		n := now[o.TaskID]
		d := taskDiff{task: o.TaskID}
		switch {
		case n == nil:
			d.differs, d.why = true, "is missing from the reproduction"
		case o.State != cairn.TaskSucceeded && n.State != cairn.TaskSucceeded:
			d.why = fmt.Sprintf("not compared: %s originally, %s now", o.State, n.State)
		case o.State != n.State:
			d.differs, d.why = true, fmt.Sprintf("ended %s, originally %s", n.State, o.State)
			if n.Error != "" {
				d.why += ": " + firstLine(n.Error)
			}
		case pinned[o.TaskID] != "":
			d.why = "recorded outputs used (" + pinned[o.TaskID] + ")"
		default:
			d.differs, d.why = diffOutputs(o.Type, o, n)
		}
		out = append(out, d)
	}
	return out
}

// diffOutputs compares the outputs of two successes of a task of type
// typ: artifacts by digest, other values as JSON, and the metrics. A
// deploy's version is the registry's number, which a reproduction (that
// registers nothing) has not.
func diffOutputs(typ string, o, n *cairn.TaskRun) (bool, string) {
	arts, vals := 0, 0
	for _, name := range sortedKeys(o.Outputs) {
		if typ == "deploy" && (name == deploy.VersionOutput || name == deploy.StageOutput) {
			continue // the registry's, which a reproduction (registering nothing) has not
		}
		ro, isArt := cairn.AsArtifactRef(o.Outputs[name])
		if !isArt {
			nv, ok := n.Outputs[name]
			if !ok {
				return true, fmt.Sprintf("has no output %s (originally %s)", name, clipValue(o.Outputs[name]))
			}
			if !sameValue(o.Outputs[name], nv) {
				return true, fmt.Sprintf("output %s is %s, originally %s", name, clipValue(nv), clipValue(o.Outputs[name]))
			}
			vals++
			continue
		}
		rn, ok := cairn.AsArtifactRef(n.Outputs[name])
		if !ok {
			return true, fmt.Sprintf("has no output %s (originally %s)", name, shortDigest(ro.Digest))
		}
		if rn.Digest != ro.Digest {
			return true, fmt.Sprintf("output %s is %s, originally %s", name, shortDigest(rn.Digest), shortDigest(ro.Digest))
		}
		arts++
	}
	for _, name := range sortedKeys(o.Metrics) {
		was := o.Metrics[name]
		now, ok := n.Metrics[name]
		if !ok {
			return true, fmt.Sprintf("has no metric %s (originally %g)", name, was)
		}
		if now != was && !(math.IsNaN(now) && math.IsNaN(was)) {
			return true, fmt.Sprintf("metric %s is %g, originally %g", name, now, was)
		}
	}
	var parts []string
	if arts > 0 {
		parts = append(parts, plural(arts, "artifact"))
	}
	if vals > 0 {
		parts = append(parts, plural(vals, "value"))
	}
	if m := len(o.Metrics); m > 0 {
		parts = append(parts, plural(m, "metric"))
	}
	if len(parts) == 0 {
		return false, "same (no outputs)"
	}
	return false, "same (" + strings.Join(parts, ", ") + ")"
}

// sameValue compares two JSON values byte for byte once compacted.
func sameValue(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// clipValue is a JSON value for a message: at most about 60 bytes, cut
// at a character's start, printable.
func clipValue(v json.RawMessage) string {
	s := string(v)
	if len(s) > 60 {
		cut := 57
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return printable(s)
}

func writeReproduction(w io.Writer, origID, id string, diffs []taskDiff) {
	width := 4
	for _, d := range diffs {
		width = max(width, len(d.task))
	}
	fmt.Fprintf(w, "reproduction %s of run %s\n", id, origID)
	for _, d := range diffs {
		mark := "ok  "
		if d.differs {
			mark = "DIFF"
		}
		fmt.Fprintf(w, "  %s  %-*s  %s\n", mark, width, d.task, d.why)
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(s string) error {
	*m = append(*m, s)
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
