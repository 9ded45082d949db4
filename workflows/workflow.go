package workflows

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// Options tune Parse.
type Options struct {
	// Types are the known task types. When nil, task types, their
	// `with:` params and their outputs are not checked.
	Types TypeSet
	// MaxBytes caps the size of the file; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxTasks caps the number of tasks; 0 means the package's MaxTasks.
	MaxTasks int
	// NoUses refuses `uses:` (a file a client sent, whose folder is not
	// this machine's), with NoUsesWhy as the hint.
	NoUses    bool
	NoUsesWhy string
	// SubSource, when set, reads the sub-workflow files (`uses:`) from it
	// rather than from the disk: rel is the file's path relative to the
	// folder of the workflow that is run, with '/' between its parts (a
	// key of Workflow.SubSources). A stored run is re-read from the files
	// it started with (see cairn.Run.SubSources), even after they changed
	// on disk or where the folder does not exist. ok is false for a file
	// it does not hold.
	SubSource func(rel string) (src []byte, ok bool, err error)

	// Set for a sub-workflow (see loadUses): the real paths of the files
	// that use it, itself last; the folder of the workflow that is run
	// (real path); its own folder relative to that one.
	usesChain []string
	usesRoot  string
	usesRel   string
	uses      *usesState // shared by the files of one Parse
}

// TypeSet is what the validator needs to know about task types.
// *tasks.Registry satisfies it.
type TypeSet interface {
	// Info describes type name; false when the type is unknown.
	Info(name string) (cairn.TypeInfo, bool)
	// Names lists the known types, sorted.
	Names() []string
	// ValidateParams checks a task's `with:` block as written (values
	// holding references are strings).
	ValidateParams(name string, params map[string]any) []tasks.ParamError
}

var _ TypeSet = (*tasks.Registry)(nil)

// Workflow is a parsed, validated and normalized workflow file.
type Workflow struct {
	Name        string
	Description string
	Params      []ParamDecl // in file order
	Defaults    TaskDefaults
	// MaxActive is the top-level `concurrency:`: how many tasks of one run
	// may be ready, leased or running at once; 0 means no limit.
	MaxActive int
	// MaxActiveRuns is the top-level `max_active_runs:`: how many runs of
	// this workflow a scheduler service (cairn server) keeps active at
	// once, queued runs beyond it waiting in creation order; 0 means no
	// per-workflow cap.
	MaxActiveRuns int
	Schedule      *Schedule // nil when the workflow has no `schedule:`
	// Notify is the top-level `notify:`: the webhooks told of the run's
	// end (failure, success) and of its tasks' findings (gate_failed,
	// drift). A run keeps them (cairn.Run.Notify).
	Notify []cairn.NotifyTarget
	// Outputs is the top-level `outputs:` as written: what a workflow
	// that uses this one as a sub-workflow sees as its task's outputs.
	Outputs map[string]string
	// Uses lists the sub-workflow files whose tasks are among Tasks, at
	// any depth, in file order.
	Uses []UsedFile
	// Pools is the top-level `pools:` (name → size), nil for none: the
	// pools its runs declare (cairn.Run.Pools; a server's of the same
	// name wins). See cairn's pools.go.
	Pools  map[string]int
	Tasks  []*Task // in file order; a sub-workflow's in place of the task that uses it
	Path   string  // as given to Parse
	Source []byte  // exactly the bytes parsed
	// SubSources are the exact bytes of every sub-workflow file the
	// workflow uses, at any depth, by path relative to its folder ('/'
	// between the parts): stored with each run (cairn.Run.SubSources) so
	// that resume, retry and reproduce re-read the files the run started
	// with. Nil without `uses:`.
	SubSources map[string][]byte
	// Digest is "sha256:<hex>" of Canonical().
	Digest string
	// RecordedItems are, by task id, items a for_each task takes as they
	// are, without resolving its for_each (Items): cairn reproduce sets
	// them to those its original run recorded, so that the same bytes in
	// give the same items. Not part of the file nor of its digest.
	RecordedItems map[string][]json.RawMessage

	// idx is built by Parse once the workflow is valid; a Workflow made by
	// hand has none and computes lookups on each call.
	idx *index
	// outs are the Outputs, resolved to the (expanded) tasks they name.
	outs map[string]outputDecl
	// usesRel is, for a sub-workflow, its folder relative to the folder of
	// the workflow that uses it (see loadUses).
	usesRel string
}

// index holds what the planner asks for on every event, computed once:
// the scheduler looks tasks up by id and walks the topological order each
// time it plans a run, so both must be cheap even with 100,000 tasks.
type index struct {
	byID  map[string]int // task id → position in Tasks (the first, for a repeated id)
	order []string
}

func (w *Workflow) index() *index {
	if w.idx != nil {
		return w.idx
	}
	return buildIndex(w)
}

func buildIndex(w *Workflow) *index {
	byID := make(map[string]int, len(w.Tasks))
	for i, t := range w.Tasks {
		if _, dup := byID[t.ID]; !dup {
			byID[t.ID] = i
		}
	}
	return &index{byID: byID, order: idsAt(w.Tasks, topoOrder(w.Tasks, byID, nil))}
}

// idsAt returns the ids of the tasks at positions.
func idsAt(ts []*Task, positions []int32) []string {
	ids := make([]string, len(positions))
	for k, i := range positions {
		ids[k] = ts[i].ID
	}
	return ids
}

// ParamDecl declares one workflow param.
type ParamDecl struct {
	Name string
	// Type is one of KindString, KindInt, KindFloat, KindBool, KindList
	// and KindMap.
	Type cairn.ParamKind
	// Default holds the default value, nil when there is none. Values
	// are string, int, float64, bool, []any or map[string]any.
	Default any
	// Required is true when the param has no default and was not
	// declared `required: false`; a run must then give it a value.
	Required    bool
	Description string
	// Secret (`secret: true`, strings only, no default) marks a value
	// that is never stored: a run keeps SecretPlaceholder(Name) in its
	// place, and whoever drives the run puts the value back when a task
	// is dispatched (see docs/security.md).
	Secret    bool
	Line, Col int
}

// SecretPlaceholder is what a run stores, and what references resolve
// to, in place of secret param name's value. It is text that passes
// through JSON unescaped, so that it can be found in a task's resolved
// params and replaced by the value at dispatch.
func SecretPlaceholder(name string) string { return "«secret:" + name + "»" }

// SecretEnv is the environment variable that gives secret param name its
// value ("CAIRN_PARAM_" and the name upper-cased, '-' as '_'): `cairn run`
// and `cairn resume` read it, so that the value need not be on the command
// line, where other local users can see it.
func SecretEnv(name string) string {
	return "CAIRN_PARAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// TaskDefaults is the top-level `defaults:` block, applied to every task
// that does not set the field itself.
type TaskDefaults struct {
	Retry   cairn.RetryPolicy
	Timeout time.Duration
	Labels  map[string]string
	Queue   string
	// Pool and Priority are the defaults' `pool:` and `priority:`.
	Pool     string
	Priority int
	// PoolLine and PoolCol are where the defaults' pool: value is.
	PoolLine, PoolCol int
}

// Task is one node of the workflow's DAG.
type Task struct {
	ID          string
	Type        string
	Description string
	// With holds the `with:` block as written: string, int, float64,
	// bool, nil, []any and map[string]any values, references still in
	// their ${{ }} strings.
	With map[string]any
	// Inputs maps input names to their reference templates.
	Inputs map[string]string
	// Needs lists the explicit `needs:`, in file order, deduplicated.
	Needs []string
	// Upstream is every task this one depends on: Needs plus the tasks
	// its references name; sorted and deduplicated.
	Upstream []string
	// When is the `when:` expression in its normal spelling (see
	// formatExpr); "" means always.
	When    string
	Retry   cairn.RetryPolicy
	Timeout time.Duration // per attempt; 0 = none
	// Labels are what the task requires of the worker that runs it
	// (`labels:`, else the defaults'; a task's own replace them whole),
	// nil for none; Queue the queue it waits in (`queue:`), "" for the
	// default one. See cairn.Serves.
	Labels map[string]string
	Queue  string
	// Resources are the task's `resources:` (nil: none), which its type
	// enforces (cairn.TypeInfo.Resources); ResolveWith passes them in its
	// params under "resources".
	Resources *cairn.Resources
	// Pool is the pool the task takes slots of while it runs (`pool:`,
	// else the defaults'), "" for none; PoolSlots how many (`pool_slots:`,
	// 1 when Pool is set); PoolLine and PoolCol where its pool: value is
	// written (the task's or the defaults'), for a problem found once the
	// database's pools are known. Priority orders the lease queue
	// (`priority:`, else the defaults', 0). See cairn's pools.go.
	Pool              string
	PoolSlots         int
	PoolLine, PoolCol int
	Priority          int
	// Cache is the task's `cache:` as written; nil when the file does
	// not say.
	Cache *bool
	// Cached is whether the task's attempts may reuse an earlier success
	// with the same cache key (and be reused): its `cache:`, else its
	// type's default (cairn.TypeInfo.Cache, and for collect its source).
	// Decided when the file is parsed with its task types; false without
	// them unless the file says cache: true. CacheWhy says why, in words
	// (cairn show explains a miss with it).
	Cached   bool
	CacheWhy string
	// ForEach is the task's `for_each:` as written (docs/workflows.md,
	// Fan-out): a literal list ([]any, references in its strings resolved
	// at run time) or a string that is exactly one reference to a list;
	// nil for a task without one. MaxParallel is its `max_parallel:`, how
	// many of its items may be ready, leased or running at once; 0 for no
	// bound of its own.
	ForEach     any
	MaxParallel int
	// Line and Col locate the task in the file (File's, when it came
	// from a sub-workflow).
	Line, Col int
	// File is the sub-workflow file the task was written in, relative to
	// the folder of the workflow file ('/' between parts); "" for a task
	// of the workflow file itself. Its ID is then prefixed with the ids
	// of the tasks that use the file ("prep:clean").
	File string

	// bind resolves the params of a task of a sub-workflow (see uses.go).
	bind *binding

	// scripts are the with: keys its type declares program text
	// (cairn.ParamInfo.Script): ResolveWith never splices into them.
	scripts map[string]bool

	// static is what ResolveWith returns, whatever the scope, for a task
	// whose with: holds no reference, made once when the file is parsed
	// (setStatic); nil otherwise.
	static json.RawMessage
}

// Task returns the task called id, or nil.
func (w *Workflow) Task(id string) *Task {
	if i, ok := w.index().byID[id]; ok {
		return w.Tasks[i]
	}
	return nil
}

// Param returns the declaration of param name.
func (w *Workflow) Param(name string) (ParamDecl, bool) {
	for _, p := range w.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamDecl{}, false
}

// TopoOrder returns the task ids so that every task comes after all of its
// upstreams; among tasks free to go next, file order wins. It assumes an
// acyclic workflow (every Workflow that Parse returns is); tasks on a
// cycle are left out.
func (w *Workflow) TopoOrder() []string {
	return slices.Clone(w.index().order)
}

// topoOrder is Kahn's algorithm with the ready set kept as a min-heap of
// file positions: O((n + e) log n). It returns the positions of the tasks
// in order; pos gives the position of each id (upstreams it lacks are
// ignored), and when member is not nil only the tasks it accepts take
// part. Tasks on a cycle, and those after one, are left out.
func topoOrder(ts []*Task, pos map[string]int, member func(i int) bool) []int32 {
	n := len(ts)
	in := make([]bool, n)
	for i := range n {
		in[i] = member == nil || member(i)
	}
	// The upstream positions of every task, one after the other, and
	// from them the downstream edges, as one array: those of task j are
	// down[start[j]:start[j+1]].
	indeg := make([]int32, n)
	var ups []int32
	start := make([]int32, n+1)
	for i, t := range ts {
		if !in[i] {
			continue
		}
		for _, u := range t.Upstream {
			if j, ok := pos[u]; ok && in[j] {
				indeg[i]++
				start[j+1]++
				ups = append(ups, int32(j))
			}
		}
	}
	for j := range n {
		start[j+1] += start[j]
	}
	down := make([]int32, len(ups))
	fill := slices.Clone(start[:n])
	k := 0
	for i := range n {
		for _, j := range ups[k : k+int(indeg[i])] {
			down[fill[j]] = int32(i)
			fill[j]++
		}
		k += int(indeg[i])
	}
	// The tasks free at the start, in file order, are taken from a queue;
	// those freed later go to a min-heap; the lower position of the two
	// goes first. A fan of independent tasks never touches the heap.
	var queue []int32
	for i := range n {
		if in[i] && indeg[i] == 0 {
			queue = append(queue, int32(i))
		}
	}
	var freed minHeap
	order := make([]int32, 0, n)
	for len(queue) > 0 || len(freed) > 0 {
		var i int32
		if len(freed) == 0 || len(queue) > 0 && queue[0] < freed[0] {
			i, queue = queue[0], queue[1:]
		} else {
			i = freed.pop()
		}
		order = append(order, i)
		for _, d := range down[start[i]:start[i+1]] {
			if indeg[d]--; indeg[d] == 0 {
				freed.push(d)
			}
		}
	}
	return order
}

// minHeap is a binary min-heap of task positions.
type minHeap []int32

func (h *minHeap) push(x int32) {
	a := append(*h, x)
	for i := len(a) - 1; i > 0; {
		parent := (i - 1) / 2
		if a[parent] <= a[i] {
			break
		}
		a[parent], a[i] = a[i], a[parent]
		i = parent
	}
	*h = a
}

func (h *minHeap) pop() int32 {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(a) && a[l] < a[small] {
			small = l
		}
		if r := l + 1; r < len(a) && a[r] < a[small] {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return top
}
