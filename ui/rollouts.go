package ui

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// GET /api/v1/models/{name}/rollout → the model's rollout.
func (h *handler) apiRollout(c *gin.Context) {
	if h.o.Rollouts == nil {
		h.fail(c, fmt.Errorf("this server keeps no rollouts: %w", core.ErrNotImplemented))
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	r, err := core.RolloutDetail(c.Request.Context(), h.o.Rollouts, name, time.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, r)
}

// POST /api/v1/models/{name}/rollout/{action} → the rollout as it now is
// (set-share's body is {"share": N}; the others' empty or {}).
func (h *handler) apiChangeRollout(c *gin.Context) {
	rc, ok := h.o.Rollouts.(core.RolloutChanger)
	if !ok {
		h.fail(c, fmt.Errorf("this server keeps no rollouts: %w", core.ErrNotImplemented))
		return
	}
	var body struct {
		Share *int `json:"share"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	action := c.Param("action")
	share := 0
	if action == core.RolloutSetShare {
		if body.Share == nil {
			h.fail(c, core.BadInput(`share is required: the body is {"share": N}, N the candidate's percent of the requests from 0 to 100`))
			return
		}
		share = *body.Share
	} else if body.Share != nil {
		h.fail(c, core.BadInput("share is set-share's: %s takes no body", core.Brief(action)))
		return
	}
	who, _ := core.CallerFrom(c.Request.Context())
	r, err := core.ChangeRollout(c.Request.Context(), rc, name, action, share, actorOf(who), h.o.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.servingChanged(c.Request.Context(), name)
	h.json(c, http.StatusOK, r)
}
