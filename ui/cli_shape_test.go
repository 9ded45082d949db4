package ui

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestSameShapeAsCLI: GET /api/v1/runs and /api/v1/runs/{id} answer the
// documents `cairn runs --json` and `cairn show --json` print for the same
// database: one shape for scripts, whichever way they ask. It builds the
// real binary and runs a workflow with it.
func TestSameShapeAsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the cairn binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cairn")
	build := exec.Command("go", "build", "-o", bin, "github.com/cairnml/cairn/cmd/cairn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	wf := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(wf, []byte(pipelineWF), 0o600); err != nil {
		t.Fatal(err)
	}
	cairn := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		out, err := cmd.Output()
		if err != nil && args[0] != "run" { // the pipeline fails on purpose
			t.Fatalf("cairn %v: %v", args, err)
		}
		return out
	}
	cairn("run", wf, "-p", "greeting=<b>hi</b>")
	cairn("run", wf)
	cliRuns := cairn("runs", "--json", "--limit", "1")
	var page struct {
		Runs []struct{ ID string }
		Next *string
	}
	if err := json.Unmarshal(cliRuns, &page); err != nil || len(page.Runs) != 1 || page.Next == nil {
		t.Fatalf("cairn runs --json: %v\n%s", err, cliRuns)
	}
	cliNext := cairn("runs", "--json", "--limit", "1", "--before", *page.Next)
	cliShow := cairn("show", *page.Next, "--json")

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(home, "cairn.db"), sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs, err := artifacts.OpenLogsReadOnly(filepath.Join(home, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{}
	h, err := New(Options{Store: st, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = newServer(t, h)
	for _, c := range []struct {
		cli  []byte
		path string
	}{
		{cliRuns, "/api/v1/runs?limit=1"},
		{cliNext, "/api/v1/runs?limit=1&before=" + *page.Next},
		{cliShow, "/api/v1/runs/" + *page.Next},
	} {
		_, body := f.get(t, c.path)
		if body != string(c.cli) {
			var a, b any
			json.Unmarshal(c.cli, &a)
			json.Unmarshal([]byte(body), &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("GET %s differs from the CLI's JSON:\nAPI: %s\nCLI: %s", c.path, body, c.cli)
			} else {
				t.Errorf("GET %s holds the CLI's document with other bytes:\nAPI: %s\nCLI: %s", c.path, body, c.cli)
			}
		}
	}
}
