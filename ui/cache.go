package ui

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/ui/core"
)

// CacheReader is what explaining a task's cache story reads
// (*sqlite.Store and *postgres.Store satisfy it): the last success of a
// task in a workflow, an attempt, its lineage edges, the successes with a
// cache key.
type CacheReader interface {
	lineage.CacheStore
}

// cacheStory is task tr's cache story: whether its latest attempt reused
// an earlier success and, if not, why it ran (lineage.ExplainCache).
func (h *handler) cacheStory(ctx context.Context, v *runView, tr *cairn.TaskRun) (lineage.CacheStory, error) {
	off := func() string {
		if h.o.CacheOff != nil {
			return h.o.CacheOff(ctx, v.Run, tr.TaskID)
		}
		// Without the server's task types, a type's default is unknown:
		// only what the file says is told.
		if wf := h.graphs.workflow(ctx, h.o.Store, v.Run); wf != nil {
			if t := wf.Declared(tr.TaskID); t != nil && t.Cache != nil {
				return t.CacheWhy
			}
		}
		return "the task's cache: setting or its type's default"
	}
	story, err := lineage.ExplainCache(ctx, h.o.Cache, v.Run, tr, v.Attempts[tr.TaskID], off)
	if err != nil {
		return story, fmt.Errorf("explain the cache of run %s task %s: %w", v.Run.ID, tr.TaskID, err)
	}
	return story, nil
}

// GET /api/v1/runs/{id}/tasks/{task}/cache → the task's cache story:
// {"hit", "on", "why", "last", "changes"}, the "cache" of cairn show RUN
// TASK --json.
func (h *handler) apiCache(c *gin.Context) {
	if h.o.Cache == nil {
		h.fail(c, fmt.Errorf("this server does not explain the cache: %w", core.ErrNotImplemented))
		return
	}
	v, tr, ok := h.runTask(c)
	if !ok {
		return
	}
	story, err := h.cacheStory(c.Request.Context(), v, tr)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, story)
}
