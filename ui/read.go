package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

// Page sizes of run lists.
const (
	defaultPage = 20
	maxPage     = 500
	minPrefix   = 4 // characters of a run id prefix, as the store asks
)

// runsQuery reads the filters and the page of a runs list from the query
// string: workflow, state, limit, before (a run id or a unique prefix).
func (h *handler) runsQuery(c *gin.Context) (scheduler.RunFilter, error) {
	f := scheduler.RunFilter{Workflow: strings.TrimSpace(c.Query("workflow")), Limit: defaultPage}
	if s := strings.ToLower(strings.TrimSpace(c.Query("state"))); s != "" {
		if s == "orphaned" {
			return f, core.BadInput("orphaned is not a stored state: state=running lists the orphaned runs too (each says orphaned)")
		}
		st, err := cairn.ParseRunState(s)
		if err != nil {
			return f, core.BadInput("%v", err)
		}
		f.State = st
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return f, core.BadInput("limit %s: want a number from 1 to %d", core.Brief(l), maxPage)
		}
		f.Limit = n
	}
	if b := strings.TrimSpace(c.Query("before")); b != "" {
		id, err := h.resolve(c.Request.Context(), b)
		if errors.Is(err, cairn.ErrNotFound) {
			return f, core.BadInput("before %s names no run: give the next cursor a previous page returned", core.Brief(b))
		}
		if err != nil {
			return f, err
		}
		f.Before = id
	}
	return f, nil
}

// listRuns returns a page of runs and the cursor of the next one ("" on
// the last page): one run more than the page tells whether another follows.
func (h *handler) listRuns(ctx context.Context, f scheduler.RunFilter) ([]*cairn.Run, string, error) {
	page := f
	page.Limit = f.Limit + 1
	runs, err := h.o.Store.ListRuns(ctx, page)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	next := ""
	if len(runs) > f.Limit {
		runs = runs[:f.Limit]
		next = runs[len(runs)-1].ID
	}
	return runs, next, nil
}

// resolve expands a run id or a unique prefix of one (4 characters or more).
func (h *handler) resolve(ctx context.Context, prefix string) (string, error) {
	if len(prefix) < minPrefix {
		return "", core.BadInput("run id %s is too short: give the run id or at least %d of its first characters", core.Brief(prefix), minPrefix)
	}
	id, err := h.o.Store.ResolveRunID(ctx, prefix)
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		return "", fmt.Errorf("no run %s: %w", core.Brief(prefix), cairn.ErrNotFound)
	case errors.Is(err, cairn.ErrAmbiguous):
		return "", fmt.Errorf("run id %s matches several runs, give more of its characters: %w", core.Brief(prefix), cairn.ErrAmbiguous)
	case err != nil:
		return "", err
	}
	return id, nil
}

// getRun reads the run a path names (an id or a unique prefix of one).
func (h *handler) getRun(ctx context.Context, idOrPrefix string) (*cairn.Run, error) {
	id, err := h.resolve(ctx, idOrPrefix)
	if err != nil {
		return nil, err
	}
	return h.o.Store.GetRun(ctx, id)
}

// runView is everything the pages and the API show of one run.
type runView struct {
	Run      *cairn.Run
	Orphaned bool
	Tasks    []*cairn.TaskRun
	Attempts map[string][]*cairn.Attempt // by task, oldest first
	All      []*cairn.Attempt
	// Waiting says why each task that is not running is not (core.Waiting,
	// cairn.Why), by task id.
	Waiting map[string]string
}

func (h *handler) loadRun(ctx context.Context, idOrPrefix string) (*runView, error) {
	r, err := h.getRun(ctx, idOrPrefix)
	if err != nil {
		return nil, err
	}
	trs, err := h.o.Store.ListTaskRuns(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("list the tasks of run %s: %w", r.ID, err)
	}
	all, err := h.o.Store.ListAttempts(ctx, r.ID, "")
	if err != nil {
		return nil, fmt.Errorf("list the attempts of run %s: %w", r.ID, err)
	}
	v := &runView{Run: r, Orphaned: h.orphaned(r), Tasks: trs, Attempts: map[string][]*cairn.Attempt{}, All: all}
	for _, a := range all {
		v.Attempts[a.TaskID] = append(v.Attempts[a.TaskID], a)
	}
	graph := func() cairn.WaitGraph {
		if wf := h.graphs.workflow(ctx, h.o.Store, r); wf != nil {
			return wf
		}
		return nil
	}
	var pool *cairn.Worker
	now := h.o.Now()
	if h.o.Pool != nil {
		p := *h.o.Pool
		p.ExpiresAt = now.Add(time.Minute) // this process: live
		pool = &p
	}
	v.Waiting, err = core.Waiting(ctx, core.WaitSources{Runs: h.o.Store, Pools: h.o.Pools, Workers: h.o.Workers, Pool: pool, PoolOwner: h.o.PoolOwner, OwnerGone: h.o.OwnerGone}, r, trs, graph, now)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (h *handler) orphaned(r *cairn.Run) bool { return runjson.Orphaned(r, h.o.Now(), h.o.OwnerGone) }

// task returns task id of the run, or an error wrapping ErrNotFound.
// runTask loads the run and the task a route names ({id}, {task}),
// answering the request with the error when either cannot be had.
func (h *handler) runTask(c *gin.Context) (*runView, *cairn.TaskRun, bool) {
	v, err := h.loadRun(c.Request.Context(), c.Param("id"))
	if err == nil {
		var tr *cairn.TaskRun
		if tr, err = v.task(c.Param("task")); err == nil {
			return v, tr, true
		}
	}
	h.fail(c, err)
	return nil, nil, false
}

func (v *runView) task(id string) (*cairn.TaskRun, error) {
	for _, tr := range v.Tasks {
		if tr.TaskID == id {
			return tr, nil
		}
	}
	return nil, fmt.Errorf("run %s has no task %s: %w", v.Run.ID, core.Brief(id), cairn.ErrNotFound)
}

// attemptOf picks attempt n of a task (0: the latest); nil when the task
// has none yet.
func attemptOf(atts []*cairn.Attempt, n int, taskID string) (*cairn.Attempt, error) {
	if n == 0 {
		if len(atts) == 0 {
			return nil, nil
		}
		return atts[len(atts)-1], nil
	}
	for _, a := range atts {
		if a.Number == n {
			return a, nil
		}
	}
	return nil, fmt.Errorf("task %s has no attempt %d (it has %d): %w", taskID, n, len(atts), cairn.ErrNotFound)
}

// attemptParam reads ?attempt=N (0 when absent).
func attemptParam(c *gin.Context) (int, error) {
	s := c.Query("attempt")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, core.BadInput("attempt %s: want a number from 1", core.Brief(s))
	}
	return n, nil
}

// graphCache keeps the workflows parsed again from runs' sources (for the
// DAG's edges and the descriptions), by digest, a bounded number of them.
type graphCache struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*workflows.Workflow
	order []string
}

func newGraphCache(n int) *graphCache {
	return &graphCache{max: n, byKey: map[string]*workflows.Workflow{}}
}

// workflow returns run r's workflow parsed from the source it stored
// (task types unchecked: the server may no longer have a plugin), or nil
// when it cannot be parsed again.
func (g *graphCache) workflow(ctx context.Context, rd core.Reader, r *cairn.Run) *workflows.Workflow {
	key := r.Digest + "\x00" + r.SourcePath
	g.mu.Lock()
	wf, ok := g.byKey[key]
	g.mu.Unlock()
	if ok {
		return wf
	}
	sources, err := rd.RunSources(ctx, r.ID)
	if err != nil {
		return nil // not kept: the next read tries again
	}
	wf, err = workflows.ParseRun(r, sources, workflows.Options{})
	if err != nil {
		wf = nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.byKey[key]; !ok {
		if len(g.order) >= g.max {
			delete(g.byKey, g.order[0])
			g.order = g.order[1:]
		}
		g.order = append(g.order, key)
		g.byKey[key] = wf
	}
	return wf
}

// logTail is the end of an attempt's log.
type logTail struct {
	Data    []byte // from the first whole line within the tail
	Skipped int64  // bytes before Data
	Size    int64  // of the whole log so far
	Missing bool   // the attempt printed nothing (yet)
}

// readTail reads the last max bytes of an attempt's log (max <= 0: all
// of it), starting at a line when it cuts.
func (h *handler) readTail(runID, taskID string, attempt int, max int64) (logTail, error) {
	if h.o.Logs == nil {
		return logTail{Missing: true}, nil
	}
	rc, err := h.o.Logs.Open(runID, taskID, attempt)
	if errors.Is(err, cairn.ErrNotFound) {
		return logTail{Missing: true}, nil
	}
	if err != nil {
		return logTail{}, fmt.Errorf("open the log of %s attempt %d: %w", taskID, attempt, err)
	}
	defer rc.Close()
	var start int64
	if s, ok := rc.(io.Seeker); ok && max > 0 {
		size, err := s.Seek(0, io.SeekEnd)
		if err != nil {
			return logTail{}, fmt.Errorf("read the log of %s attempt %d: %w", taskID, attempt, err)
		}
		start = size - max
		if start < 0 {
			start = 0
		}
		if _, err := s.Seek(start, io.SeekStart); err != nil {
			return logTail{}, fmt.Errorf("read the log of %s attempt %d: %w", taskID, attempt, err)
		}
	}
	data, err := io.ReadAll(rc)
	if err != nil {
		return logTail{}, fmt.Errorf("read the log of %s attempt %d: %w", taskID, attempt, err)
	}
	size := start + int64(len(data))
	if max > 0 && int64(len(data)) > max { // not seekable: keep the end
		cut := int64(len(data)) - max
		data, start = data[cut:], start+cut
	}
	if start > 0 {
		// From the first line that starts within the tail, unless the
		// tail holds only part of one line.
		if i := bytes.IndexByte(data, '\n'); i >= 0 && i < len(data)-1 {
			data, start = data[i+1:], start+int64(i+1)
		}
	}
	return logTail{Data: data, Skipped: start, Size: size}, nil
}
