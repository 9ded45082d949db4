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

// The tester's attack on a here-document: a -p value that closes a Python
// string in the body of python3 <<EOF and calls os.system. A here-document's
// body is text for another program, so validate refuses the reference at
// its line and column, and run refuses the workflow before anything runs.
func TestScriptParamInHeredocBodyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	pwned := filepath.Join(dir, "PWH1")
	wf := filepath.Join(dir, "heredoc.yaml")
	src := "name: heredoc\nparams:\n  x: {type: string, default: world}\ntasks:\n  - id: py\n    type: shell\n    with:\n      script: |\n        python3 <<EOF\n        print(\"hello ${{ params.x }}\")\n        EOF\n"
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(2, "validate", wf)
	if !strings.Contains(r.stderr, wf+":10:22: with.script: a reference inside a here-document's body") || !strings.Contains(r.stderr, "os.environ") {
		t.Errorf("validate:\n%s", r)
	}
	x := `");import os;os.system("touch ` + pwned + `");print("`
	r = e.cairn("run", wf, "-p", "x="+x, "--progress", "lines")
	if r.code == 0 || !strings.Contains(r.stderr, "here-document's body") {
		t.Errorf("run accepted the workflow:\n%s", r)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the param ran a command: %s exists\n%s", pwned, r)
	}
}
