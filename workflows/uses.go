package workflows

// Sub-workflows: a task `uses: other.yaml` with `with:` params runs the
// tasks of another workflow file as part of this one. The file is read and
// validated when this one is parsed, and its tasks are put into this
// workflow's DAG in place of the task, their ids prefixed with the task's
// ("prep:clean"), so that the scheduler, the stores, resume and reproduce
// see ordinary tasks. The child's params are not copied into its tasks:
// each of them carries a binding (the `with:` values as written, in the
// using file's terms) through which its ${{ params.x }} resolve at run
// time, so that a value never becomes part of a script (see resolveScript)
// and keeps its type.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// TaskSep joins the id of a task that uses a sub-workflow and the ids of
// the sub-workflow's tasks: "prep:clean". Not '/', which a task id would
// then share with paths (logs, scratch folders) and URLs (the UI's and the
// worker API's routes), nor '.', which separates the parts of a reference.
const TaskSep = ":"

// MaxUsesDepth bounds the nesting of sub-workflows: a file that uses a file
// that uses a file ... at most this many levels below the workflow that is
// run. Deeper nesting is refused with the chain of files.
const MaxUsesDepth = 8

// usesTaskKeys are the keys a task with `uses:` may have: what a task of
// the sub-workflow runs with is set in its own file.
var usesTaskKeys = []string{"id", "uses", "with", "needs", "description"}

// UsedFile is a sub-workflow file a workflow uses, at any depth.
type UsedFile struct {
	// Task is the id of the task that uses it, which prefixes the ids of
	// its tasks ("prep", or "prep:inner" for a file used by a file).
	Task string
	// Path is the file, relative to the folder of the workflow that is
	// run, with '/' between its parts.
	Path string
	// Name is the sub-workflow's own name:.
	Name string
	// Digest is the sub-workflow's own digest (its sub-workflows
	// included): a changed file is a changed workflow.
	Digest string
}

// usesState is what the files of one Parse share: the sub-workflows read
// so far (by real path: a file used by several tasks is read once), and
// how many tasks they hold together, bounded by maxUsesLoaded.
type usesState struct {
	cache map[string]*Workflow
	// failed is the files read so far that are not valid (by real path
	// and folder, as cache): each is read, and its problems listed, once;
	// a file used many times, nested, was otherwise read again at every
	// use, its problems repeated each time (200 uses a level, 4 levels:
	// minutes and 580 MB).
	failed map[string]bool
	// failedErr is the problems of each file of failed, kept when a read
	// is thrown away (restore): the file read whole after a read in
	// chunks lists them without reading the file again (which, level by
	// level of nested uses:, would double).
	failedErr map[string]error
	loaded    int
	// sources are the bytes of every file read, by path relative to the
	// folder of the workflow that is run (Workflow.SubSources); bytes
	// their total.
	sources map[string][]byte
	bytes   int64
}

// save returns what a read of a file changes of st (nil for nil), for
// restore: which files were listed, and what was counted against the
// limits. The files read (cache, failedErr) are not: reading one again
// would find the same.
func (st *usesState) save() *usesState {
	if st == nil {
		return nil
	}
	return &usesState{failed: maps.Clone(st.failed), loaded: st.loaded, sources: maps.Clone(st.sources), bytes: st.bytes}
}

// restore puts st back as save found it.
func (st *usesState) restore(saved *usesState) {
	if st != nil {
		st.failed, st.loaded, st.sources, st.bytes = saved.failed, saved.loaded, saved.sources, saved.bytes
	}
}

// storedRoot is the folder the files of a stored run are read from
// (Options.SubSource): not a folder of the disk, only a name for cycles
// and for the chain of files in errors.
const storedRoot = "/<stored>"

// maxUsesLoaded bounds the tasks of the sub-workflows one Parse reads, each
// counted at every level it is used from: a file that uses a large file
// many times, nested, would otherwise make billions of tasks before the
// total is checked against MaxTasks.
const maxUsesLoaded = MaxTasks * (MaxUsesDepth + 1)

// usesNode is what a task's `uses:` names.
type usesNode struct {
	node  *yaml.Node
	path  string    // as written
	rel   string    // relative to the top file's folder, slash-separated
	child *Workflow // once read and valid
}

// outputDecl is one entry of a workflow's `outputs:`: the task output it
// exposes (ids as expanded) and whether it is an artifact.
type outputDecl struct {
	r        ref
	artifact bool
	node     *yaml.Node
}

// binding is how the ${{ params.x }} of a task that came from a
// sub-workflow resolve: vals are the sub-workflow's params as the using
// task's `with:` gives them (its defaults filled in), written in the terms
// of the using file, whose own params resolve through up (nil: the run's).
type binding struct {
	vals map[string]any
	// dir is the sub-workflow's folder relative to the run's workflow
	// file's, for ${{ workflow.dir }}; file the sub-workflow file.
	dir, file string
	up        *binding
}

// boundScope resolves params through a binding; outputs and the run's own
// values come from base (task ids are expanded already).
type boundScope struct {
	base Scope
	b    *binding
}

func (s boundScope) outer() Scope {
	if s.b.up == nil {
		return s.base
	}
	return boundScope{s.base, s.b.up}
}

func (s boundScope) Param(name string) (any, bool) {
	v, ok := s.b.vals[name]
	if !ok {
		return nil, false
	}
	r, err := resolveValue(v, s.outer())
	if err != nil {
		return nil, false
	}
	return r, true
}

func (s boundScope) Output(taskID, name string) (json.RawMessage, bool) {
	return s.base.Output(taskID, name)
}

func (s boundScope) Meta(key string) (string, bool) {
	v, ok := s.base.Meta(key)
	if ok && key == "workflow.dir" && s.b.dir != "." && s.b.dir != "" {
		v = filepath.Join(v, filepath.FromSlash(s.b.dir))
	}
	return v, ok
}

// scope is s as task t sees it: through its binding when it came from a
// sub-workflow.
func (t *Task) scope(s Scope) Scope {
	if t.bind == nil {
		return s
	}
	return boundScope{s, t.bind}
}

// paramError explains why param name does not resolve through the
// binding (lookup asks when Param says false).
func (s boundScope) paramError(name string) error {
	v, ok := s.b.vals[name]
	if !ok {
		return fmt.Errorf("params.%s: sub-workflow %s has no such param", name, s.b.file)
	}
	if _, err := resolveValue(v, s.outer()); err != nil {
		return fmt.Errorf("params.%s of sub-workflow %s: %w", name, s.b.file, err)
	}
	return nil
}

// usesTask reads a task's `uses:` value.
func (p *parser) usesTask(tn *taskNodes, n *yaml.Node) {
	s, ok := p.str(n, "uses")
	if !ok {
		return
	}
	tn.uses = &usesNode{node: deref(n), path: s}
	p.hasUses = true
}

// checkUsesKeys refuses the keys a task with uses: cannot have.
func (p *parser) checkUsesKeys(tn *taskNodes, kvs []kvPair) {
	for _, kv := range kvs {
		if contains(usesTaskKeys, kv.key) || !contains(taskKeys, kv.key) {
			continue
		}
		hint := fmt.Sprintf("set it on the tasks of %s; a task with uses: takes %s", tn.uses.path, strings.Join(usesTaskKeys, ", "))
		if kv.key == "type" {
			hint = "a task either runs a type or uses a sub-workflow: drop one of type: and uses:"
		}
		p.errorf(kv.k, hint, "%s cannot be set on a task with uses:", kv.key)
	}
}

// usesRoot is the folder of the workflow that is run: the real path (its
// symlinks resolved) that no sub-workflow file may be outside of, and the
// real path of the file itself.
func (p *parser) usesRoot() (root, self string, err error) {
	if p.opts.usesRoot != "" {
		return p.opts.usesRoot, p.opts.usesChain[len(p.opts.usesChain)-1], nil
	}
	if p.opts.SubSource != nil {
		// The stored files are not on the disk: a folder of their own,
		// named as nothing on the disk is.
		return storedRoot, path.Join(storedRoot, filepath.Base(p.file)), nil
	}
	abs, err := filepath.Abs(p.file)
	if err != nil {
		return "", "", err
	}
	root, err = filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", "", err
	}
	self = filepath.Join(root, filepath.Base(abs))
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		self = real
	}
	return root, self, nil
}

// loadUses reads and validates the sub-workflow task tn uses, and makes
// its outputs the task's (tn.info).
func (p *parser) loadUses(tn *taskNodes) {
	u := tn.uses
	n := u.node
	const hintPath = "give a path relative to this file, in its folder or below it, e.g. uses: steps/prep.yaml"
	if p.opts.NoUses {
		p.errorf(n, p.opts.NoUsesWhy, "uses: is not available for this file")
		return
	}
	if p.usesOver {
		return // said once, at the uses: that went past the limit of tasks
	}
	clean := path.Clean(u.path)
	switch {
	case strings.TrimSpace(u.path) == "":
		p.errorf(n, hintPath, "uses is empty")
		return
	case strings.ContainsRune(u.path, '\\') || strings.ContainsRune(u.path, 0) || path.IsAbs(u.path) || filepath.IsAbs(u.path) || filepath.VolumeName(u.path) != "":
		p.errorf(n, hintPath, "uses %q: must be a relative path with '/' between its parts", u.path)
		return
	case clean == ".." || strings.HasPrefix(clean, "../") || slices.Contains(strings.Split(u.path, "/"), ".."):
		p.errorf(n, hintPath+"; a workflow may only use files of its own folder (a server serves one folder and reads nothing outside it)",
			"uses %q: leaves the workflow's folder (..)", u.path)
		return
	case path.Ext(clean) != ".yaml" && path.Ext(clean) != ".yml":
		p.errorf(n, hintPath, "uses %q: a sub-workflow is a .yaml or .yml file", u.path)
		return
	}
	chain := p.opts.usesChain
	if max(len(chain), 1) > MaxUsesDepth {
		p.errorf(n, fmt.Sprintf("the limit is %d levels of sub-workflows inside one another; flatten some of them", MaxUsesDepth),
			"uses %q: sub-workflows nested more than %d levels deep (%s)", u.path, MaxUsesDepth, p.chainText(chain, ""))
		return
	}
	root, self, err := p.usesRoot()
	if err != nil {
		p.errorf(n, "run the workflow from a file on disk", "uses %q: cannot find the folder of %s: %v", u.path, p.file, err)
		return
	}
	if len(chain) == 0 {
		chain = []string{self}
	}
	u.rel = path.Join(p.opts.usesRel, clean)
	file := filepath.Join(filepath.Dir(p.file), filepath.FromSlash(clean))
	var stored []byte
	var real string
	fromStore := p.opts.SubSource != nil
	if fromStore {
		var ok bool
		stored, ok, err = p.opts.SubSource(u.rel)
		switch {
		case err != nil:
			p.errorf(n, "", "uses %q: read the stored sub-workflow %s: %v", u.path, u.rel, err)
			return
		case !ok:
			p.errorf(n, "the run was stored without this file; it cannot be re-read as it started",
				"uses %q: sub-workflow %s is not stored with the run", u.path, u.rel)
			return
		}
		real = path.Join(storedRoot, u.rel)
	} else {
		real, err = filepath.EvalSymlinks(file)
		if err == nil {
			// A workflow named by a relative path (cairn run main.yaml) gives a
			// relative one here; root and the chain are absolute.
			real, err = filepath.Abs(real)
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			p.errorf(n, "check the path: it is relative to the folder of "+p.file, "uses %q: sub-workflow file %s does not exist", u.path, shownPath(file))
		} else {
			p.errorf(n, "", "uses %q: %v", u.path, err)
		}
		return
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		p.errorf(n, "copy the file into the workflow's folder; a symlink may not lead out of it (a server serves one folder and reads nothing outside it)",
			"uses %q: %s resolves to %s, outside the workflow's folder %s", u.path, shownPath(file), shownPath(real), shownPath(root))
		return
	}
	if i := slices.Index(chain, real); i >= 0 {
		cyc := append(slices.Clone(chain[i:]), real)
		names := make([]string, len(cyc))
		for k, f := range cyc {
			names[k] = relTo(root, f)
		}
		ce := &UsesCycleError{Files: names}
		p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, Msg: ce.Error(), Err: ce,
			Hint: "a workflow may not use itself, directly or through the files it uses"})
		return
	}
	if !fromStore {
		if fi, err := os.Stat(real); err == nil && !fi.Mode().IsRegular() {
			p.errorf(n, hintPath, "uses %q: %s is not a regular file", u.path, shownPath(file))
			return
		}
	}
	if p.opts.uses == nil {
		p.opts.uses = &usesState{cache: map[string]*Workflow{}, failed: map[string]bool{}, failedErr: map[string]error{},
			sources: map[string][]byte{}}
	}
	st := p.opts.uses
	failedKey := real + "\x00" + path.Dir(u.rel)
	if st.failed[failedKey] {
		p.errorf(n, "its problems are listed under its own name, once", "uses %q: sub-workflow %s is not valid", u.path, shownPath(file))
		return
	}
	child, cached := st.cache[real]
	if cached && path.Dir(u.rel) != child.usesRel {
		cached = false // the same file by another path: its workflow.dir differs
	}
	if e, read := st.failedErr[failedKey]; read && !cached {
		child, err = nil, e // read by a read of this file thrown away (see restore)
	} else if !cached {
		opts := p.opts
		opts.usesChain = append(slices.Clone(chain), real)
		opts.usesRoot = root
		opts.usesRel = path.Dir(u.rel)
		if fromStore {
			child, err = Parse(file, stored, opts)
		} else {
			child, err = ParseFile(file, opts)
		}
		if err == nil {
			child.usesRel = opts.usesRel
			st.cache[real] = child
		} else {
			st.failedErr[failedKey] = err
		}
	}
	if err == nil {
		if _, seen := st.sources[u.rel]; !seen {
			st.sources[u.rel] = child.Source
			// Every run stores these bytes (run_sources): together they
			// are held to the limit of one workflow file.
			if st.bytes += int64(len(child.Source)); st.bytes > maxBytes(p.opts) {
				p.errorf(n, "keep large data and scripts in files that the tasks read, not in workflow files",
					"uses %q: the sub-workflow files of this workflow are together %s limit of a workflow file",
					u.path, overLimit(st.bytes, maxBytes(p.opts)))
				return
			}
		}
	}
	if err == nil {
		if p.usesTasks += len(child.Tasks); p.usesTasks > p.maxTasks() {
			p.usesOver = true
			p.errorf(n, "split the work into several workflows, each run on its own",
				"uses %q: with its sub-workflows so far the workflow has more than %s tasks, over the limit of %s tasks in one workflow (its further uses: are not read)",
				u.path, thousands(p.usesTasks), thousands(p.maxTasks()))
			return
		}
		if st.loaded += len(child.Tasks); st.loaded > maxUsesLoaded {
			p.errorf(n, "split the work into several workflows, each run on its own",
				"uses %q: the sub-workflows of this workflow hold more than %s tasks, over the limit", u.path, thousands(maxUsesLoaded))
			return
		}
	}
	if err != nil {
		st.failed[real+"\x00"+path.Dir(u.rel)] = true
		var list ErrorList
		if errors.As(err, &list) {
			p.errs = append(p.errs, list...)
			p.errorf(n, "its problems are listed under its own name", "uses %q: sub-workflow %s is not valid", u.path, shownPath(file))
		} else {
			p.errorf(n, "", "uses %q: %v", u.path, err)
		}
		return
	}
	u.child = child
	info := &cairn.TypeInfo{Name: "sub-workflow " + u.path}
	for _, name := range sortedKeys(child.outs) {
		info.Outputs = append(info.Outputs, cairn.PortInfo{Name: name, Artifact: child.outs[name].artifact})
	}
	tn.info = info
	p.checkUsesWith(tn, child)
}

// shownPath is a path as a message shows it: quoted, its control
// characters escaped, when it has any (a name written with escape
// sequences must not reach the terminal as them).
func shownPath(p string) string {
	if strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) {
		return strconv.Quote(p)
	}
	return p
}

func relTo(root, f string) string {
	if r, err := filepath.Rel(root, f); err == nil {
		return filepath.ToSlash(r)
	}
	return f
}

// chainText names the files of chain (and next), relative to the root.
func (p *parser) chainText(chain []string, next string) string {
	root := p.opts.usesRoot
	var names []string
	for _, f := range chain {
		names = append(names, relTo(root, f))
	}
	if next != "" {
		names = append(names, next)
	}
	return strings.Join(names, " -> ")
}

// UsesCycleError is the cause of the Error reported when workflow files
// use each other in a cycle.
type UsesCycleError struct {
	// Files are the files around the cycle, relative to the folder of the
	// workflow that is run; the first is repeated at the end.
	Files []string
}

func (e *UsesCycleError) Error() string {
	return "sub-workflow cycle: " + strings.Join(e.Files, " -> ")
}

// checkUsesWith checks the `with:` of a task that uses child against the
// child's params.
func (p *parser) checkUsesWith(tn *taskNodes, child *Workflow) {
	t := tn.task
	u := tn.uses
	var names []string
	for _, d := range child.Params {
		names = append(names, d.Name)
	}
	for _, kv := range tn.withKeys {
		d, ok := child.Param(kv.key)
		if !ok {
			hint := hintUnknown(kv.key, names, "its params")
			if len(names) == 0 {
				hint = "it declares no params"
			}
			p.errorf(kv.k, hint, "sub-workflow %s has no param %q", u.path, kv.key)
			continue
		}
		v := t.With[kv.key]
		if s, isStr := v.(string); isStr && hasTemplate(s) {
			tm, err := parseTemplate(s)
			if err != nil {
				continue // reported already
			}
			secretRef := false
			for _, r := range tm.refs() {
				if pd, ok := p.params[r.name]; ok && r.kind == refParam && pd.Secret {
					secretRef = true
				}
			}
			r, single := tm.single()
			switch {
			case d.Secret && !(single && secretRef):
				p.errorf(kv.v, "write with."+kv.key+`: "${{ params.NAME }}" where NAME is a secret param of this workflow`,
					"param %q of sub-workflow %s is secret: it takes a secret param of this workflow, nothing else", kv.key, u.path)
			case !d.Secret && secretRef:
				p.errorf(kv.v, "declare it secret: true in "+u.path,
					"param %q of sub-workflow %s is not secret: it cannot take a secret param", kv.key, u.path)
			case single && r.kind == refParam:
				if pd, ok := p.params[r.name]; ok && d.Type != cairn.KindAny && pd.Type != cairn.KindAny && !kindAccepts(d.Type, pd.Type) {
					p.errorf(kv.v, "", "param %q of sub-workflow %s is %s, but params.%s is %s", kv.key, u.path, kindArticle(d.Type), r.name, kindArticle(pd.Type))
				}
			case single && r.kind == refOutput && r.path == "" && d.Type != cairn.KindAny && d.Type != cairn.KindList && p.fanInTask(r.task):
				p.errorf(kv.v, "declare the param type: list (or any) in "+u.path+", or give it one value",
					"param %q of sub-workflow %s is %s, but tasks.%s.outputs.%s is a fan-in (a list: one value per item of its for_each)",
					kv.key, u.path, kindArticle(d.Type), r.task, r.name)
			}
			continue
		}
		if d.Secret {
			p.errorf(kv.v, "write with."+kv.key+`: "${{ params.NAME }}" where NAME is a secret param of this workflow`,
				"param %q of sub-workflow %s is secret: it cannot be given in the file (the workflow file is stored with every run)", kv.key, u.path)
			continue
		}
		if v == nil && !d.Required {
			continue
		}
		conv, ok := convertKind(d.Type, v)
		if !ok {
			p.errorf(kv.v, "", "param %q of sub-workflow %s must be %s, not %s", kv.key, u.path, kindArticle(d.Type), describe(kv.v))
			continue
		}
		t.With[kv.key] = conv
	}
	at := tn.pos()
	if tn.withKey != nil {
		at = tn.withKey
	}
	for _, d := range child.Params {
		if _, ok := t.With[d.Name]; d.Required && !ok {
			p.errorf(at, fmt.Sprintf("add it under with:, e.g. %s: %s", d.Name, exampleOf(d.Type)),
				"task %q: sub-workflow %s needs param %q (%s)", t.ID, u.path, d.Name, d.Type)
		}
	}
}

// fanInTask reports whether the task of id has a for_each (its outputs
// are fan-ins: lists).
func (p *parser) fanInTask(id string) bool {
	for _, tn := range p.taskInfo {
		if tn.task != nil && tn.task.ID == id {
			return tn.task.ForEach != nil
		}
	}
	return false
}

func exampleOf(k cairn.ParamKind) string {
	switch k {
	case cairn.KindInt:
		return "1"
	case cairn.KindFloat:
		return "0.5"
	case cairn.KindBool:
		return "true"
	case cairn.KindList:
		return "[a, b]"
	case cairn.KindMap:
		return "{k: v}"
	}
	return "VALUE"
}

// outputsDecl reads the top-level `outputs:`: the task outputs a workflow
// exposes to a workflow that uses it, each a single reference.
func (p *parser) outputsDecl(w *Workflow, n *yaml.Node) {
	kvs, ok := p.mapping(n, "outputs")
	if !ok {
		return
	}
	const hint = `write one reference to a task's output, e.g. model: "${{ tasks.train.outputs.model }}"`
	w.Outputs = make(map[string]string, len(kvs))
	p.outNodes = make(map[string]*yaml.Node, len(kvs))
	for _, kv := range kvs {
		if !validParamName(kv.key) {
			p.errorf(kv.k, "use letters, digits, '_' and '-', starting with a letter or '_' (at most 64)", "invalid output name %q", kv.key)
			continue
		}
		s, ok := p.str(kv.v, "output "+kv.key)
		if !ok {
			continue
		}
		t, err := parseTemplate(s)
		if err != nil {
			p.textErr(deref(kv.v), err)
			continue
		}
		r, single := t.single()
		if !single || r.kind != refOutput {
			p.errorf(kv.v, hint, "output %q must be a single ${{ }} reference to a task's output", kv.key)
			continue
		}
		w.Outputs[kv.key] = s
		p.outNodes[kv.key] = deref(kv.v)
	}
}

// checkOutputs checks the references of `outputs:` (after the tasks are
// known) and records what each exposes.
func (p *parser) checkOutputs(w *Workflow) {
	if len(w.Outputs) == 0 {
		return
	}
	w.outs = make(map[string]outputDecl, len(w.Outputs))
	self := &taskNodes{task: &Task{}}
	for _, name := range sortedKeys(w.Outputs) {
		t, _ := parseTemplate(w.Outputs[name])
		r, _ := t.single()
		n := p.outNodes[name]
		before := len(p.errs)
		p.checkRef(self, *r, n, false, nil)
		if len(p.errs) > before {
			continue
		}
		d := outputDecl{r: *r, node: n}
		tn := p.taskInfo[p.ids[r.task]]
		if tn.info != nil {
			names, open := outputsOf(tn, *tn.info)
			found := false
			for _, o := range tn.info.Outputs {
				if o.Name == r.name {
					d.artifact, found = o.Artifact && r.path == "", true
				}
			}
			if !found && !open && contains(names, r.name) {
				d.artifact = r.path == "" // a declared output file (shell's outputs:)
			}
		}
		w.outs[name] = d
	}
}

// expandUses puts the tasks of every sub-workflow in place of the task
// that uses it, and points the references to such a task's outputs, and
// its needs, at the tasks of the sub-workflow. It runs once the file is
// valid.
func (p *parser) expandUses(w *Workflow) {
	type expanded struct {
		exits []string              // its tasks no other of its tasks waits for
		outs  map[string]outputDecl // its outputs, by expanded id
	}
	byID := map[string]*expanded{}
	for _, tn := range p.taskInfo {
		u := tn.uses
		if u == nil || u.child == nil {
			continue
		}
		prefix := tn.task.ID + TaskSep
		inner := map[string]bool{}
		for _, ct := range u.child.Tasks {
			for _, up := range ct.Upstream {
				inner[up] = true
			}
		}
		e := &expanded{outs: map[string]outputDecl{}}
		for _, ct := range u.child.Tasks {
			if !inner[ct.ID] {
				e.exits = append(e.exits, prefix+ct.ID)
			}
		}
		for name, d := range u.child.outs {
			d.r.task = prefix + d.r.task
			e.outs[name] = d
		}
		byID[tn.task.ID] = e
	}
	// upstream maps a list of this file's task ids: a task that uses a
	// sub-workflow becomes its exits.
	upstream := func(ids []string, producers []string) []string {
		var out []string
		for _, id := range ids {
			if e, ok := byID[id]; ok {
				out = append(out, e.exits...)
			} else {
				out = append(out, id)
			}
		}
		out = append(out, producers...)
		slices.Sort(out)
		return slices.Compact(out)
	}
	// mapRef points a reference to an output of a task that uses a
	// sub-workflow at the task of the sub-workflow that produces it.
	mapRef := func(r ref) (ref, bool) {
		if r.kind != refOutput {
			return r, false
		}
		e, ok := byID[r.task]
		if !ok {
			return r, false
		}
		d := e.outs[r.name]
		m := d.r
		if r.path != "" {
			if m.path != "" {
				m.path += "." + r.path
			} else {
				m.path = r.path
			}
		}
		return m, true
	}
	total := 0
	for _, tn := range p.taskInfo {
		if tn.uses != nil {
			total += len(tn.uses.child.Tasks)
		} else {
			total++
		}
	}
	if total > p.maxTasks() {
		for _, tn := range p.taskInfo {
			if tn.uses != nil {
				p.errorf(tn.uses.node, "split the work into several workflows, each run on its own",
					"with its sub-workflows the workflow has %s tasks, over the limit of %s tasks in one workflow", thousands(total), thousands(p.maxTasks()))
				return
			}
		}
	}
	out := make([]*Task, 0, total)
	for _, tn := range p.taskInfo {
		t := tn.task
		u := tn.uses
		if u == nil {
			if len(byID) > 0 {
				producers := rewriteTask(t, mapRef)
				if len(producers) > 0 || slices.ContainsFunc(t.Upstream, func(id string) bool { return byID[id] != nil }) {
					t.Upstream = upstream(t.Upstream, producers)
					t.Needs = mapNeeds(t.Needs, func(id string) []string {
						if e, ok := byID[id]; ok {
							return e.exits
						}
						return nil
					})
				}
			}
			out = append(out, t)
			continue
		}
		child := u.child
		// The binding: the with: values in this file's terms (references
		// to other sub-workflows' outputs pointed at their tasks), the
		// child's defaults for the params not given.
		vals := make(map[string]any, len(child.Params))
		var producers []string
		for k, v := range t.With {
			nv, ps := rewriteValue(v, mapRef)
			vals[k] = nv
			producers = append(producers, ps...)
		}
		for _, d := range child.Params {
			if _, ok := vals[d.Name]; !ok {
				vals[d.Name] = d.Default
			}
		}
		b := &binding{vals: vals, dir: path.Dir(u.rel), file: u.rel}
		ups := upstream(t.Upstream, producers)
		prefix := t.ID + TaskSep
		prefixRef := func(r ref) (ref, bool) {
			if r.kind != refOutput {
				return r, false
			}
			r.task = prefix + r.task
			return r, true
		}
		for _, ct := range child.Tasks {
			nt := *ct
			nt.ID = prefix + ct.ID
			nt.Needs = prefixAll(prefix, ct.Needs)
			nt.Upstream = prefixAll(prefix, ct.Upstream)
			if len(ct.Upstream) == 0 {
				nt.Upstream = slices.Clone(ups)
			}
			rewriteTask(&nt, prefixRef)
			nt.bind = rebind(ct.bind, b, prefixRef)
			if nt.File == "" {
				nt.File = u.rel
			}
			out = append(out, &nt)
		}
		// The child's pools are the run's too; the parent's size of a
		// name wins, then the first child's.
		for _, name := range sortedKeys(child.Pools) {
			if _, ok := w.Pools[name]; !ok {
				if w.Pools == nil {
					w.Pools = map[string]int{}
				}
				w.Pools[name] = child.Pools[name]
			}
		}
		w.Uses = append(w.Uses, UsedFile{Task: t.ID, Path: u.rel, Name: child.Name, Digest: child.Digest})
		for _, uf := range child.Uses {
			uf.Task = prefix + uf.Task
			w.Uses = append(w.Uses, uf)
		}
	}
	w.Tasks = out
	if w.outs != nil {
		for name, d := range w.outs {
			if m, ok := mapRef(d.r); ok {
				d.r = m
				w.outs[name] = d
			}
		}
	}
}

// rebind returns the binding of a task of a sub-workflow once it is put
// into the using file: its own chain (from the sub-workflow's own
// sub-workflows), task references prefixed, then b.
func rebind(own, b *binding, f func(ref) (ref, bool)) *binding {
	if own == nil {
		return b
	}
	vals := make(map[string]any, len(own.vals))
	for k, v := range own.vals {
		vals[k], _ = rewriteValue(v, f)
	}
	return &binding{vals: vals, dir: own.dir, file: own.file, up: rebind(own.up, b, f)}
}

func prefixAll(prefix string, ids []string) []string {
	if ids == nil {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = prefix + id
	}
	return out
}

func mapNeeds(needs []string, exits func(string) []string) []string {
	var out []string
	for _, n := range needs {
		if e := exits(n); e != nil {
			out = append(out, e...)
		} else {
			out = append(out, n)
		}
	}
	return slices.Compact(out)
}

// rewriteTask passes every reference of t (with:, inputs:, when:) through
// f, and returns the tasks of the references f changed.
func rewriteTask(t *Task, f func(ref) (ref, bool)) []string {
	var tasks []string
	if t.With != nil {
		with := make(map[string]any, len(t.With))
		for k, v := range t.With {
			nv, ts := rewriteValue(v, f)
			with[k] = nv
			tasks = append(tasks, ts...)
		}
		t.With = with
	}
	if t.Inputs != nil {
		in := make(map[string]string, len(t.Inputs))
		for k, s := range t.Inputs {
			nv, ts := rewriteValue(s, f)
			in[k] = nv.(string)
			tasks = append(tasks, ts...)
		}
		t.Inputs = in
	}
	if t.When != "" {
		if e, err := parseExpr(t.When); err == nil {
			if ts := rewriteExpr(e, f); len(ts) > 0 {
				t.When = formatExpr(e)
				tasks = append(tasks, ts...)
			}
		}
	}
	return tasks
}

// rewriteValue rebuilds v with the references of its strings passed
// through f; it returns the tasks of the references f changed.
func rewriteValue(v any, f func(ref) (ref, bool)) (any, []string) {
	switch v := v.(type) {
	case string:
		if !hasTemplate(v) {
			return v, nil
		}
		t, err := parseTemplate(v)
		if err != nil {
			return v, nil
		}
		var tasks []string
		for i, seg := range t {
			if seg.ref == nil {
				continue
			}
			if r, ok := f(*seg.ref); ok {
				t[i].ref = &r
				tasks = append(tasks, r.task)
			}
		}
		if len(tasks) == 0 {
			return v, nil
		}
		return renderTemplate(t), tasks
	case []any:
		out := make([]any, len(v))
		var tasks []string
		for i, x := range v {
			var ts []string
			out[i], ts = rewriteValue(x, f)
			tasks = append(tasks, ts...)
		}
		return out, tasks
	case map[string]any:
		out := make(map[string]any, len(v))
		var tasks []string
		for k, x := range v {
			var ts []string
			out[k], ts = rewriteValue(x, f)
			tasks = append(tasks, ts...)
		}
		return out, tasks
	}
	return v, nil
}

// rewriteExpr passes the references of n through f, in place.
func rewriteExpr(n node, f func(ref) (ref, bool)) []string {
	switch n := n.(type) {
	case *refNode:
		if r, ok := f(n.r); ok {
			n.r = r
			return []string{r.task}
		}
	case *notNode:
		return rewriteExpr(n.x, f)
	case *binNode:
		return append(rewriteExpr(n.l, f), rewriteExpr(n.r, f)...)
	}
	return nil
}

// renderTemplate writes t back as text that parses to t: a literal ${{
// escaped as $${{.
func renderTemplate(t template) string {
	var b strings.Builder
	for _, seg := range t {
		if seg.ref == nil {
			b.WriteString(strings.ReplaceAll(seg.lit, "${{", "$${{"))
			continue
		}
		b.WriteString("${{ ")
		b.WriteString(seg.ref.String())
		b.WriteString(" }}")
	}
	return b.String()
}

// ParseRun re-reads the workflow run r was created from: its stored file,
// and the sub-workflow files stored with it (sources: the store's
// RunSources), so that a file changed or removed on disk since does not
// change the run. A run that stored none (without `uses:`, or created
// before Cairn kept them) reads its sub-workflows from the disk.
func ParseRun(r *cairn.Run, sources map[string][]byte, opts Options) (*Workflow, error) {
	if len(sources) > 0 {
		opts.SubSource = func(rel string) ([]byte, bool, error) {
			src, ok := sources[rel]
			return src, ok, nil
		}
	}
	return Parse(r.SourcePath, r.Source, opts)
}
