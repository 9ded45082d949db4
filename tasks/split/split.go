package split

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// Task is the split task type. The zero value is ready to use; it holds no
// state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the split task type.
func New() *Task { return &Task{} }

// MediaType is the media type of the CSV outputs.
const MediaType = "text/csv"

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "split",
		Cache:   cairn.CacheAuto,
		Summary: "Splits a CSV data set into train, test and optional validation parts: at random, stratified by a label, or ordered by time; seeded and deterministic.",
		Params: []cairn.ParamInfo{
			{Name: "strategy", Kind: cairn.KindString, Default: DefaultStrategy, Doc: "random, stratified (keeps the class proportions of label in every part) or time (oldest rows train, newest test)"},
			{Name: "label", Kind: cairn.KindString, Doc: "the class column; required for stratified; with any strategy, the class balance of each part is reported"},
			{Name: "time_column", Kind: cairn.KindString, Doc: "a numeric or datetime column ordering the rows; required for strategy time, and allowed only then"},
			{Name: "test_size", Kind: cairn.KindFloat, Default: DefaultTestSize, Doc: "fraction of the rows in test, in (0, 1); the count is ceil(test_size × rows), as scikit-learn's train_test_split gives"},
			{Name: "validation_size", Kind: cairn.KindFloat, Default: 0.0, Doc: "fraction of the rows in validation, in [0, 1); 0 for none; test_size + validation_size must be below 1"},
			{Name: "seed", Kind: cairn.KindInt, Default: 0, Doc: "seed of the random and stratified shuffles (a non-negative integer); the same seed gives the same split everywhere"},
		},
		Inputs: []cairn.PortInfo{
			{Name: "data", Artifact: true, Required: true, Doc: "the data set: CSV with a header row, as collect and clean write it"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "train", Artifact: true, Doc: "the training rows (text/csv), in their original order"},
			{Name: "test", Artifact: true, Doc: "the test rows (text/csv), in their original order"},
			{Name: "validation", Artifact: true, Doc: "the validation rows (text/csv), in their original order; the header only when validation_size is 0"},
			{Name: "rows", Doc: `the row counts: {"train": n, "test": n, "validation": n}`},
			{Name: "balance", Doc: "with a label, the class counts of each part ({label, train, test, validation}, each {rows, counts: [{class, count}]}); null without a label"},
		},
	}
}

// Rows is the `rows` output.
type Rows struct {
	Train      int `json:"train"`
	Test       int `json:"test"`
	Validation int `json:"validation"`
}

// Balance is the `balance` output: the class counts of each part, every
// class (ascending) listed in every part.
type Balance struct {
	Label      string                      `json:"label"`
	Train      dataset.PartBalance[string] `json:"train"`
	Test       dataset.PartBalance[string] `json:"test"`
	Validation dataset.PartBalance[string] `json:"validation"`
}

// Run splits the `data` input; see the package documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	p, err := decode(req)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("split %s: not started: %w", id, context.Cause(ctx))
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	ref, ok := req.Inputs["data"]
	if !ok {
		return tasks.Result{}, cairn.Permanentf("split %s: input data is required: give the data set to split under inputs:", id)
	}
	if env.Artifacts == nil {
		return tasks.Result{}, cairn.Permanentf("split %s: the attempt has no artifact store", id)
	}

	f, err := read(ctx, env.Artifacts, ref)
	if err != nil {
		return tasks.Result{}, inputErr(ctx, id, err)
	}
	n := f.Rows()
	fmt.Fprintf(log, "split: read %s × %s from data (%s, %d bytes)\n", tasks.Plural(n, "row"), tasks.Plural(len(f.Columns), "column"), ref.Digest, ref.Size)
	if n == 0 {
		return tasks.Result{}, cairn.Permanentf("split %s: input data is empty: it has a header (%s) but no rows", id, strings.Join(f.Names(), ", "))
	}

	var labels []string
	if p.Label != "" {
		col, err := column(f, "label", p.Label)
		if err != nil {
			return tasks.Result{}, cairn.Permanentf("split %s: %w", id, err)
		}
		labels = make([]string, n)
		for i := range labels {
			labels[i] = col.Value(i)
		}
	}

	var train, test, val []int
	switch p.Strategy {
	case Random:
		fmt.Fprintf(log, "split: random, test_size %v, validation_size %v, seed %d\n", p.TestSize, p.ValSize, p.Seed)
		train, test, val, err = dataset.RandomSplit(n, p.TestSize, p.ValSize, p.Seed)
	case Stratified:
		fmt.Fprintf(log, "split: stratified by %q, test_size %v, validation_size %v, seed %d\n", p.Label, p.TestSize, p.ValSize, p.Seed)
		if err := noMissing(f, p.Label); err != nil {
			return tasks.Result{}, cairn.Permanentf("split %s: label %w; drop those rows first (clean: drop rows missing the label)", id, err)
		}
		train, test, val, err = dataset.StratifiedSplit(labels, p.TestSize, p.ValSize, p.Seed)
	case Time:
		fmt.Fprintf(log, "split: by time column %q, test_size %v, validation_size %v (oldest rows train, newest test)\n", p.TimeColumn, p.TestSize, p.ValSize)
		times, terr := timeValues(f, p.TimeColumn)
		if terr != nil {
			return tasks.Result{}, cairn.Permanentf("split %s: %w", id, terr)
		}
		train, test, val, err = dataset.TimeSplit(times, p.TestSize, p.ValSize)
	}
	if err != nil {
		hint := ""
		if p.Strategy == Stratified && errors.Is(err, dataset.ErrTooFewRows) {
			hint = " (merge or drop rare classes, or use strategy random)"
		}
		return tasks.Result{}, cairn.Permanentf("split %s: cannot split %s: %w%s", id, tasks.Plural(n, "row"), err, hint)
	}
	if p.Strategy == Time {
		logTimeRanges(log, f, p.TimeColumn, train, test, val)
	}

	rows := Rows{Train: len(train), Test: len(test), Validation: len(val)}
	fmt.Fprintf(log, "split: train %s (%s), test %s (%s), validation %s (%s)\n", tasks.Plural(rows.Train, "row"), pct(rows.Train, n),
		tasks.Plural(rows.Test, "row"), pct(rows.Test, n), tasks.Plural(rows.Validation, "row"), pct(rows.Validation, n))

	res := tasks.Result{
		Outputs: map[string]json.RawMessage{},
		Metrics: map[string]float64{
			"train_rows":      float64(rows.Train),
			"test_rows":       float64(rows.Test),
			"validation_rows": float64(rows.Validation),
		},
	}
	for _, part := range []struct {
		name string
		rows []int
	}{{"train", train}, {"test", test}, {"validation", val}} {
		if err := ctx.Err(); err != nil {
			return tasks.Result{}, fmt.Errorf("split %s: stopped: %w", id, context.Cause(ctx))
		}
		ref, err := store(ctx, env.Artifacts, f.Select(part.rows))
		if err != nil {
			if errors.Is(err, dataset.ErrShape) || errors.Is(err, dataset.ErrNonFinite) {
				return tasks.Result{}, cairn.Permanentf("split %s: write %s: %w", id, part.name, err)
			}
			return tasks.Result{}, fmt.Errorf("split %s: store %s: %w", id, part.name, err)
		}
		res.Outputs[part.name] = ref.JSON()
	}
	res.Outputs["rows"] = mustJSON(rows)

	if labels == nil {
		res.Outputs["balance"] = json.RawMessage("null")
		return res, nil
	}
	parts, err := dataset.ClassBalance(labels, train, test, val)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("split %s: class balance: %w", id, err)
	}
	bal := Balance{Label: p.Label, Train: parts[0], Test: parts[1], Validation: parts[2]}
	logBalance(log, bal)
	res.Outputs["balance"] = mustJSON(bal)
	return res, nil
}

// decode reads the request's params with the same checks as
// ValidateParams, references being resolved by now.
func decode(req tasks.Request) (params, error) {
	m := map[string]any{}
	if len(bytes.TrimSpace(req.Params)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Params))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return params{}, cairn.Permanentf("split %s: params: want a JSON object: %w", req.TaskID, err)
		}
		if m == nil { // JSON null
			m = map[string]any{}
		}
	}
	p, errs := parseParams(m, false)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
			if e.Hint != "" {
				msgs[i] += " (" + e.Hint + ")"
			}
		}
		return params{}, cairn.Permanentf("split %s: params: %s", req.TaskID, strings.Join(msgs, "; "))
	}
	return p, nil
}

func read(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef) (*dataset.Frame, error) {
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := dataset.ReadCSV(tasks.ContextReader(ctx, rc), dataset.ReadOptions{AllowInf: true, MaxBytes: -1})
	return f, tasks.ReadErr(ctx, rc, err)
}

// inputErr classifies an error reading the input: malformed data and a
// missing artifact are permanent, the rest (I/O) retryable.
func inputErr(ctx context.Context, id string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("split %s: reading data stopped: %w", id, context.Cause(ctx))
	}
	for _, sentinel := range []error{dataset.ErrFormat, dataset.ErrHeader, dataset.ErrType, dataset.ErrNonFinite, dataset.ErrTooLarge, dataset.ErrSchema} {
		if errors.Is(err, sentinel) {
			return cairn.Permanentf("split %s: input data is not a readable CSV data set: %w", id, err)
		}
	}
	if errors.Is(err, cairn.ErrNotFound) {
		return cairn.Permanentf("split %s: input data: %w", id, err)
	}
	return fmt.Errorf("split %s: reading input data: %w", id, err)
}

// column finds the column param names, suggesting the nearest name when
// there is none.
func column(f *dataset.Frame, param, name string) (*dataset.Column, error) {
	if c, ok := f.Col(name); ok {
		return c, nil
	}
	names := f.Names()
	msg := fmt.Sprintf("%s column %q not found", param, name)
	if near := tasks.Nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	shown := names
	if len(shown) > 20 {
		shown = append(shown[:20:20], fmt.Sprintf("… %d more", len(names)-20))
	}
	return nil, fmt.Errorf("%s (columns: %s)", msg, strings.Join(shown, ", "))
}

// noMissing fails for a column with missing values, naming the first.
func noMissing(f *dataset.Frame, name string) error {
	c, _ := f.Col(name)
	count, first := 0, -1
	for i := 0; i < c.Len(); i++ {
		if c.IsMissing(i) {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if count > 0 {
		return fmt.Errorf("column %q has %d missing values (the first in data row %d)", name, count, first+1)
	}
	return nil
}

func timeValues(f *dataset.Frame, name string) ([]float64, error) {
	c, err := column(f, "time", name)
	if err != nil {
		return nil, err
	}
	if c.Kind != dataset.Numeric && c.Kind != dataset.Datetime {
		example := ""
		for i := 0; i < c.Len(); i++ {
			if !c.IsMissing(i) {
				example = fmt.Sprintf(" (data row %d holds %q)", i+1, c.Value(i))
				break
			}
		}
		return nil, fmt.Errorf("time column %q is %s%s; want a numeric column or datetimes such as 2024-01-31 or RFC 3339", name, c.Kind, example)
	}
	if err := noMissing(f, name); err != nil {
		return nil, fmt.Errorf("time %w: rows without a time cannot be ordered", err)
	}
	return c.Num, nil
}

func logTimeRanges(w io.Writer, f *dataset.Frame, name string, train, test, val []int) {
	c, _ := f.Col(name)
	span := func(rows []int) string {
		if len(rows) == 0 {
			return "none"
		}
		lo, hi := rows[0], rows[0]
		for _, r := range rows {
			if c.Num[r] < c.Num[lo] {
				lo = r
			}
			if c.Num[r] > c.Num[hi] {
				hi = r
			}
		}
		return c.Value(lo) + " … " + c.Value(hi)
	}
	fmt.Fprintf(w, "split: %s ranges: train %s; validation %s; test %s\n", name, span(train), span(val), span(test))
}

func logBalance(w io.Writer, b Balance) {
	fmt.Fprintf(w, "split: class balance of %q:\n", b.Label)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  class\ttrain\t\ttest\t\tvalidation\t\t\n")
	for j, cc := range b.Train.Counts {
		class := cc.Class
		if class == "" {
			class = "(missing)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%d\t%s\t\n", class,
			cc.Count, pct(cc.Count, b.Train.Rows),
			b.Test.Counts[j].Count, pct(b.Test.Counts[j].Count, b.Test.Rows),
			b.Validation.Counts[j].Count, pct(b.Validation.Counts[j].Count, b.Validation.Rows))
	}
	fmt.Fprintf(tw, "  total\t%d\t\t%d\t\t%d\t\t\n", b.Train.Rows, b.Test.Rows, b.Validation.Rows)
	tw.Flush()
}

func pct(k, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(n))
}

func store(ctx context.Context, store tasks.Artifacts, f *dataset.Frame) (cairn.ArtifactRef, error) {
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, f); err != nil {
		return cairn.ArtifactRef{}, err
	}
	return store.Put(ctx, MediaType, &buf)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and ints
	}
	return b
}
