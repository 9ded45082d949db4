package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docs/api.md's example runs as written, from the repository's root,
// against a server of the example workflows (its address for the
// documented 127.0.0.1:8080): it makes an operator token, triggers
// breast-cancer, waits for it and reads its evaluation's log.
func TestDocAPIExampleRuns(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl to run docs/api.md's example with")
	}
	e := newEnv(t)
	examples, err := filepath.Abs("../../workflows/examples")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.startServer(nil, "--workflows", examples)
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(docSection(t, "../../docs/api.md", "An example"))
	if m == nil {
		t.Fatal("docs/api.md's example has no shell block; the test reads it wrong")
	}
	script := strings.ReplaceAll(m[1], "127.0.0.1:8080", srv.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CAIRN_HOME="+e.home, "PATH="+filepath.Dir(cairnBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/api.md's example failed: %v\n%s--- output:\n%s", err, script, out)
	}
	if !strings.Contains(string(out), "evaluate:") {
		t.Errorf("the example did not print the evaluation's log:\n%s", out)
	}
	runs := e.runs()
	if len(runs) != 1 || runs[0].Workflow != "breast-cancer" {
		t.Errorf("the example made %d runs, want one of breast-cancer", len(runs))
	}
}
