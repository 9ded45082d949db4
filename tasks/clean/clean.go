package clean

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// Task is the clean task type. The zero value is ready to use; it holds no
// state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the clean task type.
func New() *Task { return &Task{} }

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "clean",
		Cache:   cairn.CacheAuto,
		Summary: "Row-level cleaning of a CSV data set (type coercion, trimming, dedupe, missing labels, fixed value-range rules) with a report of exactly what changed; learns no statistics from the data.",
		Params: []cairn.ParamInfo{
			{Name: "types", Kind: cairn.KindMap, Doc: "column -> kind (numeric, categorical, boolean, datetime): coerce the column; a row with a value that does not parse is dropped and counted (or fails the task if strict)"},
			{Name: "strict", Kind: cairn.KindBool, Default: false, Doc: "fail, naming the line, instead of dropping a row whose value does not parse as its kind in types"},
			{Name: "trim", Kind: cairn.KindBool, Default: true, Doc: "trim leading and trailing white space from every field before typing"},
			{Name: "drop_duplicates", Kind: cairn.KindBool, Default: false, Doc: "drop rows equal to an earlier row in every column, keeping the first"},
			{Name: "drop_missing_label", Kind: cairn.KindString, Doc: "the label column: rows where it is missing are dropped"},
			{Name: "drop_missing", Kind: cairn.KindList, Doc: "columns: rows missing any of them are dropped"},
			{Name: "rules", Kind: cairn.KindList, Doc: "value-range rules on numeric columns, applied in order: {column, min, max, action: clip|drop}; at least one of min and max; bounds are fixed, never learnt from the data"},
		},
		Inputs: []cairn.PortInfo{
			{Name: "data", Artifact: true, Required: true, Doc: "the data set: CSV with a header row"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "data", Artifact: true, Doc: "the cleaned data set (text/csv, written by dataset.WriteCSV)"},
			{Name: "report", Doc: "JSON object: rows_in, rows_out, rows_dropped, rows dropped by step, and per step what changed per column"},
		},
	}
}

// Rule is a value-range rule.
type Rule struct {
	Column string   `json:"column"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	Action string   `json:"action"`
}

type params struct {
	Types            map[string]dataset.Kind `json:"types"`
	Strict           bool                    `json:"strict"`
	Trim             *bool                   `json:"trim"`
	DropDuplicates   bool                    `json:"drop_duplicates"`
	DropMissingLabel string                  `json:"drop_missing_label"`
	DropMissing      []string                `json:"drop_missing"`
	Rules            []Rule                  `json:"rules"`
}

// check reports the first problem with decoded params that needs no data.
func (p *params) check() error {
	for _, name := range sortedKeys(p.Types) {
		if !p.Types[name].Valid() {
			return fmt.Errorf("types: column %q: unknown kind %q (want numeric, categorical, boolean or datetime)", name, p.Types[name])
		}
	}
	for i, c := range p.DropMissing {
		if c == "" {
			return fmt.Errorf("drop_missing[%d]: empty column name", i)
		}
	}
	for i, r := range p.Rules {
		if err := checkRule(r, p.Types); err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
	}
	return nil
}

func checkRule(r Rule, types map[string]dataset.Kind) error {
	switch {
	case r.Column == "":
		return errors.New("column is required")
	case r.Action != "clip" && r.Action != "drop":
		return fmt.Errorf("column %q: action %q, want clip or drop", r.Column, r.Action)
	case r.Min == nil && r.Max == nil:
		return fmt.Errorf("column %q: give min, max or both", r.Column)
	case r.Min != nil && !finite(*r.Min), r.Max != nil && !finite(*r.Max):
		return fmt.Errorf("column %q: bounds must be finite numbers", r.Column)
	case r.Min != nil && r.Max != nil && *r.Min > *r.Max:
		return fmt.Errorf("column %q: min %v > max %v", r.Column, *r.Min, *r.Max)
	}
	if k, ok := types[r.Column]; ok && k != dataset.Numeric {
		return fmt.Errorf("column %q: a value-range rule needs a numeric column, types makes it %s", r.Column, k)
	}
	return nil
}

// ValidateParams checks the params as written; values holding a ${{ }}
// reference are left for Run.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	add := func(key, msg, hint string) { errs = append(errs, tasks.ParamError{Key: key, Msg: msg, Hint: hint}) }
	types := map[string]dataset.Kind{}
	if v, ok := m["types"]; ok && !tasks.IsRef(v) {
		tm, ok := v.(map[string]any)
		if !ok {
			add("types", "want a map of column to kind", "")
		}
		for _, name := range sortedKeys(tm) {
			s, ok := tm[name].(string)
			switch {
			case !ok:
				add("types", fmt.Sprintf("column %q: kind must be a string", name), "numeric, categorical, boolean or datetime")
			case tasks.IsRef(s):
			case !dataset.Kind(s).Valid():
				add("types", fmt.Sprintf("column %q: unknown kind %q", name, s), "numeric, categorical, boolean or datetime")
			default:
				types[name] = dataset.Kind(s)
			}
		}
	}
	if v, ok := m["drop_missing"]; ok && !tasks.IsRef(v) {
		l, ok := v.([]any)
		if !ok {
			add("drop_missing", "want a list of column names", "")
		}
		for i, c := range l {
			if s, ok := c.(string); !ok || s == "" {
				add("drop_missing", fmt.Sprintf("item %d: want a column name", i), "")
			}
		}
	}
	if v, ok := m["drop_missing_label"]; ok {
		if s, ok := v.(string); !ok || s == "" {
			add("drop_missing_label", "want a column name", "")
		}
	}
	if v, ok := m["rules"]; ok && !tasks.IsRef(v) {
		l, ok := v.([]any)
		if !ok {
			add("rules", "want a list of {column, min, max, action}", "")
		}
		for i, item := range l {
			if tasks.IsRef(item) {
				continue
			}
			b, err := json.Marshal(item)
			if err != nil || bytes.Contains(b, []byte("${{")) {
				continue
			}
			var r Rule
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				add("rules", fmt.Sprintf("item %d: %v", i, err), "a rule is {column, min, max, action: clip|drop}")
				continue
			}
			if err := checkRule(r, types); err != nil {
				add("rules", fmt.Sprintf("item %d: %v", i, err), "")
			}
		}
	}
	return errs
}

// Run cleans the `data` input; see the package documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p params
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if err := p.check(); err != nil {
		return tasks.Result{}, cairn.Permanentf("clean %s: params: %w", req.TaskID, err)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("clean %s: not started: %w", req.TaskID, context.Cause(ctx))
	}
	ref, ok := req.Inputs["data"]
	if !ok {
		return tasks.Result{}, cairn.Permanentf("clean %s: input data is required", req.TaskID)
	}
	if env.Artifacts == nil {
		return tasks.Result{}, cairn.Permanentf("clean %s: the attempt has no artifact store", req.TaskID)
	}
	raw, err := readInput(ctx, env.Artifacts, ref)
	if err != nil {
		if errors.Is(err, cairn.ErrNotFound) || errors.Is(err, dataset.ErrTooLarge) {
			return tasks.Result{}, cairn.Permanentf("clean %s: input data: %w", req.TaskID, err)
		}
		return tasks.Result{}, fmt.Errorf("clean %s: input data: %w", req.TaskID, err)
	}
	out, rep, err := Clean(ctx, raw, Options{
		Types:            p.Types,
		Strict:           p.Strict,
		Trim:             p.Trim == nil || *p.Trim,
		DropDuplicates:   p.DropDuplicates,
		DropMissingLabel: p.DropMissingLabel,
		DropMissing:      p.DropMissing,
		Rules:            p.Rules,
	})
	if err != nil {
		if ctx.Err() != nil {
			return tasks.Result{}, fmt.Errorf("clean %s: %w", req.TaskID, err)
		}
		return tasks.Result{}, cairn.Permanentf("clean %s: %w", req.TaskID, err)
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, out); err != nil {
		return tasks.Result{}, cairn.Permanentf("clean %s: write output: %w", req.TaskID, err)
	}
	dataRef, err := env.Artifacts.Put(ctx, "text/csv", &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("clean %s: store output data: %w", req.TaskID, err)
	}
	repJSON, err := json.Marshal(rep)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("clean %s: report: %w", req.TaskID, err)
	}
	if env.Log != nil {
		fmt.Fprintf(env.Log, "clean: %s in, %s out, %d dropped\n", tasks.Plural(rep.RowsIn, "row"), tasks.Plural(rep.RowsOut, "row"), rep.RowsDropped)
		for _, s := range rep.Steps {
			if s.RowsDropped > 0 {
				fmt.Fprintf(env.Log, "clean: %s dropped %s (first at lines %v)\n", s.Step, tasks.Plural(s.RowsDropped, "row"), s.FirstLines)
			}
		}
	}
	return tasks.Result{
		Outputs: map[string]json.RawMessage{"data": dataRef.JSON(), "report": repJSON},
		Metrics: map[string]float64{
			"rows_in":      float64(rep.RowsIn),
			"rows_out":     float64(rep.RowsOut),
			"rows_dropped": float64(rep.RowsDropped),
		},
	}, nil
}

func readInput(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef) ([]byte, error) {
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, dataset.DefaultMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > dataset.DefaultMaxBytes {
		return nil, fmt.Errorf("longer than %d bytes: %w", dataset.DefaultMaxBytes, dataset.ErrTooLarge)
	}
	return b, nil
}

// Options are Clean's settings; the task's params map onto them.
type Options struct {
	Types            map[string]dataset.Kind
	Strict           bool
	Trim             bool
	DropDuplicates   bool
	DropMissingLabel string
	DropMissing      []string
	Rules            []Rule
}

// Report is what Clean changed.
type Report struct {
	RowsIn      int            `json:"rows_in"`
	RowsOut     int            `json:"rows_out"`
	RowsDropped int            `json:"rows_dropped"`
	DroppedBy   map[string]int `json:"dropped_by_step"`
	Steps       []Step         `json:"steps"`
	Columns     []ColumnReport `json:"columns"`
}

// Step is one step's part of a Report. Per-column maps hold only columns
// with a non-zero count.
type Step struct {
	Step        string `json:"step"`
	RowsDropped int    `json:"rows_dropped"`
	// FirstLines are the input line numbers of the first (up to 10) rows
	// the step dropped.
	FirstLines []int `json:"first_lines,omitempty"`
	// trim: values changed; types: values whose written form changed.
	ValuesTrimmed map[string]int `json:"values_trimmed,omitempty"`
	ValuesCoerced map[string]int `json:"values_coerced,omitempty"`
	// types: values that did not parse; drop_missing(_label): missing
	// values among the rows the step saw.
	InvalidValues map[string]int `json:"invalid_values,omitempty"`
	MissingValues map[string]int `json:"missing_values,omitempty"`
	// rules: values clipped, and rows dropped, per column.
	ValuesClipped map[string]int `json:"values_clipped,omitempty"`
	DroppedByRule map[string]int `json:"rows_dropped_by_column,omitempty"`
}

// ColumnReport is a column of the output.
type ColumnReport struct {
	Name    string       `json:"name"`
	Kind    dataset.Kind `json:"kind"`
	Missing int          `json:"missing"`
}

const maxLines = 10

// table is the data being cleaned: raw (trimmed) strings column by column,
// which rows are still kept, and the input line of every row.
type table struct {
	names []string
	vals  [][]string // [column][row]
	miss  [][]bool
	lines []int
	keep  []bool
	ctx   context.Context
}

func (t *table) rows() int { return len(t.lines) }

// each calls fn for every kept row, checking ctx now and then.
func (t *table) each(fn func(i int)) error {
	for i, k := range t.keep {
		if i&0xfff == 0 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("cancelled: %w", context.Cause(t.ctx))
			}
		}
		if k {
			fn(i)
		}
	}
	return nil
}

// drop drops row i for step s.
func (t *table) drop(i int, s *Step) {
	t.keep[i] = false
	s.RowsDropped++
	if len(s.FirstLines) < maxLines {
		s.FirstLines = append(s.FirstLines, t.lines[i])
	}
}

// Clean cleans the CSV bytes in raw as opts say.
func Clean(ctx context.Context, raw []byte, opts Options) (*dataset.Frame, *Report, error) {
	t, err := read(raw)
	if err != nil {
		return nil, nil, err
	}
	t.ctx = ctx
	index := make(map[string]int, len(t.names))
	for j, n := range t.names {
		index[n] = j
	}
	col := func(what, name string) (int, error) {
		j, ok := index[name]
		if !ok {
			msg := fmt.Sprintf("%s: column %q is not in the input", what, name)
			if s := tasks.Nearest(name, t.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return 0, errors.New(msg + "; columns: " + strings.Join(t.names, ", "))
		}
		return j, nil
	}
	// Resolve every named column before doing anything.
	for _, name := range sortedKeys(opts.Types) {
		if _, err := col("types", name); err != nil {
			return nil, nil, err
		}
	}
	label := -1
	if opts.DropMissingLabel != "" {
		if label, err = col("drop_missing_label", opts.DropMissingLabel); err != nil {
			return nil, nil, err
		}
	}
	var dropMissing []int
	for _, name := range opts.DropMissing {
		j, err := col("drop_missing", name)
		if err != nil {
			return nil, nil, err
		}
		dropMissing = append(dropMissing, j)
	}
	ruleCols := make([]int, len(opts.Rules))
	for i, r := range opts.Rules {
		if ruleCols[i], err = col(fmt.Sprintf("rules[%d]", i), r.Column); err != nil {
			return nil, nil, err
		}
	}
	if t.rows() == 0 {
		return nil, nil, errors.New("the input has a header but no rows")
	}

	rep := &Report{RowsIn: t.rows(), DroppedBy: map[string]int{}}
	addStep := func(s Step) {
		rep.Steps = append(rep.Steps, s)
		rep.DroppedBy[s.Step] = s.RowsDropped
	}

	// 2. trim, then missing markers.
	if opts.Trim {
		s := Step{Step: "trim", ValuesTrimmed: map[string]int{}}
		for j, vals := range t.vals {
			for i, v := range vals {
				if tv := strings.TrimSpace(v); tv != v {
					vals[i] = tv
					s.ValuesTrimmed[t.names[j]]++
				}
			}
		}
		addStep(s)
	}
	missing := dataset.DefaultMissing()
	for j, vals := range t.vals {
		for i, v := range vals {
			if isMissing(v, missing) {
				t.miss[j][i] = true
				vals[i] = ""
			}
		}
	}

	// 3. drop_missing_label.
	if label >= 0 {
		s := Step{Step: "drop_missing_label", MissingValues: map[string]int{}}
		if err := t.each(func(i int) {
			if t.miss[label][i] {
				s.MissingValues[t.names[label]]++
				t.drop(i, &s)
			}
		}); err != nil {
			return nil, nil, err
		}
		addStep(s)
	}

	// 4. drop_missing.
	if len(opts.DropMissing) > 0 {
		s := Step{Step: "drop_missing", MissingValues: map[string]int{}}
		if err := t.each(func(i int) {
			gone := false
			for _, j := range dropMissing {
				if t.miss[j][i] {
					s.MissingValues[t.names[j]]++
					gone = true
				}
			}
			if gone {
				t.drop(i, &s)
			}
		}); err != nil {
			return nil, nil, err
		}
		addStep(s)
	}

	// 5. types: coerce the declared columns.
	kinds := make([]dataset.Kind, len(t.names))
	nums := make([][]float64, len(t.names))
	if len(opts.Types) > 0 {
		s := Step{Step: "types", InvalidValues: map[string]int{}}
		for j, name := range t.names {
			k, ok := opts.Types[name]
			if !ok {
				continue
			}
			kinds[j] = k
			if k != dataset.Categorical {
				nums[j] = make([]float64, t.rows())
			}
		}
		var strictErr error
		if err := t.each(func(i int) {
			if strictErr != nil {
				return
			}
			bad := false
			for j, k := range kinds {
				if k == "" || k == dataset.Categorical || t.miss[j][i] {
					continue
				}
				v, ok := parse(k, t.vals[j][i])
				if !ok {
					s.InvalidValues[t.names[j]]++
					if opts.Strict && strictErr == nil {
						strictErr = fmt.Errorf("line %d, column %q: %q is not %s (strict is set; without it the row would be dropped)", t.lines[i], t.names[j], t.vals[j][i], kindPhrase[k])
					}
					bad = true
					continue
				}
				nums[j][i] = v
			}
			if bad {
				t.drop(i, &s)
			}
		}); err != nil {
			return nil, nil, err
		}
		if strictErr != nil {
			return nil, nil, strictErr
		}
		addStep(s)
	}
	// The other columns get the kind ReadCSV would infer from the kept rows.
	for j := range t.names {
		if kinds[j] != "" {
			continue
		}
		k, vals, err := t.infer(j)
		if err != nil {
			return nil, nil, err
		}
		kinds[j], nums[j] = k, vals
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("cancelled: %w", context.Cause(ctx))
	}

	// Build the typed columns over all rows (dropped ones are selected away
	// at the end); count coerced values of declared columns.
	cols := make([]*dataset.Column, len(t.names))
	for j, name := range t.names {
		c := &dataset.Column{Name: name, Kind: kinds[j], Missing: t.miss[j]}
		if kinds[j] == dataset.Categorical {
			c.Str = t.vals[j]
		} else {
			c.Num = nums[j]
		}
		cols[j] = c
	}
	if len(opts.Types) > 0 {
		s := &rep.Steps[len(rep.Steps)-1]
		s.ValuesCoerced = map[string]int{}
		if err := t.each(func(i int) {
			for j, c := range cols {
				if _, ok := opts.Types[c.Name]; ok && !c.IsMissing(i) && c.Value(i) != t.vals[j][i] {
					s.ValuesCoerced[c.Name]++
				}
			}
		}); err != nil {
			return nil, nil, err
		}
	}

	// 6. drop_duplicates.
	if opts.DropDuplicates {
		s := Step{Step: "drop_duplicates"}
		seen := map[string]bool{}
		var key []byte
		if err := t.each(func(i int) {
			key = key[:0]
			for _, c := range cols {
				if c.IsMissing(i) {
					key = append(key, '-')
					continue
				}
				v := c.Value(i)
				key = strconv.AppendInt(key, int64(len(v)), 10)
				key = append(key, ':')
				key = append(key, v...)
			}
			if seen[string(key)] {
				t.drop(i, &s)
				return
			}
			seen[string(key)] = true
		}); err != nil {
			return nil, nil, err
		}
		addStep(s)
	}

	// 7. rules.
	if len(opts.Rules) > 0 {
		s := Step{Step: "rules", ValuesClipped: map[string]int{}, DroppedByRule: map[string]int{}}
		for i, r := range opts.Rules {
			if c := cols[ruleCols[i]]; c.Kind != dataset.Numeric {
				return nil, nil, fmt.Errorf("rules[%d]: column %q is %s, a value-range rule needs a numeric column (set types: {%s: numeric} to coerce it)", i, r.Column, c.Kind, r.Column)
			}
		}
		// A row's rules run in order on its values; its clips are kept
		// only if no rule drops the row.
		type clip struct {
			c *dataset.Column
			v float64
		}
		var clips []clip
		if err := t.each(func(i int) {
			clips = clips[:0]
			val := func(c *dataset.Column) float64 {
				for k := len(clips) - 1; k >= 0; k-- {
					if clips[k].c == c {
						return clips[k].v
					}
				}
				return c.Num[i]
			}
			for ri, r := range opts.Rules {
				c := cols[ruleCols[ri]]
				if c.IsMissing(i) {
					continue
				}
				v := val(c)
				switch {
				case r.Min != nil && v < *r.Min:
					v = *r.Min
				case r.Max != nil && v > *r.Max:
					v = *r.Max
				default:
					continue
				}
				if r.Action == "drop" {
					s.DroppedByRule[c.Name]++
					t.drop(i, &s)
					return
				}
				clips = append(clips, clip{c, v})
			}
			if len(clips) == 0 {
				return
			}
			// A value clipped by two rules counts once, at its last value.
			done := map[*dataset.Column]bool{}
			for k := len(clips) - 1; k >= 0; k-- {
				cl := clips[k]
				if done[cl.c] {
					continue
				}
				done[cl.c] = true
				cl.c.Num[i] = cl.v
				s.ValuesClipped[cl.c.Name]++
			}
		}); err != nil {
			return nil, nil, err
		}
		addStep(s)
	}

	var kept []int
	for i, k := range t.keep {
		if k {
			kept = append(kept, i)
		}
	}
	rep.RowsOut = len(kept)
	rep.RowsDropped = rep.RowsIn - rep.RowsOut
	if len(kept) == 0 {
		worst := rep.Steps[0]
		for _, s := range rep.Steps[1:] {
			if s.RowsDropped > worst.RowsDropped {
				worst = s
			}
		}
		return nil, rep, fmt.Errorf("no rows left after cleaning: %s removed the most (%d of %d rows)", worst.Step, worst.RowsDropped, rep.RowsIn)
	}
	for j := range cols {
		if cols[j].Missing != nil && !anyTrue(t.miss[j]) {
			cols[j].Missing = nil
		}
	}
	out := (&dataset.Frame{Columns: cols}).Select(kept)
	for _, c := range out.Columns {
		cr := ColumnReport{Name: c.Name, Kind: c.Kind}
		for i := range c.Len() {
			if c.IsMissing(i) {
				cr.Missing++
			}
		}
		rep.Columns = append(rep.Columns, cr)
	}
	return out, rep, nil
}

// read reads raw as CSV with every field a string, and the line of every
// record. Format errors are dataset.ReadCSV's, with its line numbers.
func read(raw []byte) (*table, error) {
	body := bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, herr := cr.Read()
	schema := map[string]dataset.Kind{}
	if herr == nil {
		for _, n := range header {
			schema[n] = dataset.Categorical
		}
	} else {
		schema = nil
	}
	// Only an empty field is missing here: the missing markers are
	// matched after trimming.
	f, err := dataset.ReadCSV(bytes.NewReader(raw), dataset.ReadOptions{Schema: schema, Missing: []string{}, MaxBytes: -1})
	if err != nil {
		return nil, fmt.Errorf("input data is not a readable CSV: %w", err)
	}
	if herr != nil {
		return nil, fmt.Errorf("input data is not a readable CSV: %w", herr)
	}
	var lines []int
	for {
		_, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("input data is not a readable CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		lines = append(lines, line)
	}
	if len(lines) != f.Rows() {
		return nil, fmt.Errorf("input data: %d records but %d rows read", len(lines), f.Rows())
	}
	t := &table{lines: lines, keep: make([]bool, len(lines))}
	for i := range t.keep {
		t.keep[i] = true
	}
	for _, c := range f.Columns {
		t.names = append(t.names, c.Name)
		t.vals = append(t.vals, c.Str)
		m := c.Missing
		if m == nil {
			m = make([]bool, len(lines))
		}
		t.miss = append(t.miss, m)
	}
	return t, nil
}

// infer returns column j's kind over the kept rows, as dataset.ReadCSV
// infers it, and its values for a non-categorical kind. Inferring is
// stricter than coercing (types:): a number must be one as written (007
// and an integer past 2^53 stay text) and a boolean must be spelled true
// or false (yes/no, 1/0, True stay as written), so that a column nobody
// asked to type is written back as the user spelled it.
func (t *table) infer(j int) (dataset.Kind, []float64, error) {
	for _, k := range []dataset.Kind{dataset.Numeric, dataset.Boolean, dataset.Datetime} {
		vals := make([]float64, t.rows())
		ok, inf := true, -1
		for i, v := range t.vals[j] {
			if !t.keep[i] || t.miss[j][i] {
				continue
			}
			x, good := inferValue(k, v)
			if good && k == dataset.Numeric && math.IsInf(x, 0) {
				if inf < 0 {
					inf = i
				}
				continue
			}
			if !good {
				ok = false
				break
			}
			vals[i] = x
		}
		if !ok {
			continue
		}
		if inf >= 0 {
			return "", nil, fmt.Errorf("line %d, column %q: %q is infinite (set types: {%s: numeric} to drop such rows)", t.lines[inf], t.names[j], t.vals[j][inf], t.names[j])
		}
		return k, vals, nil
	}
	return dataset.Categorical, nil, nil
}

var kindPhrase = map[dataset.Kind]string{
	dataset.Numeric:  "a finite number",
	dataset.Boolean:  "a boolean (true, false, yes, no, 1, 0)",
	dataset.Datetime: `a datetime (RFC 3339, "2006-01-02" or "2006-01-02 15:04:05")`,
}

// inferValue parses s as kind k the way dataset.ReadCSV reads a column
// whose kind it infers: a number as dataset.InferNumber reads it (±Inf
// included, for infer to refuse), a boolean only as true or false.
func inferValue(k dataset.Kind, s string) (float64, bool) {
	switch k {
	case dataset.Numeric:
		return dataset.InferNumber([]byte(s))
	case dataset.Boolean:
		return dataset.InferBool([]byte(s))
	}
	return parse(k, s)
}

// parse parses s as kind k the way package dataset does for a declared
// column (types:), except that a number must be finite.
func parse(k dataset.Kind, s string) (float64, bool) {
	switch k {
	case dataset.Numeric:
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil && finite(v)
	case dataset.Boolean:
		switch {
		case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes"):
			return 1, true
		case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "no"):
			return 0, true
		}
		return 0, false
	case dataset.Datetime:
		if len(s) < 10 || s[4] != '-' {
			return 0, false
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02", "2006-01-02 15:04:05"} {
			if tm, err := time.Parse(layout, s); err == nil {
				return float64(tm.Unix()) + float64(tm.Nanosecond())/1e9, true
			}
		}
		return 0, false
	}
	return 0, true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func isMissing(s string, markers []string) bool {
	for _, m := range markers {
		if s == m {
			return true
		}
	}
	return s == ""
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
