// Package lineage answers lineage queries (cairn lineage, GET
// /api/v1/lineage, the artifact and lineage pages): it resolves what a
// user names — an artifact by digest or prefix, model:NAME@VERSION, or
// RUN/TASK[#N] — reads the part of the lineage graph upstream (what made
// it) or downstream (what was made from it) through a store, and writes
// it as a text tree, JSON (Graph, a stable shape), Graphviz DOT or
// OpenLineage run events. docs/lineage.md describes the model.
package lineage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// Store is what a query reads: *sqlite.Store answers it.
type Store interface {
	ArtifactsByPrefix(ctx context.Context, hexPrefix string, limit int) ([]*cairn.ArtifactRecord, error)
	Artifact(ctx context.Context, digest string) (*cairn.ArtifactRecord, error)
	ModelVersion(ctx context.Context, name string, version int) (*cairn.ModelVersion, error)
	ProductionModel(ctx context.Context, name string) (*cairn.ModelVersion, error)
	ResolveRunID(ctx context.Context, prefix string) (string, error)
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
	ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error)
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
	AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error)
	LineageClosure(ctx context.Context, roots []string, dir string, depth int) (*cairn.LineageGraph, error)
}

// ErrBadRef is the error of a reference that cannot name anything (its
// syntax), as opposed to one naming nothing (cairn.ErrNotFound) or too
// much (cairn.ErrAmbiguous).
var ErrBadRef = errors.New("bad lineage reference")

// MinPrefix is the fewest hex digits an artifact prefix may have.
const MinPrefix = 8

// maxRef bounds a reference's length (a model name is at most 128
// bytes, a run id 16, a task id 64).
const maxRef = 256

// maxCandidates bounds the artifacts an ambiguous prefix lists.
const maxCandidates = 10

// Directions of a query.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
)

// Schema names the shape of Graph's JSON; a change that removes or
// changes a field gets a new one.
const Schema = "cairn.lineage/v1"

// Graph is the answer to a query, and its JSON shape (--format json, the
// API): the attempts and artifacts reached from Root in Direction.
type Graph struct {
	Schema    string `json:"schema"`
	Direction string `json:"direction"`
	Root      Root   `json:"root"`
	// Depth is the bound asked (attempts away from the root), 0 for none;
	// Truncated says the bound cut the graph short.
	Depth     int         `json:"depth"`
	Truncated bool        `json:"truncated"`
	Attempts  []*Attempt  `json:"attempts"`
	Artifacts []*Artifact `json:"artifacts"`
}

// Root is what the query started from: an artifact (possibly named as a
// model version) or an attempt.
type Root struct {
	Artifact string    `json:"artifact,omitempty"` // a digest
	Model    *ModelRef `json:"model,omitempty"`    // when named as model:NAME[@VERSION]
	Attempt  string    `json:"attempt,omitempty"`  // RUN/TASK#N
}

// String is the root as a reference: model:NAME@VERSION, RUN/TASK#N or
// the digest.
func (r Root) String() string {
	switch {
	case r.Model != nil:
		return r.Model.Ref
	case r.Attempt != "":
		return r.Attempt
	}
	return r.Artifact
}

// Attempt is an attempt of the graph: how it ran and what it read and
// wrote, by port.
type Attempt struct {
	ID             string           `json:"id"` // RUN/TASK#N
	Run            string           `json:"run"`
	Task           string           `json:"task"`
	Number         int              `json:"attempt"`
	Workflow       string           `json:"workflow"`
	WorkflowDigest string           `json:"workflow_digest,omitempty"`
	RunCreatedAt   time.Time        `json:"run_created_at"`
	Type           string           `json:"type"`
	Version        string           `json:"version"`
	State          string           `json:"state"`
	Worker         string           `json:"worker,omitempty"`
	StartedAt      time.Time        `json:"started_at"`
	FinishedAt     time.Time        `json:"finished_at"`
	Error          string           `json:"error,omitempty"`
	Params         json.RawMessage  `json:"params,omitempty"`
	CachedFrom     string           `json:"cached_from,omitempty"` // the attempt whose outputs it reused
	Plugin         *cairn.PluginRef `json:"plugin,omitempty"`
	// Level is how many attempts from the root it is: 1 next to a root
	// artifact, 0 for a root attempt.
	Level   int               `json:"level"`
	Inputs  map[string]string `json:"inputs"`  // port → digest
	Outputs map[string]string `json:"outputs"` // port → digest
}

// Ref is the attempt's reference.
func (a *Attempt) Ref() cairn.AttemptRef {
	return cairn.AttemptRef{RunID: a.Run, TaskID: a.Task, Number: a.Number}
}

// Artifact is an artifact of the graph.
type Artifact struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	// Producer is the first attempt that wrote it ("" when none did: it
	// was only read); Writers are up to five attempts that wrote it,
	// Producer first, of WriterCount in all.
	Producer    string     `json:"producer,omitempty"`
	Writers     []string   `json:"writers,omitempty"`
	WriterCount int        `json:"writer_count"`
	Models      []ModelRef `json:"models,omitempty"` // the versions registered from it

	known bool // the store's record was read
}

// Ref is the artifact's reference.
func (a *Artifact) Ref() cairn.ArtifactRef {
	return cairn.ArtifactRef{Digest: a.Digest, Size: a.Size, MediaType: a.MediaType}
}

// ModelRef is a model version registered from an artifact.
type ModelRef struct {
	Ref     string `json:"ref"` // model:NAME@VERSION
	Name    string `json:"name"`
	Version int    `json:"version"`
	Stage   string `json:"stage"`
}

// Query is what to read.
type Query struct {
	Ref       string // a digest or prefix, model:NAME[@VERSION], RUN/TASK[#N]
	Direction string // Upstream (default) or Downstream
	Depth     int    // attempts away from the root; 0: no bound, at most MaxDepth
}

// MaxDepth is the largest bound a Query's Depth may ask (0 asks none).
const MaxDepth = 1_000_000

// Resolved is a reference resolved to a root: an artifact, or an attempt
// with its edges.
type Resolved struct {
	Root     Root
	Artifact *cairn.ArtifactRecord // for an artifact root
	Attempt  *cairn.Attempt        // for an attempt root
	Run      *cairn.LineageRun     // the root attempt's run
}

// Resolve resolves ref. Errors wrap ErrBadRef (no reference can be read
// from ref), cairn.ErrNotFound or cairn.ErrAmbiguous (a prefix that
// matches several artifacts: the error lists them).
func Resolve(ctx context.Context, s Store, ref string) (*Resolved, error) {
	ref = strings.TrimSpace(ref)
	if len(ref) > maxRef {
		return nil, fmt.Errorf("%w: a reference of %d bytes: a digest, model:NAME@VERSION or RUN/TASK#N is at most %d", ErrBadRef, len(ref), maxRef)
	}
	switch {
	case ref == "":
		return nil, fmt.Errorf("%w: empty: want a digest, model:NAME[@VERSION] or RUN/TASK[#N]", ErrBadRef)
	case strings.HasPrefix(ref, "model:"):
		name, version, err := cairn.ParseModelRef(ref)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRef, err)
		}
		var m *cairn.ModelVersion
		if version == 0 {
			m, err = s.ProductionModel(ctx, name)
		} else {
			m, err = s.ModelVersion(ctx, name, version)
		}
		switch {
		case errors.Is(err, cairn.ErrNotFound) && !modelNamed(ctx, s, name):
			return nil, fmt.Errorf("no model is named %q (cairn models list shows the registry): %w", name, cairn.ErrNotFound)
		case errors.Is(err, cairn.ErrNotFound) && version == 0:
			return nil, fmt.Errorf("model %s has no version in production: name one, model:%s@VERSION (cairn models show %s lists them): %w", name, name, name, cairn.ErrNotFound)
		case errors.Is(err, cairn.ErrNotFound):
			return nil, fmt.Errorf("model %s has no version %d (cairn models show %s lists its versions): %w", name, version, name, cairn.ErrNotFound)
		case err != nil:
			return nil, err
		}
		a, err := s.Artifact(ctx, m.Model.Digest)
		if err != nil {
			return nil, fmt.Errorf("the artifact of %s: %w", m.Ref(), err)
		}
		return &Resolved{Root: Root{Artifact: a.Digest, Model: &ModelRef{Ref: m.Ref(), Name: m.Name, Version: m.Version, Stage: string(m.Stage)}}, Artifact: a}, nil
	case strings.Contains(ref, "/"):
		return resolveAttempt(ctx, s, ref)
	}
	return resolveArtifact(ctx, s, ref)
}

// modelNamed reports whether the registry has a model named name: every
// model has a version 1 (versions are numbered from 1 per name). An error
// other than not found reports true, leaving the caller's own words.
func modelNamed(ctx context.Context, s Store, name string) bool {
	_, err := s.ModelVersion(ctx, name, 1)
	return !errors.Is(err, cairn.ErrNotFound)
}

func resolveArtifact(ctx context.Context, s Store, ref string) (*Resolved, error) {
	hex := strings.ToLower(strings.TrimPrefix(ref, "sha256:"))
	if len(hex) > 64 {
		return nil, fmt.Errorf("%w: %q is longer than a sha256 digest", ErrBadRef, ref)
	}
	for _, r := range hex {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			if err := aRun(ctx, s, ref); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %q is not a digest (sha256:<hex>), a model (model:NAME@VERSION) or a task (RUN/TASK)", ErrBadRef, ref)
		}
	}
	if len(hex) < MinPrefix {
		return nil, fmt.Errorf("%w: the digest prefix %q needs at least %d hex digits", ErrBadRef, ref, MinPrefix)
	}
	found, err := s.ArtifactsByPrefix(ctx, hex, maxCandidates+1)
	if err != nil {
		return nil, err
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("no artifact has a digest starting sha256:%s: %w", hex, cairn.ErrNotFound)
	case len(found) > 1:
		var b strings.Builder
		fmt.Fprintf(&b, "the prefix sha256:%s matches several artifacts; give more digits:", hex)
		for i, a := range found {
			if i == maxCandidates {
				b.WriteString("\n  … and more")
				break
			}
			fmt.Fprintf(&b, "\n  %s  %s  %s", a.Digest, FormatSize(a.Size), a.MediaType)
			if !a.Producer.IsZero() {
				fmt.Fprintf(&b, "  from %s", a.Producer)
			}
		}
		return nil, fmt.Errorf("%s: %w", b.String(), cairn.ErrAmbiguous)
	}
	return &Resolved{Root: Root{Artifact: found[0].Digest}, Artifact: found[0]}, nil
}

// aRun returns the refusal of ref when it names a run (lineage starts
// from one of its tasks), saying which tasks it has; nil when it does not.
func aRun(ctx context.Context, s Store, ref string) error {
	if len(ref) < 4 {
		return nil
	}
	id, err := s.ResolveRunID(ctx, ref)
	if err != nil {
		return nil
	}
	trs, err := s.ListTaskRuns(ctx, id)
	if err != nil || len(trs) == 0 {
		return nil
	}
	var ids []string
	for _, tr := range trs[:min(len(trs), 8)] {
		ids = append(ids, tr.TaskID)
	}
	more := ""
	if len(trs) > len(ids) {
		more = fmt.Sprintf(", … %d more", len(trs)-len(ids))
	}
	return fmt.Errorf("%w: %q is a run: lineage starts from one of its tasks, %s/TASK (it has %s%s)", ErrBadRef, ref, ref, strings.Join(ids, ", "), more)
}

func resolveAttempt(ctx context.Context, s Store, ref string) (*Resolved, error) {
	runArg, task, _ := strings.Cut(ref, "/")
	n := 0
	if t, num, ok := strings.Cut(task, "#"); ok {
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%w: %q: the attempt after # must be a whole number from 1", ErrBadRef, ref)
		}
		task, n = t, v
	}
	if runArg == "" || task == "" {
		return nil, fmt.Errorf("%w: %q: want RUN/TASK or RUN/TASK#N", ErrBadRef, ref)
	}
	runID, err := s.ResolveRunID(ctx, runArg)
	if err != nil {
		if !errors.Is(err, cairn.ErrNotFound) && !errors.Is(err, cairn.ErrAmbiguous) {
			return nil, fmt.Errorf("%w: %v", ErrBadRef, err)
		}
		if errors.Is(err, cairn.ErrAmbiguous) {
			return nil, fmt.Errorf("run id %q matches several runs; give more characters: %w", runArg, cairn.ErrAmbiguous)
		}
		return nil, fmt.Errorf("no run %q (see 'cairn runs'): %w", runArg, cairn.ErrNotFound)
	}
	trs, err := s.ListTaskRuns(ctx, runID)
	if err != nil {
		return nil, err
	}
	var ids []string
	found := false
	for _, tr := range trs {
		ids = append(ids, tr.TaskID)
		found = found || tr.TaskID == task
	}
	if !found {
		return nil, fmt.Errorf("run %s has no task %q (it has %s): %w", runID, task, strings.Join(ids, ", "), cairn.ErrNotFound)
	}
	atts, err := s.ListAttempts(ctx, runID, task)
	if err != nil {
		return nil, err
	}
	var pick *cairn.Attempt
	for _, a := range atts {
		if a.FinishedAt.IsZero() {
			continue // in progress: no lineage yet
		}
		if n == 0 || a.Number == n {
			pick = a
		}
	}
	if pick == nil {
		if n > 0 {
			return nil, fmt.Errorf("task %s of run %s has no finished attempt %d: %w", task, runID, n, cairn.ErrNotFound)
		}
		return nil, fmt.Errorf("task %s of run %s has no finished attempt yet: %w", task, runID, cairn.ErrNotFound)
	}
	run, err := s.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	ar := cairn.AttemptRef{RunID: runID, TaskID: task, Number: pick.Number}
	return &Resolved{Root: Root{Attempt: ar.String()}, Attempt: pick,
		Run: &cairn.LineageRun{ID: run.ID, Workflow: run.Workflow, Digest: run.Digest, State: run.State, CreatedAt: run.CreatedAt, ReproduceOf: run.ReproduceOf}}, nil
}

// Read answers q: it resolves q.Ref and reads the graph.
func Read(ctx context.Context, s Store, q Query) (*Graph, error) {
	if q.Direction == "" {
		q.Direction = Upstream
	}
	if q.Direction != Upstream && q.Direction != Downstream {
		return nil, fmt.Errorf("%w: direction %q is not %s or %s", ErrBadRef, q.Direction, Upstream, Downstream)
	}
	if q.Depth < 0 || q.Depth > MaxDepth {
		return nil, fmt.Errorf("%w: depth %d: want a whole number from 0 (no bound) to %d", ErrBadRef, q.Depth, MaxDepth)
	}
	r, err := Resolve(ctx, s, q.Ref)
	if err != nil {
		return nil, err
	}
	return r.Read(ctx, s, q.Direction, q.Depth)
}

// Read reads the graph from r in direction, up to depth attempts away (0:
// no bound).
func (r *Resolved) Read(ctx context.Context, s Store, direction string, depth int) (*Graph, error) {
	dir := cairn.LineageIn
	if direction == Downstream {
		dir = cairn.LineageOut
	}
	var (
		roots     []string
		rootEdges []cairn.LineageEdge
	)
	if r.Attempt != nil {
		es, err := s.AttemptEdges(ctx, cairn.AttemptRef{RunID: r.Attempt.RunID, TaskID: r.Attempt.TaskID, Number: r.Attempt.Number})
		if err != nil {
			return nil, err
		}
		rootEdges = es
		for _, e := range es {
			if e.Direction == dir {
				roots = append(roots, e.Digest)
			}
		}
	} else {
		roots = []string{r.Artifact.Digest}
	}
	sg := &cairn.LineageGraph{}
	if len(roots) > 0 {
		var err error
		if sg, err = s.LineageClosure(ctx, roots, dir, depth); err != nil {
			return nil, err
		}
	}
	g := build(r, sg, rootEdges, direction, depth)
	// A root attempt's artifacts on the other side are not in the
	// closure: read them.
	for _, a := range g.Artifacts {
		if a.known {
			continue
		}
		rec, err := s.Artifact(ctx, a.Digest)
		if err != nil {
			return nil, err
		}
		a.Size, a.MediaType, a.Producer, a.known = rec.Size, rec.MediaType, producer(rec.Producer), true
		if a.WriterCount == 0 && !rec.Producer.IsZero() {
			a.WriterCount, a.Writers = 1, []string{a.Producer}
		}
	}
	sort.Slice(g.Artifacts, func(i, j int) bool { return g.Artifacts[i].Digest < g.Artifacts[j].Digest })
	return g, nil
}

func producer(a cairn.AttemptRef) string {
	if a.IsZero() {
		return ""
	}
	return a.String()
}

// build walks the store's graph from the root, breadth first, each
// artifact and attempt once: upstream an artifact leads to its first
// producer only (the others are listed as its writers), downstream to
// every attempt that read it. What lies past depth is left out and marks
// the graph truncated.
func build(r *Resolved, sg *cairn.LineageGraph, rootEdges []cairn.LineageEdge, direction string, depth int) *Graph {
	g := &Graph{Schema: Schema, Direction: direction, Root: r.Root, Depth: depth, Attempts: []*Attempt{}, Artifacts: []*Artifact{}}
	runs := map[string]*cairn.LineageRun{}
	for _, run := range sg.Runs {
		runs[run.ID] = run
	}
	attempts := map[cairn.AttemptRef]*cairn.Attempt{}
	for _, a := range sg.Attempts {
		attempts[cairn.AttemptRef{RunID: a.RunID, TaskID: a.TaskID, Number: a.Number}] = a
	}
	edges := map[cairn.AttemptRef][]cairn.LineageEdge{}
	readers := map[string][]cairn.AttemptRef{}
	for _, e := range sg.Edges {
		edges[e.Attempt] = append(edges[e.Attempt], e)
		if e.Direction == cairn.LineageIn {
			readers[e.Digest] = append(readers[e.Digest], e.Attempt)
		}
	}
	records := map[string]*cairn.ArtifactRecord{}
	for _, a := range sg.Artifacts {
		records[a.Digest] = a
	}
	models := map[string][]ModelRef{}
	for _, m := range sg.Models {
		models[m.Model.Digest] = append(models[m.Model.Digest], ModelRef{Ref: m.Ref(), Name: m.Name, Version: m.Version, Stage: string(m.Stage)})
	}

	seenArt := map[string]bool{}
	seenAtt := map[cairn.AttemptRef]bool{}
	addArtifact := func(d string) {
		if seenArt[d] {
			return
		}
		seenArt[d] = true
		a := &Artifact{Digest: d, Models: models[d], WriterCount: sg.WriterCount[d]}
		if rec := records[d]; rec != nil {
			a.Size, a.MediaType, a.Producer, a.known = rec.Size, rec.MediaType, producer(rec.Producer), true
		}
		for _, w := range sg.Writers[d] {
			a.Writers = append(a.Writers, w.String())
		}
		g.Artifacts = append(g.Artifacts, a)
	}
	addAttempt := func(at *cairn.Attempt, level int, es []cairn.LineageEdge) {
		ref := cairn.AttemptRef{RunID: at.RunID, TaskID: at.TaskID, Number: at.Number}
		seenAtt[ref] = true
		a := &Attempt{ID: ref.String(), Run: at.RunID, Task: at.TaskID, Number: at.Number, Type: at.Type, Version: at.Version,
			State: string(at.State), Worker: at.Worker, StartedAt: at.StartedAt, FinishedAt: at.FinishedAt, Error: at.Error,
			Params: cairn.RedactWebhookParams(at.Params), Plugin: at.Plugin, Level: level, Inputs: map[string]string{}, Outputs: map[string]string{}}
		if !at.RunningAt.IsZero() {
			a.StartedAt = at.RunningAt
		}
		if !at.CachedFrom.IsZero() {
			a.CachedFrom = at.CachedFrom.String()
		}
		if run := runs[at.RunID]; run != nil {
			a.Workflow, a.WorkflowDigest, a.RunCreatedAt = run.Workflow, run.Digest, run.CreatedAt
		}
		for _, e := range es {
			if e.Direction == cairn.LineageIn {
				a.Inputs[e.Port] = e.Digest
			} else {
				a.Outputs[e.Port] = e.Digest
			}
			addArtifact(e.Digest)
		}
		g.Attempts = append(g.Attempts, a)
	}

	// The frontier: artifacts to go on from, with the level of the
	// attempts next to them.
	type step struct {
		digest string
		level  int
	}
	var queue []step
	dir := cairn.LineageIn
	if direction == Downstream {
		dir = cairn.LineageOut
	}
	if r.Attempt != nil {
		// The root attempt is not in the closure's attempts; its run may
		// not be either.
		at := r.Attempt
		if runs[at.RunID] == nil && r.Run != nil {
			runs[at.RunID] = r.Run
		}
		addAttempt(at, 0, rootEdges)
		for _, e := range rootEdges {
			if e.Direction == dir {
				queue = append(queue, step{e.Digest, 1})
			}
		}
	} else {
		addArtifact(r.Artifact.Digest)
		queue = append(queue, step{r.Artifact.Digest, 1})
	}
	expanded := map[string]bool{}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		if expanded[st.digest] {
			continue
		}
		expanded[st.digest] = true
		var next []cairn.AttemptRef
		if direction == Upstream {
			if rec := records[st.digest]; rec != nil && !rec.Producer.IsZero() {
				next = []cairn.AttemptRef{rec.Producer}
			}
		} else {
			next = readers[st.digest]
		}
		for _, ref := range next {
			if seenAtt[ref] {
				continue
			}
			at := attempts[ref]
			if at == nil || (depth > 0 && st.level > depth) {
				g.Truncated = g.Truncated || depth > 0 && st.level > depth
				continue
			}
			addAttempt(at, st.level, edges[ref])
			for _, e := range edges[ref] {
				if e.Direction == dir {
					queue = append(queue, step{e.Digest, st.level + 1})
				}
			}
		}
	}
	sort.Slice(g.Attempts, func(i, j int) bool {
		a, b := g.Attempts[i], g.Attempts[j]
		if a.Level != b.Level {
			return a.Level < b.Level
		}
		return a.ID < b.ID
	})
	return g
}

// FormatSize is n bytes for a person: B, KiB, MiB, GiB.
func FormatSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// Short is a digest cut to "sha256:" and 12 hex digits.
func Short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}
