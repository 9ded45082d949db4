package ui

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// ServerInfo is what GET /api/v1/server answers: the server that answered
// and the leader among the servers on its database.
type ServerInfo struct {
	// Owner is the server's name in run claims, leases and the leader
	// lease (host:pid:nonce).
	Owner   string    `json:"owner"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Leading says this server leads: it fires cron schedules and reaps
	// expired leases.
	Leading bool `json:"leading"`
	// Leader is the leader lease's current term as the database holds
	// it, whoever holds it; nil before any server led.
	Leader *LeaderInfo `json:"leader"`
}

// LeaderInfo is a term of the leader lease.
type LeaderInfo struct {
	Holder string `json:"holder"` // "" once released
	// Epoch goes up by one at every new term: the fencing token.
	Epoch     int64     `json:"epoch"`
	ExpiresAt time.Time `json:"expires_at"`
	// Live: the term had not expired (nor been released) when read.
	Live bool `json:"live"`
}

func (h *handler) mountServer(e *gin.Engine) {
	if h.o.Server == nil {
		return
	}
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/server", core.Read, func(c *gin.Context) {
		info, err := h.o.Server(c.Request.Context())
		if err != nil {
			h.fail(c, err)
			return
		}
		h.json(c, http.StatusOK, info)
	})
}
