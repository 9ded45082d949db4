package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cairnml/cairn/lineage"
)

func lineageCall(q lineage.Query, format string) call {
	v := url.Values{"ref": {q.Ref}}
	if q.Direction == lineage.Downstream {
		v.Set("direction", "down")
	}
	if q.Depth > 0 {
		v.Set("depth", strconv.Itoa(q.Depth))
	}
	if format != "" {
		v.Set("format", format)
	}
	return call{method: http.MethodGet, path: "/lineage", query: v, need: needRead, what: "read the lineage of " + q.Ref}
}

// Lineage reads the lineage graph q asks for (GET /api/v1/lineage).
func (c *Client) Lineage(ctx context.Context, q lineage.Query) (*lineage.Graph, error) {
	var g lineage.Graph
	if err := c.callJSON(ctx, lineageCall(q, ""), &g, http.StatusOK); err != nil {
		return nil, err
	}
	return &g, nil
}

// LineageEvents opens the OpenLineage run events of the graph q asks for,
// as JSON Lines, in the server's namespace. The caller closes it.
func (c *Client) LineageEvents(ctx context.Context, q lineage.Query) (io.ReadCloser, error) {
	resp, err := c.do(ctx, c.strm, lineageCall(q, "openlineage"), http.StatusOK)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CacheStory explains task taskID of run runID's cache (GET
// /api/v1/runs/{id}/tasks/{task}/cache): the attempt whose outputs its
// latest attempt reused or, when it ran, why — caching off and why, no
// earlier success, or what differs from the last success of the task in
// the workflow. The run is its full id. A server that does not explain
// the cache answers an *Error with status 501 (errors.Is
// ErrNotImplemented); an unknown run or task cairn.ErrNotFound.
func (c *Client) CacheStory(ctx context.Context, runID, taskID string) (*lineage.CacheStory, error) {
	var out lineage.CacheStory
	k := call{method: http.MethodGet, path: "/runs/" + url.PathEscape(runID) + "/tasks/" + url.PathEscape(taskID) + "/cache",
		need: needRead, what: "explain the cache of " + taskID}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	if out.Changes == nil {
		out.Changes = []string{}
	}
	return &out, nil
}
