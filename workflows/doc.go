// Package workflows owns the workflow file: it reads a YAML workflow into a
// validated, canonical DAG of tasks, and it resolves the ${{ }} references
// and `when:` expressions of those tasks at run time.
//
// Parse checks the whole file before it returns and reports every problem it
// finds, each with the file:line:col of the offending YAML node and, where
// one helps, a hint (usually the nearest known name):
//
//	churn.yaml:12:5: unknown key "retires"
//		hint: did you mean "retries"?
//
// A parsed Workflow is normalized: defaults are applied to every task and
// the dependencies implied by references are made explicit in
// Task.Upstream. Canonical renders that normal form as deterministic JSON
// (itself a valid workflow file) and Digest hashes it, so two files that
// differ only in layout, comments or key order share a digest, and a run can
// pin the exact spec it was started from.
//
// References take two forms, written inside ${{ }}:
//
//	${{ params.NAME }}              a workflow param
//	${{ tasks.ID.outputs.NAME }}    an output of an upstream task
//
// A reference to a task's output makes that task an upstream of the
// referring task; `needs:` adds ordering edges that carry no data. A string
// that is exactly one reference takes the referenced value with its type; a
// reference embedded in a longer string is spliced in as text (JSON for
// values that are not strings). `$${{` writes a literal `${{`.
//
// A task's `when:` is an expression over literals (true, false, null,
// numbers, 'strings' or "strings") and references, with !, ==, !=, <, <=,
// >, >=, && and || and parentheses. References may be written bare
// (params.deploy) or inside ${{ }}. A result that is not a bool counts as
// false when it is false, 0, "" or null and as true otherwise.
//
// YAML anchors, aliases and `<<:` merge keys work as usual; top-level keys
// that start with "x-" are ignored, to hold anchored blocks for reuse.
//
// Evaluation (Task.ResolveWith, Task.ResolveInputs, Task.EvalWhen) is pure:
// it reads only the task and the Scope it is given.
package workflows
