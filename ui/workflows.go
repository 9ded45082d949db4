package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/draw"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// problemJSON is a problem of a workflow file in the API.
type problemJSON struct {
	File    string  `json:"file"`
	Line    int     `json:"line"`
	Col     int     `json:"col"`
	Message string  `json:"message"`
	Hint    *string `json:"hint"`
}

func problemsJSON(ps []catalog.Problem) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		j := problemJSON{File: p.File, Line: p.Line, Col: p.Col, Message: p.Message}
		if p.Hint != "" {
			hint := p.Hint
			j.Hint = &hint
		}
		out = append(out, j)
	}
	return out
}

// paramJSON is a declared param in the API.
type paramJSON struct {
	Name        string          `json:"name"`
	Type        cairn.ParamKind `json:"type"`
	Default     any             `json:"default"`
	Required    bool            `json:"required"`
	Secret      bool            `json:"secret"`
	Description *string         `json:"description"`
}

// taskDeclJSON is a task of a workflow in the API.
type taskDeclJSON struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	Needs       []string `json:"needs"`
	Description *string  `json:"description"`
}

// workflowJSON is one file of the workflows folder in the API: its
// workflow, or (error, problems) why it is not served.
type workflowJSON struct {
	Name        *string        `json:"name"`
	Description *string        `json:"description"`
	File        string         `json:"file"`
	Digest      *string        `json:"digest"`
	Params      []paramJSON    `json:"params"`
	Tasks       []taskDeclJSON `json:"tasks"`
	Error       *string        `json:"error"`
	Problems    []problemJSON  `json:"problems"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func workflowOf(file string, wf *workflows.Workflow) workflowJSON {
	j := workflowJSON{File: file, Params: []paramJSON{}, Tasks: []taskDeclJSON{}, Problems: []problemJSON{}}
	if wf == nil {
		return j
	}
	j.Name, j.Description, j.Digest = optional(wf.Name), optional(wf.Description), optional(wf.Digest)
	for _, p := range wf.Params {
		j.Params = append(j.Params, paramJSON{Name: p.Name, Type: p.Type, Default: p.Default, Required: p.Required,
			Secret: p.Secret, Description: optional(p.Description)})
	}
	for _, t := range wf.Tasks {
		needs := append([]string{}, t.Upstream...)
		j.Tasks = append(j.Tasks, taskDeclJSON{ID: t.ID, Type: t.Type, Needs: needs, Description: optional(t.Description)})
	}
	return j
}

func entryJSON(e catalog.Entry) workflowJSON {
	j := workflowOf(e.File, e.Workflow)
	if j.Name == nil {
		j.Name = optional(e.Name)
	}
	if len(e.Problems) > 0 {
		j.Problems = problemsJSON(e.Problems)
		msgs := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			msgs[i] = p.String()
		}
		msg := strings.Join(msgs, "\n")
		j.Error = &msg
	}
	return j
}

// entries is the catalog's files, none without one.
func (h *handler) entries() []catalog.Entry {
	if h.o.Workflows == nil {
		return nil
	}
	return h.o.Workflows.Entries()
}

// lookup returns workflow name's entry, or an error wrapping
// cairn.ErrNotFound.
func (h *handler) lookup(name string) (catalog.Entry, error) {
	if h.o.Workflows != nil {
		if e, ok := h.o.Workflows.Lookup(name); ok {
			return e, nil
		}
	}
	if h.o.Workflows == nil {
		return catalog.Entry{}, fmt.Errorf("no workflow %s: this server offers no workflows (start it with --workflows DIR): %w", core.Brief(name), cairn.ErrNotFound)
	}
	return catalog.Entry{}, fmt.Errorf("no workflow %s in the server's workflows folder: %w", core.Brief(name), cairn.ErrNotFound)
}

// GET /api/v1/workflows → {"workflows": [...]}: every file of the
// workflows folder, by file name; those that are not served say why.
func (h *handler) apiWorkflows(c *gin.Context) {
	out := struct {
		Workflows []workflowJSON `json:"workflows"`
	}{Workflows: []workflowJSON{}}
	for _, e := range h.entries() {
		out.Workflows = append(out.Workflows, entryJSON(e))
	}
	h.json(c, http.StatusOK, out)
}

// GET /api/v1/workflows/{name}: one workflow, or why its file is not served.
func (h *handler) apiWorkflow(c *gin.Context) {
	e, err := h.lookup(c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, entryJSON(e))
}

// maxFileName bounds the name a client gives a workflow file.
const maxFileName = 255

// fileName checks the name a client gives a file it sends: a file name,
// no folder.
func fileName(s string) (string, error) {
	switch {
	case s == "":
		return "workflow.yaml", nil
	case len(s) > maxFileName || strings.ContainsAny(s, "/\\\x00") || s == "." || s == "..":
		return "", core.BadInput("file %s: give the workflow file's name, without a folder", core.Brief(s))
	}
	return s, nil
}

// check parses a workflow file a client sent.
func (h *handler) check(file string, src []byte) (*workflows.Workflow, []catalog.Problem) {
	if h.o.Workflows != nil {
		return h.o.Workflows.Check(file, src)
	}
	wf, err := workflows.Parse(file, src, workflows.Options{NoUses: true, NoUsesWhy: catalog.NoUsesHint})
	if err != nil {
		return nil, catalog.Problems(file, err)
	}
	return wf, nil
}

// parseWait is how long a client's workflow file waits for its turn to
// be parsed before the request gets a 503 (busy).
var parseWait = 10 * time.Second

// errParseBusy answers a validate request that waited parseWait.
type errParseBusy struct{}

func (errParseBusy) Error() string {
	return fmt.Sprintf("the server is parsing other workflow files: try again (waited %s for a turn)", parseWait)
}

func (errParseBusy) APIStatus() (int, string) { return http.StatusServiceUnavailable, "busy" }

// parseTurn waits for a place to parse a client's workflow file: as many
// are parsed at once as there are processors (at least 2). A file at the
// request limit (1 MiB) can take tens of MB while it is parsed, so any
// reader sending many at once would otherwise have the server hold them
// all. It returns the place's release, or an error when ctx ended or the
// wait passed parseWait.
func (h *handler) parseTurn(ctx context.Context) (func(), error) {
	t := time.NewTimer(parseWait)
	defer t.Stop()
	select {
	case h.parsing <- struct{}{}:
		return func() { <-h.parsing }, nil
	case <-t.C:
		return nil, errParseBusy{}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// POST /api/v1/workflows/validate?file=NAME, the file's YAML as the body →
// 200 {"valid": bool, "problems": [...], "workflow": {...}|null}.
func (h *handler) apiValidate(c *gin.Context) {
	file, err := fileName(c.Query("file"))
	if err != nil {
		h.fail(c, err)
		return
	}
	release, err := h.parseTurn(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	defer release()
	src, err := io.ReadAll(c.Request.Body)
	if err != nil {
		h.fail(c, bodyError(err))
		return
	}
	wf, problems := h.check(file, src)
	out := struct {
		Valid    bool          `json:"valid"`
		Problems []problemJSON `json:"problems"`
		Workflow *workflowJSON `json:"workflow"`
	}{Valid: len(problems) == 0, Problems: problemsJSON(problems)}
	if wf != nil {
		j := workflowOf(file, wf)
		out.Workflow = &j
	}
	h.json(c, http.StatusOK, out)
}

// paramValues reads the params of a request body: each a JSON value as
// -p would give it (a string as it is; a number, true or false, a list or
// a map as its JSON text, which the workflow's declared type then parses).
func paramValues(raw map[string]json.RawMessage) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	bad := &core.ParamsError{Params: map[string]string{}}
	for k, v := range raw {
		t := bytes.TrimSpace(v)
		switch {
		case len(t) == 0 || string(t) == "null":
			bad.Params[k] = "null is no value: leave the param out for its default"
		case t[0] == '"':
			var s string
			if err := json.Unmarshal(t, &s); err != nil {
				bad.Params[k] = fmt.Sprintf("not a JSON string: %v", err)
				continue
			}
			out[k] = s
		case t[0] == '[' || t[0] == '{':
			var b bytes.Buffer
			if err := json.Compact(&b, t); err != nil {
				bad.Params[k] = fmt.Sprintf("not JSON: %v", err)
				continue
			}
			out[k] = b.String()
		default: // a number, true or false: its text
			out[k] = string(t)
		}
	}
	if len(bad.Params) > 0 {
		return nil, bad
	}
	return out, nil
}

// POST /api/v1/runs {"file": "name.yaml", "source": "<yaml>", "params": {...}}
// → 201 {"id": RUN}: a run of a workflow file the client has.
func (h *handler) apiSubmit(c *gin.Context) {
	var body struct {
		File    string                     `json:"file"`
		Source  string                     `json:"source"`
		Params  map[string]json.RawMessage `json:"params"`
		NoCache bool                       `json:"no_cache"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	file, err := fileName(body.File)
	if err != nil {
		h.fail(c, err)
		return
	}
	if strings.TrimSpace(body.Source) == "" {
		h.fail(c, core.BadInput(`the request has no "source": send the workflow file's text`))
		return
	}
	params, err := paramValues(body.Params)
	if err != nil {
		h.fail(c, err)
		return
	}
	a, ok := h.actions(c)
	if !ok {
		return
	}
	id, err := a.Submit(c.Request.Context(), file, []byte(body.Source), params, core.RunOptions{NoCache: body.NoCache})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Location", core.APIPrefix+"/runs/"+id)
	h.json(c, http.StatusCreated, map[string]string{"id": id})
}

// The pages.

// workflowRow is one line of the workflows page.
type workflowRow struct {
	Entry    catalog.Entry
	Href     string
	Params   []paramRow
	Runs     []runRow
	Problems []string
}

type paramRow struct {
	Decl    workflows.ParamDecl
	Default string // as text, "" when there is none
}

func paramRows(wf *workflows.Workflow) []paramRow {
	if wf == nil {
		return nil
	}
	out := make([]paramRow, 0, len(wf.Params))
	for _, p := range wf.Params {
		r := paramRow{Decl: p}
		if p.Default != nil {
			r.Default = paramText(p.Default)
		}
		out = append(out, r)
	}
	return out
}

// paramText is a param value as a person types it: a string as it is,
// anything else as JSON.
func paramText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmtJSON(v)
}

func workflowHref(name string) string { return "/workflows/" + url.PathEscape(name) }

func problemTexts(ps []catalog.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// recentRuns is how many runs the workflows page shows of each workflow.
const recentRuns = 5

func (h *handler) recent(c *gin.Context, name string, n int) ([]runRow, error) {
	if name == "" {
		return nil, nil
	}
	runs, err := h.o.Store.ListRuns(c.Request.Context(), scheduler.RunFilter{Workflow: name, Limit: n})
	if err != nil {
		return nil, fmt.Errorf("list the runs of workflow %s: %w", name, err)
	}
	now := h.o.Now()
	rows := make([]runRow, 0, len(runs))
	for _, r := range runs {
		orph := h.orphaned(r)
		rows = append(rows, runRow{Run: r, Orphaned: orph, Duration: runDuration(r, orph, now)})
	}
	return rows, nil
}

func (h *handler) pageWorkflows(c *gin.Context) {
	body := struct {
		Rows   []workflowRow
		Folder bool
	}{Folder: h.o.Workflows != nil}
	for _, e := range h.entries() {
		row := workflowRow{Entry: e, Params: paramRows(e.Workflow), Problems: problemTexts(e.Problems)}
		if e.Name != "" {
			row.Href = workflowHref(e.Name)
		}
		if e.OK() {
			runs, err := h.recent(c, e.Name, recentRuns)
			if err != nil {
				h.fail(c, err)
				return
			}
			row.Runs = runs
		}
		body.Rows = append(body.Rows, row)
	}
	h.render(c, http.StatusOK, "workflows", "Workflows", body)
}

// workflowPage is the workflow page: the workflow, its DAG, its recent
// runs and the Trigger form.
type workflowPage struct {
	Entry    catalog.Entry
	Problems []string
	Params   []paramRow
	Fields   []paramField // the Trigger form's, one per param that is not secret
	Secrets  []workflows.ParamDecl
	DAG      template.HTML
	Runs     []runRow
	RunsHref string
	CanRun   bool   // the Trigger form is shown
	FormErr  string // a problem of the trigger as a whole
}

// paramField is one input of the Trigger form.
type paramField struct {
	Decl  workflows.ParamDecl
	Name  string // the form field's name
	Input string // text, number, bool, json
	Step  string // of a number: 1 for an int, any for a float
	Value string // what the input holds: what was typed, else the default
	Error string // why the value was refused
}

// fieldName is the form field of param name.
func fieldName(name string) string { return "param." + name }

func triggerFields(wf *workflows.Workflow) []paramField {
	var out []paramField
	for _, p := range wf.Params {
		if p.Secret {
			continue
		}
		f := paramField{Decl: p, Name: fieldName(p.Name), Input: "text"}
		switch p.Type {
		case cairn.KindInt:
			f.Input, f.Step = "number", "1"
		case cairn.KindFloat:
			f.Input, f.Step = "number", "any"
		case cairn.KindBool:
			f.Input = "bool"
		case cairn.KindList, cairn.KindMap:
			f.Input = "json"
		}
		if p.Default != nil {
			f.Value = paramText(p.Default)
		} else if p.Type == cairn.KindBool && !p.Required {
			f.Value = "false" // its zero value, what leaving it out gives
		}
		out = append(out, f)
	}
	return out
}

// canOperate reports whether the request's caller may trigger, cancel,
// retry and resume here: the pages show those buttons only then.
func (h *handler) canOperate(c *gin.Context) bool {
	if h.o.Actions == nil {
		return false
	}
	caller, ok := core.CallerFrom(c.Request.Context())
	return ok && caller.Access >= core.Operate
}

func (h *handler) workflowPage(c *gin.Context, e catalog.Entry) (*workflowPage, error) {
	p := &workflowPage{Entry: e, Problems: problemTexts(e.Problems), Params: paramRows(e.Workflow),
		RunsHref: "/runs?workflow=" + url.QueryEscape(e.Name)}
	if e.OK() {
		p.CanRun = h.canOperate(c)
		p.Fields = triggerFields(e.Workflow)
		for _, d := range e.Workflow.Params {
			if d.Secret {
				p.Secrets = append(p.Secrets, d)
			}
		}
		var b bytes.Buffer
		if err := draw.DAG(&b, e.Workflow, pendingTasks(e.Workflow), draw.DAGOptions{}); err != nil {
			return nil, err
		}
		p.DAG = template.HTML(b.String())
	}
	runs, err := h.recent(c, e.Name, defaultPage)
	if err != nil {
		return nil, err
	}
	p.Runs = runs
	return p, nil
}

// pendingTasks are a workflow's tasks as a run starts them, to draw its DAG.
func pendingTasks(wf *workflows.Workflow) []*cairn.TaskRun {
	out := make([]*cairn.TaskRun, 0, len(wf.Tasks))
	for _, t := range wf.Tasks {
		out = append(out, &cairn.TaskRun{TaskID: t.ID, Type: t.Type, State: cairn.TaskPending})
	}
	return out
}

func (h *handler) pageWorkflow(c *gin.Context) {
	e, err := h.lookup(c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	p, err := h.workflowPage(c, e)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "workflow", "Workflow "+e.Name, p)
}

// POST /workflows/{name}/trigger, the Trigger form: a run of the workflow
// with the form's params, then to its page (303) saying so; a param the
// workflow refuses shows the form again with the problem beside it.
func (h *handler) formTrigger(c *gin.Context) {
	a, ok := h.actions(c)
	if !ok {
		return
	}
	e, err := h.lookup(c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if !e.OK() {
		h.fail(c, fmt.Errorf("workflow %s cannot run: its file %s has problems: %w", e.Name, e.File, cairn.ErrConflict))
		return
	}
	fields := triggerFields(e.Workflow)
	params := map[string]string{}
	for i := range fields {
		f := &fields[i]
		v, given := c.GetPostForm(f.Name)
		if !given {
			continue
		}
		f.Value = v
		switch {
		case f.Decl.Type == cairn.KindString && (v != "" || !f.Decl.Required || f.Decl.Default != nil):
			params[f.Decl.Name] = v
		case strings.TrimSpace(v) != "":
			params[f.Decl.Name] = v
		} // an empty input of another type: the param's default
	}
	id, err := a.Trigger(c.Request.Context(), e.Name, params, core.RunOptions{NoCache: c.PostForm("no_cache") != ""})
	if err == nil {
		h.setFlash(c, flashOK, fmt.Sprintf("Run %s of %s triggered.", id, e.Name))
		c.Redirect(http.StatusSeeOther, "/runs/"+url.PathEscape(id))
		return
	}
	p, perr := h.workflowPage(c, e)
	if perr != nil {
		h.fail(c, perr)
		return
	}
	p.Fields = fields
	var pe *core.ParamsError
	if errors.As(err, &pe) {
		for i := range p.Fields {
			p.Fields[i].Error = pe.Params[p.Fields[i].Decl.Name]
		}
		for name, msg := range pe.Params {
			if d, ok := e.Workflow.Param(name); !ok || d.Secret {
				p.FormErr = strings.TrimSpace(p.FormErr + " " + fmt.Sprintf("%s: %s", name, msg))
			}
		}
		if len(pe.Other) > 0 {
			p.FormErr = strings.TrimSpace(p.FormErr + " " + strings.Join(pe.Other, " "))
		}
	} else {
		p.FormErr = err.Error()
	}
	status, _ := Status(err)
	if status == http.StatusInternalServerError {
		h.o.Logger.Error("ui: trigger", "workflow", e.Name, "err", err)
		p.FormErr = "internal error: the server's log has the cause"
	}
	h.render(c, status, "workflow", "Workflow "+e.Name, p)
}
