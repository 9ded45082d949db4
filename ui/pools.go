package ui

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

func (h *handler) mountPools(e *gin.Engine) {
	h.route(e.Group(core.APIPrefix), http.MethodGet, "/pools", core.Read, h.apiPools)
	h.route(&e.RouterGroup, http.MethodGet, "/pools", core.Read, h.pagePools)
}

// pools reads the pools (Options.Pools), or says the server serves none.
func (h *handler) pools(c *gin.Context) ([]cairn.PoolState, error) {
	if h.o.Pools == nil {
		return nil, fmt.Errorf("this server does not list pools: %w", core.ErrNotImplemented)
	}
	ps, err := h.o.Pools.Pools(c.Request.Context())
	if err != nil {
		return nil, fmt.Errorf("list the pools: %w", err)
	}
	return ps, nil
}

// GET /api/v1/pools → {"pools": [...]}, the shape of cairn pools --json.
func (h *handler) apiPools(c *gin.Context) {
	ps, err := h.pools(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, runjson.FromPools(ps))
}

// poolTask is a task holding or waiting for a pool, as the pools page
// links it.
type poolTask struct {
	RunID, TaskID, Href string
	Slots, Priority     int
	Cancelling          bool // a holder cancelled while it ran, its process not yet gone
}

// poolRow is a pool as the pools page shows it.
type poolRow struct {
	P       runjson.Pool
	Holders []poolTask
	Queue   []poolTask
	More    int // waiting beyond those listed
}

func (h *handler) pagePools(c *gin.Context) {
	ps, err := h.pools(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	rows := make([]poolRow, 0, len(ps))
	for _, p := range ps {
		row := poolRow{P: runjson.FromPool(p), More: p.Waiting - len(p.Queue)}
		for _, t := range p.Holders {
			row.Holders = append(row.Holders, poolTask{RunID: t.RunID, TaskID: t.TaskID, Href: taskHref(t.RunID, t.TaskID), Slots: t.Slots,
				Cancelling: t.Cancelling})
		}
		for _, t := range p.Queue {
			row.Queue = append(row.Queue, poolTask{RunID: t.RunID, TaskID: t.TaskID, Href: taskHref(t.RunID, t.TaskID), Slots: t.Slots, Priority: t.Priority})
		}
		rows = append(rows, row)
	}
	h.render(c, http.StatusOK, "pools", "Pools", struct{ Rows []poolRow }{rows})
}
