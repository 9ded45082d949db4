package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The attack through the binary: a -p value that closes the
// double quotes of `echo "value=[${{ params.x }}]"` and runs touch. The
// workflow validates, the run prints the value literally, and nothing runs.
func TestScriptParamCannotRunCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := testdata(t, "script-refs.yaml")
	pwned := filepath.Join(t.TempDir(), "PWNED")
	x := `a"; touch ` + pwned + `; echo "b`
	e.must(0, "validate", wf)
	r := e.must(0, "run", wf, "-p", "x="+x, "--progress", "lines")
	id := runIDOf(t, r.stderr)
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the param ran a command: %s exists\n%s", pwned, r)
	}
	logs := e.must(0, "logs", id, "echo")
	if !strings.Contains(logs.stdout, "value=["+x+"]\n") {
		t.Errorf("log does not hold the value literally:\n%s", logs)
	}
}

// A reference the shell would not expand is refused by validate at its
// line and column, with a hint.
func TestValidateRefusesSingleQuotedScriptReference(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "sq.yaml")
	src := "name: sq\nparams:\n  x: {type: string}\ntasks:\n  - id: a\n    type: shell\n    with:\n      script: |\n        echo ok\n        awk 'BEGIN { print \"${{ params.x }}\" }'\n"
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(2, "validate", wf)
	if !strings.Contains(r.stderr, wf+":10:29: with.script: a reference inside single quotes") || !strings.Contains(r.stderr, "env:") {
		t.Errorf("validate:\n%s", r)
	}
}
