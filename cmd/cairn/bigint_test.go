package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An integer param beyond int64 (docs/workflows.md's seed of 2^64-1)
// reaches the task, the when: condition, show and show --json exactly:
// the run's params read back from the database used to turn it into the
// float 18446744073709552000.
func TestParamBeyondInt64Exact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "bigint.yaml")
	src := `name: bigint
params:
  seed: {type: int, default: 18446744073709551615}
tasks:
  - id: echo
    type: shell
    with: {argv: [echo, "${{ params.seed }}", "x${{ params.seed }}"]}
  - id: same
    type: noop
    when: "params.seed == 18446744073709551615"
`
	if err := os.WriteFile(wf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"-p", "seed=18446744073709551615"}} {
		r := e.must(0, append([]string{"run", wf, "--progress", "none"}, args...)...)
		id := runIDOf(t, r.stderr)
		if out := e.must(0, "logs", id, "echo").stdout; !strings.Contains(out, "18446744073709551615 x18446744073709551615\n") {
			t.Errorf("%v: the task was given:\n%s", args, out)
		}
		s := e.show(id)
		if got := string(taskByID(t, s, "same").State); got != "succeeded" {
			t.Errorf("%v: when: params.seed == 18446744073709551615 left the task %s", args, got)
		}
		if out := e.must(0, "show", id).stdout; !strings.Contains(out, "seed=18446744073709551615") {
			t.Errorf("%v: show:\n%s", args, out)
		}
		if out := e.must(0, "show", id, "--json").stdout; !strings.Contains(out, `"seed": 18446744073709551615`) {
			t.Errorf("%v: show --json:\n%s", args, out)
		}
	}
}
