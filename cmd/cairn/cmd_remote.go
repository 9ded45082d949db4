package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/workflows"
)

// The commands, and the parts of commands, that only a server does:
// trigger one of its workflows, submit a file to it (run --server).

// localOnly refuses the flags of fs named in names when they were given:
// they tune this process's own work, which --server leaves to the server.
func localOnly(fs *flag.FlagSet, names ...string) error {
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				bad = append(bad, flagName(n))
			}
		}
	})
	if len(bad) > 0 {
		return usageError{fmt.Sprintf("%s tune(s) the tasks this process runs; with --server the server runs them with its own settings", strings.Join(bad, ", "))}
	}
	return nil
}

// maxSubmit bounds the workflow file run --server reads and sends.
const maxSubmit = 1 << 20

// runRemote sends the workflow file at path to the server and follows
// the run it makes there, or with detach prints its id.
func (a *app) runRemote(ctx context.Context, fs *flag.FlagSet, rf *remoteFlags, path string, params paramFlags, ef execFlags, detach, noCache bool) error {
	if err := localOnly(fs, "workers", "log-limit", "stop-grace", "labels", "queues"); err != nil {
		return err
	}
	src, err := readWorkflowFile(path)
	if err != nil {
		return exitError{exitBadFile, fmt.Errorf("%v\nnothing was run", err)}
	}
	// Secret values never travel with a run: the server takes them from
	// its own environment. (A file this cannot parse is the server's to
	// judge, with the task types it has.)
	if wf, err := workflows.Parse(path, src, workflows.Options{}); err == nil {
		for _, d := range wf.Params {
			if _, given := params[d.Name]; d.Secret && given {
				return usageError{fmt.Sprintf("-p %s: secret params never travel to a server (they are never stored); start the server with %s=VALUE in its environment instead",
					d.Name, workflows.SecretEnv(d.Name))}
			}
		}
	}
	c, err := a.client(rf)
	if err != nil {
		return err
	}
	id, err := c.Submit(ctx, filepath.Base(path), src, params, client.RunOptions{NoCache: noCache})
	if err != nil {
		return submitErr(err, path)
	}
	s := &remoteSource{a: a, c: c, rf: rf}
	if detach {
		fmt.Fprintln(a.stdout, id)
		if ef.quiet {
			return nil
		}
		fmt.Fprintf(a.stderr, "submitted run %s to the server at %s; follow it with: cairn show %s%s\n", id, c.URL(), id, rf.serverArg())
		return nil
	}
	return a.watchRun(ctx, s, id, "run", ef.progress, ef.quiet, nil)
}

// readWorkflowFile reads a workflow file to send, as the parser would
// read it: a regular file of at most maxSubmit bytes.
func readWorkflowFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxSubmit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d bytes a workflow file sent to a server may have: "+
			"run it with cairn run on the server's home, or put it in the server's --workflows folder and trigger it", path, fi.Size(), maxSubmit)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSubmit+1))
	if err != nil {
		return nil, fmt.Errorf("read workflow %s: %w", path, err)
	}
	return b, nil
}

// submitErr says why the server refused a file: each problem where it is
// (in the file as the user named it), exit 2, as a local run says it.
func submitErr(err error, path string) error {
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 400 {
		return remoteErr(err)
	}
	if len(ce.Problems) == 0 {
		return exitError{exitBadFile, fmt.Errorf("%s\nnothing was run", printableLines(ce.Message))}
	}
	// Printed as a local run prints them (workflows.ErrorList: some of
	// them, the rest counted).
	list := make(workflows.ErrorList, 0, len(ce.Problems))
	for _, p := range ce.Problems {
		if p.File == filepath.Base(path) || p.File == "" {
			p.File = path
		}
		list = append(list, &workflows.Error{File: p.File, Line: p.Line, Col: p.Col, Msg: p.Message, Hint: p.Hint})
	}
	return exitError{exitBadFile, fmt.Errorf("%s\nnothing was run", printableLines(list.Error()))}
}

// watchFlags are the display flags of a command that follows a run.
type watchFlags struct {
	progress string
	quiet    bool
}

func (w *watchFlags) register(fs *flag.FlagSet) {
	w.progress = "auto"
	fs.Var((*progressMode)(&w.progress), "progress", "progress display: auto (a bar on a terminal), bar, lines, none")
	fs.BoolVar(&w.quiet, "quiet", false, "print only the summary")
}

func cmdTrigger(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("trigger", "NAME [-p key=value]... [--follow] [--server URL]",
		"Start a run of a workflow the server has (the files of its --workflows folder), with params given as\n"+
			"-p key=value (typed by the workflow, as for 'cairn run'), and print the run's id. With --follow, follow\n"+
			"the run as 'cairn run' does and exit 0 only if it succeeded; Ctrl-C asks the server to cancel it.\n"+
			"Needs --server (or CAIRN_SERVER) and an operator token (--token or CAIRN_TOKEN).")
	params := paramFlags{}
	fs.Var(params, "p", "set a workflow param: -p key=value (repeatable)")
	follow := fs.Bool("follow", false, "follow the run until it ends, as 'cairn run' does")
	noCache := fs.Bool("no-cache", false, "run every task: reuse no earlier success, and offer none of this run's for reuse")
	var wf watchFlags
	wf.register(fs)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return usageError{"want exactly one workflow name"}
	}
	if !rf.remote() {
		return usageError{"trigger starts a workflow of a cairn server: give --server URL (or set CAIRN_SERVER); to run a file here: cairn run FILE"}
	}
	c, err := a.client(rf)
	if err != nil {
		return err
	}
	name := pos[0]
	id, err := c.Trigger(ctx, name, params, client.RunOptions{NoCache: *noCache})
	if errors.Is(err, cairn.ErrNotFound) {
		return fmt.Errorf("the server at %s has no workflow %q: its page %s lists those it has (the workflow files of its --workflows folder)",
			c.URL(), name, strings.TrimSuffix(c.URL(), "/")+"/workflows")
	}
	if err != nil {
		return remoteErr(err)
	}
	if !*follow {
		fmt.Fprintln(a.stdout, id)
		fmt.Fprintf(a.stderr, "queued run %s of workflow %s on the server at %s; follow it with: cairn show %s%s\n", id, name, c.URL(), id, rf.serverArg())
		return nil
	}
	return a.watchRun(ctx, &remoteSource{a: a, c: c, rf: rf}, id, "run", wf.progress, wf.quiet, nil)
}

// retryRemote asks the server to retry run arg (task taskID, or "" for
// its failures) and follows the run there, or with detach returns.
func (a *app) retryRemote(ctx context.Context, rf *remoteFlags, arg, taskID string, ef execFlags, detach bool) error {
	c, err := a.client(rf)
	if err != nil {
		return err
	}
	s := &remoteSource{a: a, c: c, rf: rf}
	before, err := s.getRun(ctx, arg) // where its progress starts from
	if err != nil {
		return err
	}
	id, err := c.Retry(ctx, before.ID, taskID)
	switch {
	case errors.Is(err, cairn.ErrConflict):
		if d, gerr := s.getRun(ctx, arg); gerr == nil && !d.State.Terminal() {
			return fmt.Errorf("run %s is %s: retry it once it has ended (or cancel it first: cairn cancel %s%s)", d.ID, d.State, d.ID, rf.serverArg())
		}
		return remoteErr(err)
	case errors.Is(err, cairn.ErrNotFound):
		var ce *client.Error
		errors.As(err, &ce)
		return fmt.Errorf("%s (see 'cairn show %s%s')", printable(ce.Message), arg, rf.serverArg())
	case err != nil:
		return remoteErr(err)
	}
	what := "its failed tasks"
	if taskID != "" {
		what = "task " + taskID
	}
	fmt.Fprintf(a.stderr, "run %s: the server at %s retries %s\n", id, c.URL(), what)
	if detach {
		fmt.Fprintf(a.stderr, "follow it with: cairn show %s%s\n", id, rf.serverArg())
		return nil
	}
	return a.watchRun(ctx, s, id, "retry", ef.progress, ef.quiet, before)
}

// resumeRemote asks the server to take over run arg (orphaned) and
// follows it there.
func (a *app) resumeRemote(ctx context.Context, rf *remoteFlags, arg string, ef execFlags) error {
	c, err := a.client(rf)
	if err != nil {
		return err
	}
	s := &remoteSource{a: a, c: c, rf: rf}
	before, err := s.getRun(ctx, arg) // where its progress starts from
	if err != nil {
		return err
	}
	id, err := c.Resume(ctx, before.ID)
	switch {
	case errors.Is(err, cairn.ErrConflict):
		d, gerr := s.getRun(ctx, arg)
		if gerr != nil {
			return remoteErr(err)
		}
		if d.State.CanRetry() {
			return fmt.Errorf("run %s already %s: nothing to resume; run its failures again with: cairn retry %s%s", d.ID, d.State, d.ID, rf.serverArg())
		}
		if d.State.Terminal() {
			return fmt.Errorf("run %s already %s: nothing to resume; start a new one with: cairn trigger %s%s", d.ID, d.State, d.Workflow, rf.serverArg())
		}
		// A live process drives it (the server itself, as a rule: it
		// takes orphaned runs over by itself): follow it all the same.
		var ce *client.Error
		errors.As(err, &ce)
		fmt.Fprintf(a.stderr, "run %s is driven already (the server says: %s); following it\n", d.ID, printable(ce.Message))
		id = d.ID
	case errors.Is(err, cairn.ErrNotFound):
		return fmt.Errorf("no run %q on the server at %s (see 'cairn runs%s')", arg, c.URL(), rf.serverArg())
	case err != nil:
		return remoteErr(err)
	}
	return a.watchRun(ctx, s, id, "resume", ef.progress, ef.quiet, before)
}
