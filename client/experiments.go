package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/cairnml/cairn/experiments"
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
