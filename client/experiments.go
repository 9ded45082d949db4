package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/ui/runjson"
)

// Compare compares runs (two or more: run ids or unique prefixes) as
// cairn compare does: GET /api/v1/compare?run=A,B.
func (c *Client) Compare(ctx context.Context, runs []string) (*experiments.Comparison, error) {
	v := url.Values{"run": {strings.Join(runs, ",")}}
	var out experiments.Comparison
	k := call{method: http.MethodGet, path: "/compare", query: v, need: needRead, what: "compare runs " + strings.Join(runs, " ")}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// AlertsQuery filters and pages GET /api/v1/alerts. Zero values are left
// out.
type AlertsQuery struct {
	Run    string // a run id or a unique prefix
	State  string // pending, sent, failed
	Limit  int
	Before int64 // the Next of a previous page
}

// Alerts lists the outbox of notify:, newest first, one page.
func (c *Client) Alerts(ctx context.Context, q AlertsQuery) (*runjson.AlertPage, error) {
	v := url.Values{}
	if q.Run != "" {
		v.Set("run", q.Run)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	var out runjson.AlertPage
	if err := c.callJSON(ctx, call{method: http.MethodGet, path: "/alerts", query: v, need: needRead, what: "list alerts"}, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
