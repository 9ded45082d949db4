package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret with a " in it, in a URL that cannot be reached: Go's error
// quotes the URL (%q), so the value appeared as p@ss wörd\"x, which the
// redaction did not recognise, and was stored in the task's error and log
// and printed by cairn run and show.
func TestSecretRedactedWhenQuotedInAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "quoted.yaml")
	src := `name: quoted
params:
  token: {type: string, secret: true}
tasks:
  - id: fetch
    type: collect
    with: {source: "http://127.0.0.1:1/x?token=${{ params.token }}"}
`
	if err := os.WriteFile(wf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	const distinct = `Qz7 wörd"x`
	p := e.startWith([]string{"CAIRN_PARAM_TOKEN=" + distinct}, "run", wf, "--progress", "none")
	id := p.runID()
	if code := p.wait(cmdTimeout); code != 1 {
		t.Fatalf("run exited %d, want 1 (the source is unreachable)\n%s", code, p.stderr.String())
	}
	out := p.stdout.String() + p.stderr.String() + e.must(0, "show", id).stdout + e.must(0, "show", id, "--json").stdout +
		e.must(0, "logs", id, "fetch").stdout
	if strings.Contains(out, "Qz7") {
		t.Errorf("cairn printed the secret:\n%s", out)
	}
	if !strings.Contains(out, "«secret:token»") {
		t.Errorf("no placeholder where the secret was:\n%s", out)
	}
	grepTree(t, e.home, "Qz7")
}
