package main

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// The documented `when:` pattern on a shell check (iris-shell.yaml,
// docs/workflows.md) really skips: with too few rows the check exits 1,
// which success_exit_codes makes an answer, the run succeeds and report is
// skipped; with enough rows report runs (issue 15).
func TestIrisShellWhenSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		minRows  string
		exitCode string
		report   cairn.TaskState
	}{
		{"100", "0", cairn.TaskSucceeded},
		{"1000", "1", cairn.TaskSkipped},
	} {
		r := e.must(0, "run", irisPath(t), "-p", "data="+irisData(t), "-p", "min_rows="+c.minRows, "--progress", "none")
		run := e.show(runIDOf(t, r.stderr))
		check := taskByID(t, run, "check")
		if run.State != cairn.RunSucceeded || check.State != cairn.TaskSucceeded || string(check.Outputs["exit_code"]) != c.exitCode {
			t.Errorf("min_rows %s: run %s, check %s with exit_code %s; want succeeded, succeeded, %s",
				c.minRows, run.State, check.State, check.Outputs["exit_code"], c.exitCode)
		}
		if got := taskByID(t, run, "report").State; got != c.report {
			t.Errorf("min_rows %s: report %s, want %s", c.minRows, got, c.report)
		}
	}
}

// A list or map in a shell env: — written there, or a reference to a list
// or map param — is refused by validate at the value's FILE:LINE:COL, with
// what to do (issue 15).
func TestValidateEnvValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := testdata(t, "env_values.yaml")
	r := e.must(2, "validate", path)
	for _, want := range []string{
		path + ":12:15: with.env: LIST is a list, want a string, number or bool\n",
		path + ":13:14: with.env: MAP is a map, want a string, number or bool\n",
		path + ":14:20: with.env: FROM_LIST is a list, want a string, number or bool\n\thint: params.tags is a list; refer to a string, number or bool param instead\n",
		path + ":15:19: with.env: FROM_MAP is a map, want a string, number or bool\n\thint: params.opts is a map; refer to a string, number or bool param instead\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate lacks %q:\n%s", want, r)
		}
	}
	if n := strings.Count(r.stderr, "with.env"); n != 4 {
		t.Errorf("%d env problems, want 4:\n%s", n, r.stderr)
	}
}

// The iris examples, which docs/api.md serves, take the name of a CSV of
// their data folder, never a path: an operator's token cannot make them
// copy a file of the server's (its database, /proc/PID/environ) into an
// artifact a viewer downloads (trial finding 16).
func TestIrisExamplesTakeNoPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, data := range []string{"/etc/passwd", "../../../cairn.db", "..", ".hidden"} {
		r := e.must(1, "run", irisPath(t), "-p", "data="+data, "--progress", "none")
		run := e.show(runIDOf(t, r.stderr))
		collect := taskByID(t, run, "collect")
		if collect.State != cairn.TaskFailed || len(collect.Outputs) != 0 {
			t.Errorf("data=%s: collect %s with outputs %v, want it failed with none", data, collect.State, collect.Outputs)
		}
		if logs := e.must(0, "logs", run.ID, "collect").stdout; !strings.Contains(logs, "not a path") {
			t.Errorf("data=%s: collect's log does not say why:\n%s", data, logs)
		}
	}
}
