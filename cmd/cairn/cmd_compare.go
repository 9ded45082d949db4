package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

func cmdCompare(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("compare", "RUN RUN... [flags]", "Compare two runs or more: the params that differ (the run's, and each task's as resolved),\n"+
		"every task's metrics side by side with the difference from the first run, the artifact outputs\n"+
		"whose digests differ (and so the tasks whose results differ), and the tasks whose states differ.\n"+
		"A RUN is a run id or a unique prefix of one (4 characters or more). With --server, runs of a cairn server.")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"runs", "params", "metrics", "outputs", "tasks", "states"} (docs/api.md)`)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) < 2 {
		return usageError{"want two run ids or more"}
	}
	src, err := a.source(ctx, rf, false)
	if err != nil {
		return err
	}
	defer src.close()
	cmp, err := src.compare(ctx, pos)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, cmp)
	}
	return writeComparison(a.stdout, cmp)
}

// compare on the home's database.
func (l *localSource) compare(ctx context.Context, args []string) (*experiments.Comparison, error) {
	if l.st == nil {
		return nil, fmt.Errorf("no run %q (see 'cairn runs')", args[0])
	}
	ids := make([]string, len(args))
	for i, arg := range args {
		id, err := resolveRun(ctx, l.st, arg)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return core.CompareRuns(ctx, l.st, ids)
}

// compare through the server's API.
func (s *remoteSource) compare(ctx context.Context, args []string) (*experiments.Comparison, error) {
	cmp, err := s.c.Compare(ctx, args)
	if err != nil {
		return nil, remoteErr(err)
	}
	if len(cmp.Runs) != len(args) {
		return nil, fmt.Errorf("the server at %s answered %d runs for %d asked", s.c.URL(), len(cmp.Runs), len(args))
	}
	return cmp, nil
}

// writeComparison prints cmp as tables: the runs, then each section.
func writeComparison(w io.Writer, cmp *experiments.Comparison) error {
	n := len(cmp.Runs)
	label := func(i int) string { return "RUN" + strconv.Itoa(i+1) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, r := range cmp.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", label(i), r.ID, r.Workflow, r.State, localTime(r.Created))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	heads := make([]string, n)
	for i := range heads {
		heads[i] = label(i)
	}
	section := func(title, empty string, header []string, rows [][]string) error {
		fmt.Fprintf(w, "\n%s\n", title)
		if len(rows) == 0 {
			fmt.Fprintf(w, "  %s\n", empty)
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  %s\n", strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t"))
		}
		return tw.Flush()
	}

	var rows [][]string
	for _, p := range cmp.Params {
		name := p.Name
		if p.Task != "" {
			name = p.Task + "." + p.Name
		}
		row := []string{name}
		for _, v := range p.Values {
			row = append(row, cell(string(v)))
		}
		rows = append(rows, row)
	}
	if err := section("PARAMS THAT DIFFER (run params; task params as TASK.NAME)", "none: every param is the same", append([]string{"PARAM"}, heads...), rows); err != nil {
		return err
	}

	rows = nil
	header := append([]string{"METRIC"}, heads...)
	for i := 1; i < n; i++ {
		header = append(header, "Δ"+label(i))
	}
	for _, m := range cmp.Metrics {
		row := []string{m.Task + "." + m.Metric}
		for _, v := range m.Values {
			row = append(row, number(v, false))
		}
		for i := 1; i < n && i < len(m.Diffs); i++ {
			row = append(row, number(m.Diffs[i], true))
		}
		rows = append(rows, row)
	}
	if err := section("METRICS (Δ: the run's value minus RUN1's)", "none: no task recorded metrics", header, rows); err != nil {
		return err
	}

	rows = nil
	for _, o := range cmp.Outputs {
		row := []string{o.Task + "." + o.Output}
		for _, d := range o.Digests {
			if d == "" {
				d = "-"
			} else {
				d = shortDigest(d)
			}
			row = append(row, d)
		}
		rows = append(rows, row)
	}
	if err := section("OUTPUTS THAT DIFFER (artifact digests)", "none: every task's artifacts are the same bytes", append([]string{"OUTPUT"}, heads...), rows); err != nil {
		return err
	}
	if len(cmp.Tasks) > 0 {
		fmt.Fprintf(w, "  tasks whose outputs differ: %s\n", strings.Join(cmp.Tasks, ", "))
	}

	if len(cmp.States) > 0 {
		rows = nil
		for _, s := range cmp.States {
			row := []string{s.Task}
			for _, st := range s.States {
				v := string(st)
				if v == "" {
					v = "-"
				}
				row = append(row, v)
			}
			rows = append(rows, row)
		}
		if err := section("TASKS WHOSE STATES DIFFER", "", append([]string{"TASK"}, heads...), rows); err != nil {
			return err
		}
	}
	return nil
}

// cell is a value as a table cell: one line, at most 48 characters.
func cell(s string) string {
	// Escaped before it is cut: text another party chose (a webhook
	// receiver's answer, a param's value) never reaches the terminal
	// as control or bidi characters, whole or cut in half.
	s = printable(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > 48 {
		s = string(r[:47]) + "…"
	}
	return s
}

// number prints a metric's value (signed, for a difference); "-" when
// missing.
func number(v *float64, signed bool) string {
	if v == nil {
		return "-"
	}
	s := strconv.FormatFloat(*v, 'g', 6, 64)
	if signed && *v > 0 && !math.IsInf(*v, 0) {
		s = "+" + s
	}
	return s
}

// metricPage is a page of runs with metric columns.
type metricPage struct {
	runs       []runItem
	metrics    map[string]map[string]float64
	next       string // the cursor of an unsorted list's next page
	nextOffset int    // the offset of a sorted list's next page; -1 on the last
}

// metricRuns on the home's database.
func (l *localSource) metricRuns(ctx context.Context, f scheduler.RunFilter, q core.MetricQuery) (*metricPage, error) {
	if l.st == nil {
		return &metricPage{nextOffset: -1}, nil
	}
	if f.Before != "" {
		id, err := l.st.ResolveRunID(ctx, f.Before)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
		}
		f.Before = id
	}
	p, err := core.RunsWithMetrics(ctx, l.st, l.st, f, q)
	if err != nil {
		return nil, err
	}
	out := &metricPage{metrics: p.Metrics, next: p.Next, nextOffset: p.NextOffset}
	now := time.Now()
	for _, r := range p.Runs {
		out.runs = append(out.runs, localItem(r, now))
	}
	return out, nil
}

// metricRuns through the server's API, a page of at most maxAPIPage at a
// time.
func (s *remoteSource) metricRuns(ctx context.Context, f scheduler.RunFilter, q core.MetricQuery) (*metricPage, error) {
	out := &metricPage{metrics: map[string]map[string]float64{}, nextOffset: -1}
	names := make([]string, len(q.Metrics))
	for i, m := range q.Metrics {
		names[i] = m.String()
	}
	before, offset := f.Before, q.Offset
	for {
		want := f.Limit - len(out.runs)
		page, err := s.c.Runs(ctx, client.RunsQuery{Workflow: f.Workflow, State: string(f.State), Limit: min(want, maxAPIPage),
			Before: before, Metrics: names, Sort: q.Sort, Offset: offset})
		if err != nil {
			if errors.Is(err, client.ErrBadInput) {
				return nil, usageError{strings.TrimPrefix(err.Error(), "bad input: ")}
			}
			return nil, remoteErr(err)
		}
		for i := range page.Runs {
			it, err := itemFromJSON(&page.Runs[i])
			if err != nil {
				return nil, s.invalid(err)
			}
			out.runs = append(out.runs, it)
			out.metrics[it.ID] = page.Runs[i].Metrics
		}
		full := len(out.runs) >= f.Limit || len(page.Runs) == 0
		switch {
		case q.Sorted():
			if page.NextOffset == nil {
				return out, nil
			}
			if full {
				out.nextOffset = *page.NextOffset
				return out, nil
			}
			offset = *page.NextOffset
		default:
			if page.Next == nil {
				return out, nil
			}
			if full {
				out.next = *page.Next
				return out, nil
			}
			before = *page.Next
		}
	}
}

// metricCell is a run's value of metric m in the runs list.
func metricCell(p *metricPage, runID string, m experiments.MetricRef) string {
	v, ok := p.metrics[runID][m.String()]
	if !ok {
		return "-"
	}
	return number(&v, false)
}

// sortedNextPage is the command that prints the page of a ranked list
// after offset.
func (a *app) sortedNextPage(f scheduler.RunFilter, q core.MetricQuery, offset int, rf *remoteFlags) string {
	cmd := append([]string{"cairn"}, a.globalArgs()...)
	cmd = append(cmd, "runs")
	if f.Workflow != "" {
		cmd = append(cmd, "--workflow", shellQuote(f.Workflow))
	}
	if f.State != "" {
		cmd = append(cmd, "--state", string(f.State))
	}
	for _, m := range q.Metrics {
		cmd = append(cmd, "--metric", shellQuote(m.String()))
	}
	cmd = append(cmd, "--sort", q.Sort, "--limit", strconv.Itoa(f.Limit), "--offset", strconv.Itoa(offset))
	return strings.Join(cmd, " ") + rf.serverArg()
}

// writeMetricRuns prints a page of runs with a column per metric.
func (a *app) writeMetricRuns(p *metricPage, q core.MetricQuery) error {
	sty := newStyle(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	head := []string{"RUN", "WORKFLOW", sty.state("STATE"), "CREATED"}
	for _, m := range q.Metrics {
		head = append(head, strings.ToUpper(m.String()))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range p.runs {
		state := string(r.State)
		if r.orphaned {
			state = orphanedState
		}
		row := []string{r.ID, r.Workflow, sty.state(state), localTime(r.CreatedAt)}
		for _, m := range q.Metrics {
			row = append(row, metricCell(p, r.ID, m))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// metricFlags checks runs' --metric, --sort and --offset.
func metricFlags(metrics []string, sortBy string, offset int, f scheduler.RunFilter) (core.MetricQuery, error) {
	var q core.MetricQuery
	for _, m := range metrics {
		for _, s := range strings.Split(m, ",") {
			ref, err := experiments.ParseMetric(s)
			if err != nil {
				return q, usageError{"--metric: " + err.Error()}
			}
			q.Metrics = append(q.Metrics, ref)
		}
	}
	s, err := core.ParseSort(sortBy)
	if err != nil {
		return q, usageError{"--" + err.Error()}
	}
	q.Sort = s
	switch {
	case q.Sorted() && len(q.Metrics) == 0:
		return q, usageError{"--sort ranks by a metric: give it with --metric TASK.METRIC (evaluate.f1)"}
	case q.Sorted() && f.Before != "":
		return q, usageError{"a sorted list pages with --offset, not --before"}
	case offset < 0:
		return q, usageError{"--offset must be 0 or more"}
	case offset > 0 && !q.Sorted():
		return q, usageError{"--offset pages a sorted list (--sort desc|asc); an unsorted one pages with --before"}
	}
	q.Offset = offset
	return q, nil
}

// listMetricRuns is cairn runs with --metric.
func (a *app) listMetricRuns(ctx context.Context, src runSource, f scheduler.RunFilter, q core.MetricQuery, asJSON, idsOnly bool, rf *remoteFlags) error {
	p, err := src.metricRuns(ctx, f, q)
	if err != nil {
		return err
	}
	switch {
	case idsOnly:
		for _, r := range p.runs {
			fmt.Fprintln(a.stdout, r.ID)
		}
		return nil
	case asJSON:
		out := runsJSON{Runs: make([]runJSON, 0, len(p.runs))}
		for _, r := range p.runs {
			j := runjson.FromRun(r.Run, r.orphaned)
			j.Metrics = p.metrics[r.ID]
			if j.Metrics == nil {
				j.Metrics = map[string]float64{}
			}
			out.Runs = append(out.Runs, j)
		}
		if p.next != "" {
			out.Next = &p.next
		}
		if p.nextOffset >= 0 {
			out.NextOffset = &p.nextOffset
		}
		return writeJSON(a.stdout, out)
	}
	if len(p.runs) == 0 {
		switch {
		case q.Sorted() && q.Offset > 0:
			fmt.Fprintf(a.stderr, "no runs with %s past offset %d\n", q.Metrics[0], q.Offset)
		case q.Sorted():
			fmt.Fprintf(a.stderr, "no runs with %s\n", q.Metrics[0])
		default:
			fmt.Fprintln(a.stderr, "no runs")
		}
		return nil
	}
	if err := a.writeMetricRuns(p, q); err != nil {
		return err
	}
	switch {
	case p.next != "":
		fmt.Fprintf(a.stderr, "more: %s\n", a.nextPage(f, p.next, rf)+metricArgs(q))
	case p.nextOffset >= 0:
		fmt.Fprintf(a.stderr, "more: %s\n", a.sortedNextPage(f, q, p.nextOffset, rf))
	}
	return nil
}

// metricArgs are the --metric flags of q, for a next page's command.
func metricArgs(q core.MetricQuery) string {
	var b strings.Builder
	for _, m := range q.Metrics {
		b.WriteString(" --metric " + shellQuote(m.String()))
	}
	return b.String()
}
