package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// Bounds of an audit page.
const (
	defaultAuditPage = 50
	maxAuditPage     = 1000
)

func (h *handler) mountAudit(e *gin.Engine) {
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/audit", core.Read, h.pageAudit)
	h.route(g, http.MethodGet, "/tokens", core.Admin, h.pageTokens)
	h.route(g, http.MethodPost, "/tokens/:id/revoke", core.Admin, h.postRevokeToken)
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/audit", core.Read, h.apiAudit)
	h.route(api, http.MethodGet, "/tokens", core.Admin, h.apiTokens)
	h.route(api, http.MethodPost, "/tokens/:id/revoke", core.Admin, h.apiRevokeToken)
}

// auditQuery reads ?run=&limit=&before= of the audit page and API; run
// is a run id or a unique prefix of one, as everywhere else.
func (h *handler) auditQuery(c *gin.Context) (scheduler.AuditFilter, error) {
	f := scheduler.AuditFilter{Limit: defaultAuditPage}
	if run := strings.TrimSpace(c.Query("run")); run != "" {
		if len(run) > 200 {
			return f, core.BadInput("run: too long for a run id")
		}
		id, err := h.resolve(c.Request.Context(), run)
		if errors.Is(err, cairn.ErrNotFound) {
			return f, core.BadInput("run %s names no run", core.Brief(run))
		}
		if err != nil {
			return f, err
		}
		f.RunID = id
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditPage {
			return f, core.BadInput("limit %s: want 1 to %d", core.Brief(s), maxAuditPage)
		}
		f.Limit = n
	}
	if s := c.Query("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return f, core.BadInput("before %s: want an entry id that a previous page gave as next", core.Brief(s))
		}
		f.Before = n
	}
	return f, nil
}

// listAudit returns a page of entries and the cursor of the next (0 on
// the last page).
func (h *handler) listAudit(ctx context.Context, f scheduler.AuditFilter) ([]scheduler.Audit, int64, error) {
	if h.o.Audit == nil {
		return nil, 0, fmt.Errorf("this server does not serve the audit log: %w", core.ErrNotImplemented)
	}
	page := f
	page.Limit = f.Limit + 1
	entries, err := h.o.Audit.ListAudit(ctx, page)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(entries) > f.Limit {
		entries = entries[:f.Limit]
		next = entries[len(entries)-1].ID
	}
	return entries, next, nil
}

func toAuditJSON(e scheduler.Audit) runjson.Audit {
	return runjson.Audit{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, RunID: e.RunID, TaskID: e.TaskID, Detail: e.Detail}
}

// GET /api/v1/audit?run=&limit=&before= → {"entries": [...], "next": id|null},
// newest first: the shape of cairn audit --json.
func (h *handler) apiAudit(c *gin.Context) {
	f, err := h.auditQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	entries, next, err := h.listAudit(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := runjson.AuditPage{Entries: make([]runjson.Audit, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, toAuditJSON(e))
	}
	if next != 0 {
		out.Next = &next
	}
	h.json(c, http.StatusOK, out)
}

// auditRow is one line of the audit page.
type auditRow struct {
	Entry    scheduler.Audit
	ActorTip string // the token's name and role, when known
	RunHref  string
	TaskHref string
	Detail   string
}

func (h *handler) pageAudit(c *gin.Context) {
	f, err := h.auditQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	entries, next, err := h.listAudit(ctx, f)
	if err != nil {
		h.fail(c, err)
		return
	}
	names := map[string]string{}
	if h.o.Tokens != nil {
		if toks, err := h.o.Tokens.ListTokens(ctx); err == nil {
			for _, t := range toks {
				names[t.ID] = fmt.Sprintf("%s token %s", t.Role, t.Name)
			}
		}
	}
	body := struct {
		Run         string
		Rows        []auditRow
		Next, First string
		Paged       bool
	}{Run: f.RunID, Paged: f.Before != 0}
	for _, e := range entries {
		r := auditRow{Entry: e, ActorTip: names[e.Actor]}
		if e.RunID != "" {
			r.RunHref = "/runs/" + url.PathEscape(e.RunID)
			if e.TaskID != "" {
				r.TaskHref = taskHref(e.RunID, e.TaskID)
			}
		}
		if len(e.Detail) > 0 {
			r.Detail = string(e.Detail)
		}
		body.Rows = append(body.Rows, r)
	}
	q := url.Values{}
	if f.RunID != "" {
		q.Set("run", f.RunID)
	}
	if f.Limit != defaultAuditPage {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	body.First = "/audit"
	if len(q) > 0 {
		body.First += "?" + q.Encode()
	}
	if next != 0 {
		q.Set("before", strconv.FormatInt(next, 10))
		body.Next = "/audit?" + q.Encode()
	}
	h.render(c, http.StatusOK, "audit", "Audit log", body)
}

// tokensOrFail is Options.Tokens, or the error of a server without them.
func (h *handler) tokensOrFail() (core.Tokens, error) {
	if h.o.Tokens == nil {
		return nil, fmt.Errorf("this server does not use tokens: %w", core.ErrNotImplemented)
	}
	return h.o.Tokens, nil
}

// GET /api/v1/tokens → {"tokens": [...]}: the shape of cairn tokens list --json.
func (h *handler) apiTokens(c *gin.Context) {
	tokens, err := h.tokensOrFail()
	if err != nil {
		h.fail(c, err)
		return
	}
	toks, err := tokens.ListTokens(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.o.Now()
	out := runjson.TokenList{Tokens: make([]runjson.Token, 0, len(toks))}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, runjson.FromToken(t, now))
	}
	h.json(c, http.StatusOK, out)
}

// revoke revokes token id for the caller (the audit log's actor).
func (h *handler) revoke(c *gin.Context) (auth.Token, error) {
	tokens, err := h.tokensOrFail()
	if err != nil {
		return auth.Token{}, err
	}
	who, _ := core.CallerFrom(c.Request.Context())
	return tokens.RevokeToken(c.Request.Context(), c.Param("id"), who.Actor)
}

// POST /api/v1/tokens/{id}/revoke → the token as revoked.
func (h *handler) apiRevokeToken(c *gin.Context) {
	t, err := h.revoke(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, runjson.FromToken(t, h.o.Now()))
}

type tokenRow struct {
	T      runjson.Token
	Self   bool // the caller's own token
	Active bool // may be revoked
}

func (h *handler) pageTokens(c *gin.Context) {
	tokens, err := h.tokensOrFail()
	if err != nil {
		h.fail(c, err)
		return
	}
	toks, err := tokens.ListTokens(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	who, _ := core.CallerFrom(c.Request.Context())
	now := h.o.Now()
	body := struct {
		Rows    []tokenRow
		Revoked string
	}{}
	revoked := c.Query("revoked")
	for _, t := range toks {
		j := runjson.FromToken(t, now)
		body.Rows = append(body.Rows, tokenRow{T: j, Self: t.ID == who.Actor, Active: j.State != "revoked"})
		if t.ID == revoked && j.State == "revoked" {
			// Said only of a token that is revoked: the query is a
			// link anyone can write.
			body.Revoked = t.ID
		}
	}
	h.render(c, http.StatusOK, "tokens", "Tokens", body)
}

// POST /tokens/{id}/revoke (the tokens page's button) → back to the page.
func (h *handler) postRevokeToken(c *gin.Context) {
	if _, err := h.revoke(c); err != nil && !errors.Is(err, cairn.ErrTerminal) {
		h.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/tokens?revoked="+url.QueryEscape(c.Param("id")))
}
