package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/workflows"
)

// A run whose stored workflow no longer parses (a plugin type removed
// since it was queued) cannot be planned, and says why on one line: the
// error is stored with the failed run, and show prints a newline in it
// as \x0a.
func TestGraphCacheErrorIsOneLine(t *testing.T) {
	src := []byte("name: gone\ntasks:\n  - id: a\n    type: kmeans\n")
	run := &cairn.Run{ID: "r1", SourcePath: "/w/gone.yaml", Source: src, Digest: "sha256:x", State: cairn.RunQueued}
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	_, err = newGraphCache(reg, noSources{}).get(context.Background(), run)
	if !errors.Is(err, scheduler.ErrCannotPlan) {
		t.Fatalf("get: %v, want ErrCannotPlan", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\t") || !strings.Contains(msg, `/w/gone.yaml:4:11: unknown task type "kmeans"; hint: `) {
		t.Errorf("the error is not the parse error on one line:\n%q", msg)
	}
}

// A run that needs a secret the server's environment lacks: a queued one
// is failed, so the error says to queue it again; a running one is taken
// over once the server has it.
func TestSecretMissingSaysWhatToDo(t *testing.T) {
	src := []byte("name: s\nparams:\n  token: {type: string, secret: true}\ntasks:\n  - id: a\n    type: noop\n")
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	wf, err := workflows.Parse("s.yaml", src, workflows.Options{Types: reg})
	if err != nil {
		t.Fatal(err)
	}
	book := newSecretBook(map[string]string{})
	for _, c := range []struct {
		state cairn.RunState
		want  string
	}{
		{cairn.RunQueued, "lacks CAIRN_PARAM_TOKEN; start the server with them set, then queue the run again (this one is failed)"},
		{cairn.RunRunning, "lacks CAIRN_PARAM_TOKEN; start the server with them set: it takes the run over then"},
	} {
		run := &cairn.Run{ID: "r", State: c.state, Params: map[string]any{"token": workflows.SecretPlaceholder("token")}}
		_, err := book.forRun(run, wf)
		if !errors.Is(err, scheduler.ErrCannotPlan) || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%s run: %v, want ErrCannotPlan ending %q", c.state, err, c.want)
		}
	}
}

// noSources is a store that kept no sub-workflow file for any run.
type noSources struct{}

func (noSources) RunSources(context.Context, string) (map[string][]byte, error) {
	return map[string][]byte{}, nil
}
