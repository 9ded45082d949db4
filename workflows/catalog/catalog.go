// Package catalog is the folder of workflow files a server offers
// (cairn server --workflows DIR): every *.yaml and *.yml file in it,
// parsed with the server's task types. A file that does not parse is kept
// with its problems (FILE:LINE:COL), beside the good ones, which are
// served; two files that declare the same workflow name both carry an
// error naming the other, and neither is served. The folder is read again
// when a file in it changes, is added or is removed: Watch polls the
// files' sizes and modification times (a directory read and a stat per
// file, every second by default), so no file-system notification library
// is needed.
package catalog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn/workflows"
)

// Entry is one file of the folder: its workflow, or why it has none.
type Entry struct {
	// Name is the workflow's name: as the file declares it, or the name
	// its last good version declared while the file does not parse, or ""
	// for a file that never parsed.
	Name string
	// File is the file's name within the folder; Path its full path.
	File, Path string
	// Workflow is the parsed workflow, nil when the file has problems.
	Workflow *workflows.Workflow
	// Problems say why the file is not served; nil when it is.
	Problems []Problem
	// ModTime and Size are the file's when it was read.
	ModTime time.Time
	Size    int64

	// deps are the sub-workflow files (uses:) the workflow was read with,
	// by full path, with their size and time then: a change to one is a
	// change to the workflow.
	deps map[string]stamp
}

// depsChanged reports whether a sub-workflow file of e changed since e
// was read.
func (e Entry) depsChanged() bool {
	for path, st := range e.deps {
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != st.size || !fi.ModTime().Equal(st.mtime) {
			return true
		}
	}
	return false
}

// OK reports whether the entry's workflow is served.
func (e Entry) OK() bool { return e.Workflow != nil && len(e.Problems) == 0 }

// Problem is one problem of a file, where it is (Line and Col are 0 when
// the problem is the whole file's: it could not be read).
type Problem struct {
	File      string
	Line, Col int
	Message   string
	Hint      string
}

// String is the problem as FILE:LINE:COL: message (hint).
func (p Problem) String() string {
	s := p.Message
	if p.Line > 0 {
		s = fmt.Sprintf("%d:%d: %s", p.Line, p.Col, s)
	}
	if p.File != "" {
		s = p.File + ":" + s
	}
	if p.Hint != "" {
		s += " (hint: " + p.Hint + ")"
	}
	return s
}

// Problems turns an error of workflows.Parse or ParseFile into problems
// of file: one per workflows.Error, or one for the whole file.
func Problems(file string, err error) []Problem {
	return problemsOf(file, "", err)
}

// problemsOf is Problems of the file parsed as path: a problem of a
// sub-workflow file it uses (a workflows.Error of another File) is named
// by that file's path relative to path's folder, not as file's.
func problemsOf(file, path string, err error) []Problem {
	var list workflows.ErrorList
	if errors.As(err, &list) {
		out := make([]Problem, 0, len(list))
		for _, e := range list {
			f := file
			if path != "" && e.File != "" && e.File != path {
				if rel, err := filepath.Rel(filepath.Dir(path), e.File); err == nil {
					f = filepath.ToSlash(rel)
				}
			}
			out = append(out, Problem{File: f, Line: e.Line, Col: e.Col, Message: e.Msg, Hint: e.Hint})
		}
		return out
	}
	var one *workflows.Error
	if errors.As(err, &one) {
		return []Problem{{File: file, Line: one.Line, Col: one.Col, Message: one.Msg, Hint: one.Hint}}
	}
	return []Problem{{File: file, Message: err.Error()}}
}

// Options configure a Catalog.
type Options struct {
	// Types are the task types the server knows; files naming others
	// have problems.
	Types workflows.TypeSet
	// Interval is how often Watch looks at the folder (default 1 s).
	Interval time.Duration
	// Logger gets a line for every file that is loaded, fails to load or
	// goes away (slog's discard handler when nil).
	Logger *slog.Logger
}

// Catalog is the folder's workflows, safe for concurrent use.
type Catalog struct {
	dir string
	o   Options

	mu      sync.RWMutex
	entries []Entry          // by file name
	byName  map[string]Entry // served workflows by name
	seen    map[string]stamp // file name → what was read
	loaded  bool
}

// stamp is what tells that a file changed.
type stamp struct {
	size  int64
	mtime time.Time
}

// New returns the catalog of folder dir, read once; the error says why the
// folder itself cannot be read (a file that does not parse is no error:
// it is an entry with problems). With dir "" the catalog has no folder and
// no entries, and only checks files (Check).
func New(dir string, o Options) (*Catalog, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return &Catalog{o: o, byName: map[string]Entry{}, seen: map[string]stamp{}, loaded: true}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("workflows folder %s: %w", dir, err)
	}
	c := &Catalog{dir: abs, o: o, byName: map[string]Entry{}, seen: map[string]stamp{}}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the folder's absolute path; "" for a catalog without one.
func (c *Catalog) Dir() string { return c.dir }

// Entries returns every file of the folder, by file name.
func (c *Catalog) Entries() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]Entry(nil), c.entries...)
}

// Lookup returns the entry of workflow name: the served one, or a file
// that declares (or last declared) that name and has problems; false
// when no file of the folder does.
func (c *Catalog) Lookup(name string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.byName[name]; ok {
		return e, true
	}
	for _, e := range c.entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// NoUsesHint is why a workflow file sent to a server cannot use
// sub-workflows: it would name files of the client's folder, which the
// server does not have and must not read its own in their place.
const NoUsesHint = "a file sent to a server cannot use sub-workflows (the server reads only its --workflows folder): put the files in that folder and trigger the workflow by name, or run it locally with cairn run"

// Check parses src as file would be, with the catalog's task types: the
// workflow, or its problems.
// A file sent by a client cannot use sub-workflows: its folder is not the
// server's (see NoUsesHint).
func (c *Catalog) Check(file string, src []byte) (*workflows.Workflow, []Problem) {
	wf, err := workflows.Parse(file, src, workflows.Options{Types: c.o.Types, NoUses: true, NoUsesWhy: NoUsesHint})
	if err != nil {
		return nil, Problems(file, err)
	}
	return wf, nil
}

// Watch reads the folder again every Interval until ctx ends, when a
// file in it changed; errors reading the folder are logged (once until
// it can be read again) and the last entries kept.
func (c *Catalog) Watch(ctx context.Context) {
	if c.dir == "" {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.Reload(); err != nil {
			if !failing {
				c.o.Logger.Error("read the workflows folder", "dir", c.dir, "err", err)
			}
			failing = true
			continue
		}
		if failing {
			c.o.Logger.Info("the workflows folder can be read again", "dir", c.dir)
		}
		failing = false
	}
}

// Reload reads the folder, parses the files that changed since the last
// read and reports whether anything changed.
func (c *Catalog) Reload() (bool, error) {
	if c.dir == "" {
		return false, nil
	}
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return false, fmt.Errorf("read the workflows folder %s: %w (give an existing folder to --workflows)", c.dir, err)
	}
	now := map[string]stamp{}
	for _, de := range des {
		name := de.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		fi, err := os.Stat(filepath.Join(c.dir, name)) // a symbolic link to a file counts
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		now[name] = stamp{fi.Size(), fi.ModTime()}
	}
	c.mu.RLock()
	changed := !c.loaded || len(now) != len(c.seen)
	for name, st := range now {
		if old, ok := c.seen[name]; !ok || old != st {
			changed = true
			break
		}
	}
	prev := make(map[string]Entry, len(c.entries))
	stale := map[string]bool{} // read again: a sub-workflow changed
	for _, e := range c.entries {
		prev[e.File] = e
		if e.depsChanged() {
			stale[e.File], changed = true, true
		}
	}
	c.mu.RUnlock()
	if !changed {
		return false, nil
	}
	files := make([]string, 0, len(now))
	for name := range now {
		files = append(files, name)
	}
	sort.Strings(files)
	entries := make([]Entry, 0, len(files))
	for _, name := range files {
		st := now[name]
		// A file with problems is read again whenever the folder changed:
		// the sub-workflow it could not use may be there now.
		if old, ok := prev[name]; ok && old.Size == st.size && old.ModTime.Equal(st.mtime) && !stale[name] && len(withoutDuplicate(old.Problems)) == 0 {
			old.Problems = withoutDuplicate(old.Problems)
			entries = append(entries, old)
			continue
		}
		entries = append(entries, c.load(name, prev[name]))
	}
	for name := range prev {
		if _, ok := now[name]; !ok {
			c.o.Logger.Info("workflow file removed", "file", filepath.Join(c.dir, name))
		}
	}
	byName := markDuplicates(entries)
	c.mu.Lock()
	c.entries, c.byName, c.seen, c.loaded = entries, byName, now, true
	c.mu.Unlock()
	return true, nil
}

// load parses one file; prev is its entry before (for its name).
func (c *Catalog) load(name string, prev Entry) Entry {
	path := filepath.Join(c.dir, name)
	e := Entry{Name: prev.Name, File: name, Path: path}
	if fi, err := os.Stat(path); err == nil {
		e.ModTime, e.Size = fi.ModTime(), fi.Size()
	}
	if p, ok := c.outside(name, path); !ok {
		e.Problems = []Problem{p}
		c.o.Logger.Error("workflow file has problems; it is not served", "file", path, "problems", p.String())
		return e
	}
	wf, err := workflows.ParseFile(path, workflows.Options{Types: c.o.Types})
	if err != nil {
		e.Problems = problemsOf(name, path, err)
		msgs := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			msgs[i] = p.String()
		}
		c.o.Logger.Error("workflow file has problems; it is not served", "file", path, "problems", strings.Join(msgs, "; "))
		return e
	}
	e.Name, e.Workflow = wf.Name, wf
	for _, u := range wf.Uses {
		dep := filepath.Join(c.dir, filepath.FromSlash(u.Path))
		if fi, err := os.Stat(dep); err == nil {
			if e.deps == nil {
				e.deps = map[string]stamp{}
			}
			e.deps[dep] = stamp{fi.Size(), fi.ModTime()}
		}
	}
	c.o.Logger.Info("workflow loaded", "workflow", wf.Name, "file", path, "digest", wf.Digest, "tasks", len(wf.Tasks))
	return e
}

// outside checks that the file name of the folder (at path) is in the
// folder once its symbolic links are resolved, as a sub-workflow must be
// (workflows: uses:): a server serves one folder and reads nothing outside
// it, not even to quote a file's first bytes in a problem that viewers
// see. ok is false, with the problem to show, for a file that leads out.
func (c *Catalog) outside(name, path string) (p Problem, ok bool) {
	root, err := filepath.EvalSymlinks(c.dir)
	if err == nil {
		root, err = filepath.Abs(root)
	}
	real, err2 := filepath.EvalSymlinks(path)
	if err2 == nil {
		real, err2 = filepath.Abs(real)
	}
	if err != nil || err2 != nil {
		return Problem{File: name, Message: fmt.Sprintf("resolve its symbolic links: %v", errors.Join(err, err2))}, false
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return Problem{File: name, Message: fmt.Sprintf("a symbolic link that leads out of the workflows folder %s: it is not read", c.dir),
			Hint: "copy the file into the folder; a server serves one folder and reads nothing outside it"}, false
	}
	return Problem{}, true
}

// duplicateMark starts the message of a problem markDuplicates adds.
const duplicateMark = "workflow name "

// withoutDuplicate drops the problems markDuplicates added: they are
// worked out again on every reload.
func withoutDuplicate(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if !strings.HasPrefix(p.Message, duplicateMark) {
			out = append(out, p)
		}
	}
	return out
}

// markDuplicates gives every good entry whose workflow name another file
// declares too a problem naming the others, and returns the entries it
// serves by name.
func markDuplicates(entries []Entry) map[string]Entry {
	files := map[string][]int{}
	for i, e := range entries {
		if e.Workflow != nil {
			files[e.Name] = append(files[e.Name], i)
		}
	}
	byName := map[string]Entry{}
	for name, idx := range files {
		if len(idx) == 1 {
			byName[name] = entries[idx[0]]
			continue
		}
		for _, i := range idx {
			var others []string
			for _, j := range idx {
				if j != i {
					others = append(others, entries[j].File)
				}
			}
			e := &entries[i]
			line := nameLine(e.Workflow.Source)
			e.Problems = append(e.Problems, Problem{File: e.File, Line: line, Col: 1,
				Message: fmt.Sprintf("%s%q is also declared by %s: a name is one workflow; rename one of them",
					duplicateMark, name, strings.Join(others, ", "))})
		}
	}
	return byName
}

var nameKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^name\s*:`) })

// nameLine is the line of the top-level name: key of a workflow file (1
// when it cannot be told).
func nameLine(src []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), len(src)+1)
	for n := 1; sc.Scan(); n++ {
		if nameKey().Match(sc.Bytes()) {
			return n
		}
	}
	return 1
}
