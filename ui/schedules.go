package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

func (h *handler) mountSchedules(e *gin.Engine) {
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/schedules", core.Read, h.apiSchedules)
	h.route(api, http.MethodPost, "/schedules/:name/pause", core.Operate, func(c *gin.Context) { h.apiPause(c, true) })
	h.route(api, http.MethodPost, "/schedules/:name/resume", core.Operate, func(c *gin.Context) { h.apiPause(c, false) })
	h.route(api, http.MethodPost, "/workflows/:name/backfill", core.Operate, h.apiBackfill)
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/schedules", core.Read, h.pageSchedules)
	h.route(g, http.MethodPost, "/schedules/:name/pause", core.Operate, func(c *gin.Context) { h.formPause(c, true) })
	h.route(g, http.MethodPost, "/schedules/:name/resume", core.Operate, func(c *gin.Context) { h.formPause(c, false) })
}

func (h *handler) schedules(c *gin.Context) (core.Schedules, bool) {
	if h.o.Schedules == nil {
		h.fail(c, fmt.Errorf("this server has no schedules: %s %s: %w", c.Request.Method, c.Request.URL.Path, core.ErrNotImplemented))
		return nil, false
	}
	return h.o.Schedules, true
}

// GET /api/v1/schedules → {"schedules": [...]}, the shape of cairn
// schedules list --json.
func (h *handler) apiSchedules(c *gin.Context) {
	out := runjson.Schedules{Schedules: []runjson.Schedule{}}
	if h.o.Schedules != nil {
		list, err := h.o.Schedules.Schedules(c.Request.Context())
		if err != nil {
			h.fail(c, err)
			return
		}
		out.Schedules = append(out.Schedules, list...)
	}
	h.json(c, http.StatusOK, out)
}

// POST /api/v1/schedules/{name}/pause|resume → 200, the schedule as listed.
func (h *handler) apiPause(c *gin.Context, paused bool) {
	if err := decodeBody(c, &struct{}{}); err != nil {
		h.fail(c, err)
		return
	}
	s, ok := h.schedules(c)
	if !ok {
		return
	}
	name := c.Param("name")
	if err := s.PauseSchedule(c.Request.Context(), name, paused); err != nil {
		h.fail(c, err)
		return
	}
	list, err := s.Schedules(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, j := range list {
		if j.Workflow == name {
			h.json(c, http.StatusOK, j)
			return
		}
	}
	h.fail(c, fmt.Errorf("no schedule of workflow %s: %w", core.Brief(name), cairn.ErrNotFound))
}

// POST /api/v1/workflows/{name}/backfill {"from": T, "to": T} → 201
// {"workflow", "slots", "created": [RUN...], "existing"}.
func (h *handler) apiBackfill(c *gin.Context) {
	var body struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	s, ok := h.schedules(c)
	if !ok {
		return
	}
	res, err := s.Backfill(c.Request.Context(), c.Param("name"), body.From, body.To)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusCreated, res)
}

// scheduleRow is one line of the schedules page.
type scheduleRow struct {
	S            runjson.Schedule
	Href         string // the workflow's page, when served
	Last, Next   string
	Start, End   string
	PauseAction  string // the form's action
	PauseLabel   string
	PauseConfirm string
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func (h *handler) pageSchedules(c *gin.Context) {
	body := struct {
		Rows       []scheduleRow
		Served     bool
		CanOperate bool
	}{Served: h.o.Schedules != nil, CanOperate: h.canOperate(c) && h.o.Schedules != nil}
	if h.o.Schedules != nil {
		list, err := h.o.Schedules.Schedules(c.Request.Context())
		if err != nil {
			h.fail(c, err)
			return
		}
		for _, j := range list {
			row := scheduleRow{S: j, Last: optTime(j.LastSlot), Next: optTime(j.NextSlot), Start: optTime(j.Start), End: optTime(j.End)}
			if j.File != "" && j.Error == "" {
				row.Href = workflowHref(j.Workflow)
			}
			if j.Paused {
				row.PauseAction, row.PauseLabel = "/schedules/"+url.PathEscape(j.Workflow)+"/resume", "Resume"
				row.PauseConfirm = "Resume " + j.Workflow + "? Its slots fire from now on; those of the pause are not run (cairn backfill runs them)."
			} else {
				row.PauseAction, row.PauseLabel = "/schedules/"+url.PathEscape(j.Workflow)+"/pause", "Pause"
			}
			body.Rows = append(body.Rows, row)
		}
	}
	h.render(c, http.StatusOK, "schedules", "Schedules", body)
}

// POST /schedules/{name}/pause|resume: the schedules page's buttons.
func (h *handler) formPause(c *gin.Context, paused bool) {
	s, ok := h.schedules(c)
	if !ok {
		return
	}
	name := c.Param("name")
	if err := s.PauseSchedule(c.Request.Context(), name, paused); err != nil {
		status, _ := Status(err)
		msg := err.Error()
		if status == http.StatusInternalServerError {
			h.o.Logger.Error("ui: schedule action", "path", c.Request.URL.Path, "workflow", name, "err", err)
			msg = "internal error: the server's log has the cause"
		}
		h.setFlash(c, flashError, msg)
	} else if paused {
		h.setFlash(c, flashOK, fmt.Sprintf("Schedule of %s paused: it fires nothing until resumed.", name))
	} else {
		h.setFlash(c, flashOK, fmt.Sprintf("Schedule of %s resumed: its next slot fires.", name))
	}
	c.Redirect(http.StatusSeeOther, "/schedules")
}
