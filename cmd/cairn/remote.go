package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/ui/runjson"
)

// remoteFlags are --server and --token, of the commands that can talk to
// a cairn server instead of the home's database.
type remoteFlags struct {
	server, token string
	fromFlag      bool // --server was given on the command line (hints repeat it)
}

// remoteFlags registers --server and --token on fs. Their environment
// defaults (CAIRN_SERVER, CAIRN_TOKEN) are read after parsing, in
// resolve, so that no help text ever shows a token.
func (a *app) remoteFlags(fs *flag.FlagSet) *remoteFlags {
	rf := &remoteFlags{}
	fs.StringVar(&rf.server, "server", "", "talk to the cairn server at this URL instead of the home's database (default $CAIRN_SERVER)")
	fs.StringVar(&rf.token, "token", "", "the server's API token; better in $CAIRN_TOKEN (a flag shows in ps)")
	return rf
}

// resolve fills in the environment's defaults once fs is parsed: an
// empty --server ” forces the home's database even with CAIRN_SERVER set.
func (rf *remoteFlags) resolve(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	rf.fromFlag = set["server"]
	if !set["server"] {
		rf.server = os.Getenv("CAIRN_SERVER")
	}
	if !set["token"] {
		rf.token = os.Getenv("CAIRN_TOKEN")
	}
	rf.server = strings.TrimSpace(rf.server)
}

// remote reports whether the command talks to a server.
func (rf *remoteFlags) remote() bool { return rf.server != "" }

// serverArg is what a hint adds to a command so that it talks to the
// same server: " --server URL" when the server came from the flag.
func (rf *remoteFlags) serverArg() string {
	if !rf.fromFlag || rf.server == "" {
		return ""
	}
	return " --server " + shellQuote(rf.server)
}

// client makes the client of --server, warning when the token would
// travel in clear text.
func (a *app) client(rf *remoteFlags) (*client.Client, error) {
	awaitSignals()
	c, err := client.New(rf.server, client.Options{Token: rf.token, UserAgent: userAgent()})
	if err != nil {
		return nil, usageError{"--server: " + err.Error()}
	}
	if c.HasToken() && c.ClearText() {
		fmt.Fprintf(a.stderr, "cairn: warning: %s is plain http to another host: the token travels in clear text (use https://, or a tunnel to a loopback address)\n", c.URL())
	}
	return c, nil
}

func userAgent() string {
	v := version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		} else {
			v = "devel"
		}
	}
	return "cairn/" + v
}

// source returns where the command reads runs: the server of rf, or the
// home's database (missingOK: a read-only command with no database reads
// nothing rather than failing).
func (a *app) source(ctx context.Context, rf *remoteFlags, missingOK bool) (runSource, error) {
	if !rf.remote() {
		return a.openLocal(ctx, missingOK)
	}
	c, err := a.client(rf)
	if err != nil {
		return nil, err
	}
	return &remoteSource{a: a, c: c, rf: rf}, nil
}

// remoteSource reads runs from a cairn server's API.
type remoteSource struct {
	a  *app
	c  *client.Client
	rf *remoteFlags
}

func (s *remoteSource) close() {}

// remoteErr says what to do about an error of the API, in the terms of
// the command line: which flag gives the token, what to check when the
// server cannot be reached. A refused request (400) is bad usage (exit 2).
func remoteErr(err error) error {
	var ce *client.Error
	var ue *client.UnreachableError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return fmt.Errorf("%w; if the server's certificate is signed by an authority of your own, give its PEM file in SSL_CERT_FILE", err)
	case errors.As(err, &ue):
		return fmt.Errorf("%w; check the URL (--server or CAIRN_SERVER) and that 'cairn server' runs there, listening on that address (its --addr)", err)
	case errors.As(err, &ce) && ce.Code == "" && strings.Contains(ce.Message, "HTTPS server"):
		return fmt.Errorf("%w; the server speaks HTTPS: give its URL as https://", err)
	case errors.As(err, &ce) && ce.Status == 401 && !ce.TokenSent:
		return fmt.Errorf("%w; give a token with --token or CAIRN_TOKEN (an admin makes one with 'cairn tokens create --role %s' where the server runs)", err, ce.Need)
	case errors.As(err, &ce) && ce.Status == 401:
		return fmt.Errorf("%w; give a valid token with --token or CAIRN_TOKEN", err)
	case errors.As(err, &ce) && ce.Status == 400:
		return exitError{exitBadFile, err}
	}
	return err
}

// maxPage is the most runs the API lists in one page.
const maxAPIPage = 500

func (s *remoteSource) listRuns(ctx context.Context, f scheduler.RunFilter) ([]runItem, string, error) {
	var items []runItem
	before := f.Before
	for {
		want := f.Limit - len(items)
		page, err := s.c.Runs(ctx, client.RunsQuery{Workflow: f.Workflow, State: string(f.State), Limit: min(want, maxAPIPage), Before: before})
		if err != nil {
			if f.Before != "" && before == f.Before {
				switch {
				case errors.Is(err, cairn.ErrAmbiguous):
					return nil, "", usageError{fmt.Sprintf("--before %q matches several runs; give more characters of the run id", f.Before)}
				case errors.Is(err, client.ErrBadInput):
					return nil, "", usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
				}
			}
			return nil, "", remoteErr(err)
		}
		for i := range page.Runs {
			it, err := itemFromJSON(&page.Runs[i])
			if err != nil {
				return nil, "", s.invalid(err)
			}
			items = append(items, it)
		}
		if page.Next == nil || len(page.Runs) == 0 {
			return items, "", nil
		}
		if len(items) >= f.Limit {
			return items, *page.Next, nil
		}
		before = *page.Next
	}
}

func (s *remoteSource) invalid(err error) error {
	return fmt.Errorf("the server at %s answered a run this cairn cannot show: %w", s.c.URL(), err)
}

func (s *remoteSource) getRun(ctx context.Context, arg string) (*runDetail, error) {
	j, err := s.c.Run(ctx, arg)
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		return nil, fmt.Errorf("no run %q on the server at %s (see 'cairn runs%s')", arg, s.c.URL(), s.rf.serverArg())
	case errors.Is(err, cairn.ErrAmbiguous):
		return nil, fmt.Errorf("run id %q matches several runs; give more characters", arg)
	case err != nil:
		return nil, remoteErr(err)
	}
	d, err := detailFromJSON(j)
	if err != nil {
		return nil, s.invalid(err)
	}
	return d, nil
}

func (s *remoteSource) openLog(ctx context.Context, runID, taskID string, n int) (io.ReadCloser, error) {
	l, err := s.c.Log(ctx, runID, taskID, n)
	if err != nil {
		return nil, remoteErr(err)
	}
	if l.Size == 0 {
		l.Close()
		return nil, fmt.Errorf("attempt %d of %s printed nothing: %w", n, taskID, cairn.ErrNotFound)
	}
	return l, nil
}

// followPoll is how often a remote follow asks for a task's next attempt.
const followPoll = 250 * time.Millisecond

func (s *remoteSource) followLog(ctx context.Context, runID, taskID string, n int, pinned bool, out, notes io.Writer) error {
	var off int64
	for {
		if n > 0 {
			_, o, err := s.c.FollowLog(ctx, runID, taskID, n, off, out)
			off = o
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return remoteErr(err)
			}
			if pinned {
				return nil
			}
		}
		// The attempt ended, or none had begun: the next one, or the end.
		d, err := s.getRun(ctx, runID)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		tr, err := d.task(taskID)
		if err != nil {
			return err
		}
		latest := 0
		if atts := d.atts[taskID]; len(atts) > 0 {
			latest = atts[len(atts)-1].Number
		}
		switch {
		case latest > n:
			n, off = latest, 0
			if latest > 1 {
				fmt.Fprintf(notes, "--- attempt %d ---\n", latest)
			}
			continue
		case tr.State.Terminal():
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

func (s *remoteSource) cancel(ctx context.Context, arg string) (string, error) {
	id, err := s.c.Cancel(ctx, arg)
	switch {
	case errors.Is(err, cairn.ErrConflict):
		if d, gerr := s.getRun(ctx, arg); gerr == nil && d.State.Terminal() {
			return "", fmt.Errorf("run %s already %s", d.ID, d.State)
		}
		return "", remoteErr(err)
	case errors.Is(err, cairn.ErrNotFound):
		return "", fmt.Errorf("no run %q on the server at %s (see 'cairn runs%s')", arg, s.c.URL(), s.rf.serverArg())
	case err != nil:
		return "", remoteErr(err)
	}
	return fmt.Sprintf("run %s: cancellation requested; the server at %s is stopping it", id, s.c.URL()), nil
}

// gateResults of a server's run come from the task's own params and
// metrics (the gate and the values), since the report artifact is not
// served: a condition on a metric the task does not report is listed
// without its value.
func (s *remoteSource) gateResults(ctx context.Context, tr *cairn.TaskRun) []evaluate.GateResult {
	return gateFromParams(tr)
}

func gateFromParams(tr *cairn.TaskRun) []evaluate.GateResult {
	var p struct {
		Gate map[string]string `json:"gate"`
	}
	if tr.Type != "evaluate" || json.Unmarshal(tr.Params, &p) != nil {
		return nil
	}
	names := make([]string, 0, len(p.Gate))
	for k := range p.Gate {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []evaluate.GateResult
	for _, name := range names {
		c, err := evaluate.ParseCondition(name, p.Gate[name])
		if err != nil {
			continue
		}
		g := evaluate.GateResult{Condition: c}
		if v, ok := tr.Metrics[name]; ok {
			g.Actual, g.Passed = &v, c.Holds(v)
		} else {
			g.Reason = "(its value is in the task's report)"
		}
		out = append(out, g)
	}
	return out
}

// The API's JSON back into the vocabulary the commands print from. A
// server is another trust domain: ids and states are checked, since the
// text commands print them as they are.

func itemFromJSON(j *runjson.Run) (runItem, error) {
	if !validRunID(j.ID) {
		return runItem{}, fmt.Errorf("run id %q", j.ID)
	}
	if !j.State.Valid() {
		return runItem{}, fmt.Errorf("run %s: state %q", j.ID, j.State)
	}
	if !plainText(j.Workflow) {
		return runItem{}, fmt.Errorf("run %s: workflow name %q", j.ID, j.Workflow)
	}
	if j.Trigger != "" && !j.Trigger.Valid() {
		return runItem{}, fmt.Errorf("run %s: trigger %q", j.ID, j.Trigger)
	}
	r := &cairn.Run{ID: j.ID, Workflow: j.Workflow, Digest: j.Digest, SourcePath: j.SourcePath, State: j.State,
		Owner: j.Owner, Params: j.Params, Error: j.Error, CancelRequested: j.CancelRequested, CreatedAt: j.CreatedAt,
		StartedAt: timeOf(j.StartedAt), FinishedAt: timeOf(j.FinishedAt), Trigger: j.Trigger, ScheduledFor: timeOf(j.ScheduledFor)}
	// The server decided whether the run is orphaned; when its owner was
	// last seen it does not say.
	return runItem{Run: r, orphaned: j.Orphaned}, nil
}

func detailFromJSON(j *runjson.Run) (*runDetail, error) {
	it, err := itemFromJSON(j)
	if err != nil {
		return nil, err
	}
	trs := make([]*cairn.TaskRun, 0, len(j.Tasks))
	var (
		all     []*cairn.Attempt
		waiting map[string]string
	)
	for _, t := range j.Tasks {
		if !plainText(t.ID) || t.ID == "" || !plainText(t.Type) {
			return nil, fmt.Errorf("run %s: task %q of type %q", j.ID, t.ID, t.Type)
		}
		if !t.State.Valid() {
			return nil, fmt.Errorf("run %s: task %s: state %q", j.ID, t.ID, t.State)
		}
		queue := cairn.StoredQueue(t.Queue)
		if err := cairn.CheckRoute(t.Labels, queue); err != nil {
			return nil, fmt.Errorf("run %s: task %s: %w", j.ID, t.ID, err)
		}
		if t.Waiting != "" {
			if !plainText(t.Waiting) {
				return nil, fmt.Errorf("run %s: task %s: waiting %q", j.ID, t.ID, t.Waiting)
			}
			if waiting == nil {
				waiting = map[string]string{}
			}
			waiting[t.ID] = t.Waiting
		}
		trs = append(trs, &cairn.TaskRun{RunID: j.ID, TaskID: t.ID, Type: t.Type, State: t.State, Attempt: t.Attempts,
			Interrupted: t.Interrupted, Error: t.Error, Params: t.Params, Inputs: t.Inputs, Outputs: t.Outputs,
			Metrics: t.Metrics, StartedAt: timeOf(t.StartedAt), FinishedAt: timeOf(t.FinishedAt), Cache: t.Cache,
			Labels: t.Labels, Queue: queue})
		if t.Items != nil {
			// A for_each task that expanded: counted through its items,
			// as a local run counts it.
			if *t.Items < 0 {
				return nil, fmt.Errorf("run %s: task %s: %d items", j.ID, t.ID, *t.Items)
			}
			trs[len(trs)-1].Expanded, trs[len(trs)-1].Items = true, *t.Items
		}
		for _, at := range t.Attempt {
			if at.State != cairn.AttemptInterrupted && !at.State.Valid() {
				return nil, fmt.Errorf("run %s: task %s: attempt %d: state %q", j.ID, t.ID, at.Number, at.State)
			}
			a := &cairn.Attempt{RunID: j.ID, TaskID: t.ID, Number: at.Number, State: at.State, Worker: at.Worker,
				StartedAt: at.StartedAt, FinishedAt: timeOf(at.FinishedAt), Error: at.Error, ExitCode: at.ExitCode,
				Stack: at.Stack, Plugin: at.Plugin}
			if c := at.CachedFrom; c != nil {
				// Printed as it is: the server's words must be plain.
				if !validRunID(c.RunID) || !plainText(c.TaskID) || c.TaskID == "" || c.Number < 1 {
					return nil, fmt.Errorf("run %s: task %s: attempt %d: cached from %q/%q#%d", j.ID, t.ID, at.Number, c.RunID, c.TaskID, c.Number)
				}
				a.CachedFrom = *c
			}
			all = append(all, a)
		}
	}
	d := newDetail(it, trs, all)
	d.waiting = waiting
	return d, nil
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// validRunID: the ids cairn makes, 16 lower-case letters and digits.
func validRunID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// plainText: no control character (nor bidi control) that would move a
// terminal's cursor or reorder what it shows.
func plainText(s string) bool { return !strings.ContainsFunc(s, isControl) }
