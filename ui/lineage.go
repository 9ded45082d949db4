package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/draw"
)

// Lineage (issue #19): the artifact page and API, the lineage page (an
// SVG graph) and API.

// ArtifactReader opens an artifact's bytes, verified against the digest
// as they are read (as artifacts.Dir.Open): an error wrapping
// cairn.ErrNotFound when they are not stored.
type ArtifactReader interface {
	Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error)
}

func (h *handler) mountLineage(e *gin.Engine) {
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/lineage", core.Read, h.apiLineage)
	h.route(api, http.MethodGet, "/artifacts/:digest", core.Read, h.apiArtifact)
	h.route(api, http.MethodGet, "/artifacts/:digest/content", core.Read, h.apiArtifactContent)
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/artifacts/:digest", core.Read, h.pageArtifact)
	h.route(g, http.MethodGet, "/lineage", core.Read, h.pageLineage)
}

func (h *handler) lineageStore() (core.LineageReader, error) {
	if h.o.Lineage == nil {
		return nil, fmt.Errorf("this server does not serve lineage: %w", core.ErrNotImplemented)
	}
	return h.o.Lineage, nil
}

// lineageErr turns a reference's syntax error into a 400.
func lineageErr(err error) error {
	if errors.Is(err, lineage.ErrBadRef) {
		return core.BadInput("%s", strings.TrimPrefix(err.Error(), lineage.ErrBadRef.Error()+": "))
	}
	return err
}

// lineageQuery reads ref, direction and depth of a lineage request.
func lineageQuery(c *gin.Context) (lineage.Query, error) {
	q := lineage.Query{Ref: c.Query("ref"), Direction: lineage.Upstream}
	if q.Ref == "" {
		return q, core.BadInput("ref is required: an artifact digest (or a prefix of 8 hex digits or more), model:NAME[@VERSION] or RUN/TASK[#N]")
	}
	switch d := c.Query("direction"); d {
	case "", "up", lineage.Upstream:
	case "down", lineage.Downstream:
		q.Direction = lineage.Downstream
	default:
		return q, core.BadInput("direction %s: want up or down", core.Brief(d))
	}
	if s := c.Query("depth"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > lineage.MaxDepth {
			return q, core.BadInput("depth %s: want a whole number from 0 (no bound) to %d", core.Brief(s), lineage.MaxDepth)
		}
		q.Depth = n
	}
	return q, nil
}

// LineageFormatJSON and LineageFormatOpenLineage are the formats of GET
// /api/v1/lineage.
const (
	LineageFormatJSON        = "json"
	LineageFormatOpenLineage = "openlineage"
)

// GET /api/v1/lineage?ref=REF&direction=up|down&depth=N&format=json|openlineage:
// the lineage graph (lineage.Graph) or its OpenLineage run events, as
// JSON Lines (application/x-ndjson), in the server's namespace.
func (h *handler) apiLineage(c *gin.Context) {
	st, err := h.lineageStore()
	if err != nil {
		h.fail(c, err)
		return
	}
	q, err := lineageQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	format := c.DefaultQuery("format", LineageFormatJSON)
	if format != LineageFormatJSON && format != LineageFormatOpenLineage {
		h.fail(c, core.BadInput("format %s: want json or openlineage", core.Brief(format)))
		return
	}
	g, err := lineage.Read(c.Request.Context(), st, q)
	if err != nil {
		h.fail(c, lineageErr(err))
		return
	}
	if format == LineageFormatJSON {
		h.json(c, http.StatusOK, g)
		return
	}
	var b bytes.Buffer
	if err := lineage.WriteOpenLineage(&b, g, lineage.OLOptions{Namespace: h.lineageNamespace(), Fields: h.csvFields(c.Request.Context())}); err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/x-ndjson", b.Bytes())
}

func (h *handler) lineageNamespace() string {
	if h.o.LineageNamespace != "" {
		return h.o.LineageNamespace
	}
	return "cairn"
}

// csvFields reads the header of a CSV artifact for OpenLineage's schema
// facet (nil when it cannot).
func (h *handler) csvFields(ctx context.Context) func(a *lineage.Artifact) []string {
	if h.o.Artifacts == nil {
		return nil
	}
	return func(a *lineage.Artifact) []string {
		if !lineage.IsCSV(a.MediaType) {
			return nil
		}
		rc, err := h.o.Artifacts.Open(ctx, a.Ref())
		if err != nil {
			return nil
		}
		defer rc.Close()
		cols, _ := lineage.CSVHeader(rc)
		return cols
	}
}

// artifactJSON is GET /api/v1/artifacts/{digest}.
type artifactJSON struct {
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	MediaType string    `json:"media_type"`
	CreatedAt time.Time `json:"created_at"`
	// Producer is the first attempt that wrote it; Producers every one
	// (up to maxEdges), Consumers those that read it, each with its port.
	Producer      string             `json:"producer,omitempty"`
	Producers     []edgeJSON         `json:"producers"`
	Consumers     []edgeJSON         `json:"consumers"`
	ConsumerCount int                `json:"consumer_count"`
	Models        []lineage.ModelRef `json:"models"`
	Content       string             `json:"content"` // the URL of its bytes
}

type edgeJSON struct {
	Attempt string `json:"attempt"` // RUN/TASK#N
	Port    string `json:"port"`
}

// maxEdges bounds the producers and consumers an artifact's answer lists.
const maxEdges = 200

// artifact resolves the digest parameter (a digest, or a unique prefix of
// 8 hex digits or more) and reads what is known of it.
func (h *handler) artifact(c *gin.Context) (*artifactJSON, error) {
	st, err := h.lineageStore()
	if err != nil {
		return nil, err
	}
	ctx := c.Request.Context()
	arg := c.Param("digest")
	if strings.HasPrefix(arg, "model:") || strings.Contains(arg, "/") {
		return nil, core.BadInput("%s is not an artifact digest", core.Brief(arg))
	}
	r, err := lineage.Resolve(ctx, st, arg)
	if err != nil {
		return nil, lineageErr(err)
	}
	a := r.Artifact
	out := &artifactJSON{Digest: a.Digest, Size: a.Size, MediaType: a.MediaType, CreatedAt: a.CreatedAt,
		Producers: []edgeJSON{}, Consumers: []edgeJSON{}, Models: []lineage.ModelRef{},
		Content: core.APIPrefix + "/artifacts/" + a.Digest + "/content"}
	if !a.Producer.IsZero() {
		out.Producer = a.Producer.String()
	}
	for _, dir := range []string{cairn.LineageOut, cairn.LineageIn} {
		es, err := st.ArtifactEdges(ctx, a.Digest, dir)
		if err != nil {
			return nil, err
		}
		list := &out.Producers
		if dir == cairn.LineageIn {
			list, out.ConsumerCount = &out.Consumers, len(es)
		}
		for i, e := range es {
			if i == maxEdges {
				break
			}
			*list = append(*list, edgeJSON{Attempt: e.Attempt.String(), Port: e.Port})
		}
	}
	ms, err := st.ModelsOf(ctx, a.Digest)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out.Models = append(out.Models, lineage.ModelRef{Ref: m.Ref(), Name: m.Name, Version: m.Version, Stage: string(m.Stage)})
	}
	return out, nil
}

// GET /api/v1/artifacts/{digest}: what is known of an artifact.
func (h *handler) apiArtifact(c *gin.Context) {
	a, err := h.artifact(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, a)
}

// safeMediaTypes are served as they are; any other type is served as
// application/octet-stream, so that bytes a task chose the type of (HTML,
// JavaScript) never run as this origin's.
var safeMediaTypes = map[string]string{
	"text/csv":             "csv",
	"text/plain":           "txt",
	"application/json":     "json",
	"application/x-ndjson": "jsonl",
	"application/jsonl":    "jsonl",
	"image/png":            "png",
	"image/svg+xml":        "svg",
}

// servedType is the Content-Type an artifact of media type mt is served
// with, and the extension of its file name.
func servedType(mt string) (string, string) {
	base, params, err := mime.ParseMediaType(mt)
	if err != nil {
		return "application/octet-stream", "bin"
	}
	if ext, ok := safeMediaTypes[base]; ok {
		if cs := params["charset"]; cs != "" && strings.HasPrefix(base, "text/") {
			return mime.FormatMediaType(base, map[string]string{"charset": cs}), ext
		}
		return base, ext
	}
	// Cairn's own JSON types (a model, a report).
	if strings.HasPrefix(base, "application/vnd.cairn.") && strings.HasSuffix(base, "+json") {
		return base, "json"
	}
	return "application/octet-stream", "bin"
}

// GET /api/v1/artifacts/{digest}/content: the bytes, streamed and checked
// against the digest as they go (a corrupt file ends the answer early,
// and its error is logged), as a download.
func (h *handler) apiArtifactContent(c *gin.Context) {
	a, err := h.artifact(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if h.o.Artifacts == nil {
		h.fail(c, fmt.Errorf("this server does not serve artifacts' bytes: %w", core.ErrNotImplemented))
		return
	}
	ref := cairn.ArtifactRef{Digest: a.Digest, Size: a.Size, MediaType: a.MediaType}
	rc, err := h.o.Artifacts.Open(c.Request.Context(), ref)
	if err != nil {
		h.fail(c, fmt.Errorf("open artifact %s: %w", a.Digest, err))
		return
	}
	defer rc.Close()
	ct, ext := servedType(a.MediaType)
	hd := c.Writer.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ref.Hex()[:12] + "." + ext}))
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "private, max-age=31536000, immutable") // content-addressed
	hd.Set("ETag", `"`+a.Digest+`"`)
	c.Status(http.StatusOK)
	if err := copyVerified(c.Writer, rc); err != nil {
		if !c.Writer.Written() {
			// Nothing went out yet (a small artifact): a plain error.
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Disposition", "ETag", "Cache-Control"} {
				hd.Del(k)
			}
			h.fail(c, fmt.Errorf("artifact %s: %w", a.Digest, err))
			return
		}
		// The status is sent: the connection is cut, so that the client
		// sees a body shorter than its Content-Length, never the last
		// bytes of one that does not match its digest.
		h.o.Logger.Error("ui: artifact content", logAttrs(c, "digest", a.Digest, "err", err)...)
		panic(http.ErrAbortHandler)
	}
}

// copyVerified copies r, a reader that checks what it reads at its end,
// to w, holding each chunk back until the next read succeeds: the last
// bytes go out only once r has said they match.
func copyVerified(w io.Writer, r io.Reader) error {
	cur, next := make([]byte, 64<<10), make([]byte, 64<<10)
	var held []byte
	for {
		n, err := r.Read(cur)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n > 0 {
			if len(held) > 0 {
				if _, werr := w.Write(held); werr != nil {
					return werr
				}
			}
			held = cur[:n]
			cur, next = next, cur
		}
		if errors.Is(err, io.EOF) {
			_, werr := w.Write(held)
			return werr
		}
	}
}

// The artifact page.

type artifactPage struct {
	A           *artifactJSON
	Size        string
	ShortDigest string
	Producer    string // the first producer's task page
	Producers   []edgeLink
	Consumers   []edgeLink
	MoreReaders int
	Models      []lineage.ModelRef
	Download    string
	UpHref      string // the lineage page, upstream and downstream
	DownHref    string
	Preview     *csvPreview
	PreviewNote string
}

type edgeLink struct {
	Attempt, Port, Href string
}

// attemptHref is an attempt's task page at that attempt.
func attemptHref(ref string) string {
	run, rest, _ := strings.Cut(ref, "/")
	task, n, _ := strings.Cut(rest, "#")
	return taskHref(run, task) + "?attempt=" + url.QueryEscape(n)
}

func lineageHref(ref, direction string) string {
	q := url.Values{"ref": {ref}}
	if direction == lineage.Downstream {
		q.Set("direction", "down")
	}
	return "/lineage?" + q.Encode()
}

func (h *handler) pageArtifact(c *gin.Context) {
	a, err := h.artifact(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	p := &artifactPage{A: a, Size: lineage.FormatSize(a.Size), ShortDigest: lineage.Short(a.Digest), Models: a.Models,
		UpHref: lineageHref(a.Digest, lineage.Upstream), DownHref: lineageHref(a.Digest, lineage.Downstream),
		MoreReaders: a.ConsumerCount - len(a.Consumers)}
	if a.Producer != "" {
		p.Producer = attemptHref(a.Producer)
	}
	for _, e := range a.Producers {
		p.Producers = append(p.Producers, edgeLink{e.Attempt, e.Port, attemptHref(e.Attempt)})
	}
	for _, e := range a.Consumers {
		p.Consumers = append(p.Consumers, edgeLink{e.Attempt, e.Port, attemptHref(e.Attempt)})
	}
	if h.o.Artifacts != nil {
		p.Download = a.Content
		if lineage.IsCSV(a.MediaType) {
			p.Preview, err = h.previewCSV(c.Request.Context(), cairn.ArtifactRef{Digest: a.Digest, Size: a.Size, MediaType: a.MediaType})
			if err != nil {
				p.PreviewNote = "The data set cannot be shown: " + err.Error()
			}
		}
	}
	h.render(c, http.StatusOK, "artifact", "Artifact "+p.ShortDigest, p)
}

// A data set's preview: its first rows, read from at most previewBytes.
const (
	previewRows  = 20
	previewBytes = 256 << 10
	previewCols  = 50
	previewCell  = 200 // runes of a cell
)

type csvPreview struct {
	Header []string
	Rows   [][]string
	More   bool // the data set has more rows than shown
	Cut    int  // columns left out
}

// previewCSV reads the header and first rows of a CSV artifact, from a
// bounded prefix of its bytes: a row past the bound, or one that does not
// parse, ends the preview.
func (h *handler) previewCSV(ctx context.Context, ref cairn.ArtifactRef) (*csvPreview, error) {
	rc, err := h.o.Artifacts.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf, err := io.ReadAll(io.LimitReader(rc, previewBytes))
	if err != nil {
		return nil, err // a small file that does not match its digest says so here
	}
	whole := int64(len(buf)) == ref.Size
	if !whole {
		// Keep whole lines only.
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			buf = buf[:i+1]
		}
	}
	r := csv.NewReader(bytes.NewReader(buf))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	p := &csvPreview{}
	cell := func(s string) string {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "�")
		}
		if utf8.RuneCountInString(s) > previewCell {
			s = string([]rune(s)[:previewCell-1]) + "…"
		}
		return s
	}
	row := func(rec []string) []string {
		if len(rec) > previewCols {
			p.Cut = max(p.Cut, len(rec)-previewCols)
			rec = rec[:previewCols]
		}
		out := make([]string, len(rec))
		for i, s := range rec {
			out[i] = cell(s)
		}
		return out
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			p.More = !whole
			break
		}
		if err != nil {
			if p.Header == nil {
				return nil, fmt.Errorf("its first line does not parse as CSV: %w", err)
			}
			p.More = true
			break
		}
		if p.Header == nil {
			p.Header = row(rec)
			continue
		}
		if len(p.Rows) == previewRows {
			p.More = true
			break
		}
		p.Rows = append(p.Rows, row(rec))
	}
	return p, nil
}

// The lineage page.

type lineagePage struct {
	Q         lineage.Query
	Root      string
	RootHref  string
	Other     string // the other direction's page
	Down      bool
	SVG       template.HTML
	Attempts  int
	Artifacts int
	Truncated bool
	JSONHref  string
	OLHref    string
	TooLarge  int    // nodes, when too many to draw
	Deeper    string // the same graph to depth 3
}

// maxDrawn bounds the nodes the lineage page draws.
const maxDrawn = 400

func (h *handler) pageLineage(c *gin.Context) {
	st, err := h.lineageStore()
	if err != nil {
		h.fail(c, err)
		return
	}
	q, err := lineageQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	g, err := lineage.Read(c.Request.Context(), st, q)
	if err != nil {
		h.fail(c, lineageErr(err))
		return
	}
	p := &lineagePage{Q: q, Root: g.Root.String(), Down: q.Direction == lineage.Downstream, Attempts: len(g.Attempts),
		Artifacts: len(g.Artifacts), Truncated: g.Truncated}
	if g.Root.Attempt != "" {
		p.RootHref = attemptHref(g.Root.Attempt)
	} else {
		p.RootHref = "/artifacts/" + g.Root.Artifact
	}
	other := lineage.Downstream
	if p.Down {
		other = lineage.Upstream
	}
	p.Other = lineageHref(q.Ref, other)
	api := url.Values{"ref": {q.Ref}}
	if p.Down {
		api.Set("direction", "down")
	}
	if q.Depth > 0 {
		api.Set("depth", strconv.Itoa(q.Depth))
	}
	p.JSONHref = core.APIPrefix + "/lineage?" + api.Encode()
	api.Set("format", LineageFormatOpenLineage)
	p.OLHref = core.APIPrefix + "/lineage?" + api.Encode()
	if n := len(g.Attempts) + len(g.Artifacts); n > maxDrawn {
		p.TooLarge = n
		deeper := url.Values{"ref": {q.Ref}, "depth": {"3"}}
		if p.Down {
			deeper.Set("direction", "down")
		}
		p.Deeper = "/lineage?" + deeper.Encode()
		h.render(c, http.StatusOK, "lineage", "Lineage of "+p.Root, p)
		return
	}
	var b bytes.Buffer
	err = draw.Lineage(&b, g, draw.LineageOptions{
		AttemptHref:  func(a *lineage.Attempt) string { return attemptHref(a.ID) },
		ArtifactHref: func(a *lineage.Artifact) string { return "/artifacts/" + a.Digest },
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	p.SVG = template.HTML(b.String())
	title := "Lineage of " + p.Root
	if p.Down {
		title = "Made from " + p.Root
	}
	h.render(c, http.StatusOK, "lineage", title, p)
}
