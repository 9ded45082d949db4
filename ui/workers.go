package ui

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// DefaultWorkersSince is how far back the workers list goes for workers
// that are no longer live (the live ones are always listed).
const DefaultWorkersSince = time.Hour

func (h *handler) mountWorkers(e *gin.Engine) {
	h.route(e.Group(core.APIPrefix), http.MethodGet, "/workers", core.Read, h.apiWorkers)
	h.route(&e.RouterGroup, http.MethodGet, "/workers", core.Read, h.pageWorkers)
}

// workers lists the workers live now or seen within ?since (a duration,
// DefaultWorkersSince when absent), with the server's own pool first.
func (h *handler) workers(c *gin.Context) ([]runjson.Worker, error) {
	since := DefaultWorkersSince
	if s := c.Query("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, core.BadInput("since %q: want a duration such as 1h or 24h", s)
		}
		since = d
	}
	now := h.o.Now()
	out := []runjson.Worker{}
	if h.o.Pool != nil {
		p := *h.o.Pool
		p.ExpiresAt = now.Add(time.Minute) // this process: live
		out = append(out, runjson.FromWorker(p, now))
	}
	if h.o.Workers == nil {
		return out, nil
	}
	ws, err := h.o.Workers.ListWorkers(c.Request.Context(), now, now.Add(-since))
	if err != nil {
		return nil, fmt.Errorf("list the workers: %w", err)
	}
	for _, w := range ws {
		out = append(out, runjson.FromWorker(w, now))
	}
	return out, nil
}

// GET /api/v1/workers[?since=1h] → {"workers": [...]}, the shape of
// cairn workers --json.
func (h *handler) apiWorkers(c *gin.Context) {
	ws, err := h.workers(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, runjson.WorkerList{Workers: ws})
}

// workerRow is a worker as the workers page shows it.
type workerRow struct {
	W       runjson.Worker
	Labels  string
	Queues  string
	State   string // its state, or "expired" for an active one past its expiry
	Seen    string // how long ago it last called
	Running int
}

func (h *handler) pageWorkers(c *gin.Context) {
	ws, err := h.workers(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.o.Now()
	rows := make([]workerRow, 0, len(ws))
	for _, w := range ws {
		cw := w.ToWorker()
		row := workerRow{W: w, Labels: cairn.FormatLabels(w.Labels), Queues: cairn.FormatQueues(cw.Queues), State: string(w.State),
			Running: w.Running}
		if !w.Live && (w.State == cairn.WorkerActive || w.State == cairn.WorkerDraining) {
			row.State = "expired"
		}
		if row.Labels == "" {
			row.Labels = "-"
		}
		if !w.SeenAt.IsZero() {
			row.Seen = fmtAgo(now.Sub(w.SeenAt))
		}
		rows = append(rows, row)
	}
	h.render(c, http.StatusOK, "workers", "Workers", struct {
		Rows   []workerRow
		Listed bool // the registered workers are read
	}{rows, h.o.Workers != nil})
}

// fmtAgo is a duration in the past, to the second: "3s ago".
func fmtAgo(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}
