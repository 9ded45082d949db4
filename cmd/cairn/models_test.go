package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
)

// A model's prediction log is the rotated file then the current one, each
// up to its last whole line (the server may be writing the next), stored
// as one JSON Lines artifact; a model without one, or a name that is not
// a model's, is refused.
func TestPredictionLog(t *testing.T) {
	dir := t.TempDir()
	arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	m := storeModels{arts: arts, predictions: filepath.Join(dir, "predictions")}
	ctx := context.Background()
	if _, err := m.PredictionLog(ctx, "churn"); !errors.Is(err, cairn.ErrNotFound) || !strings.Contains(err.Error(), "churn has no sampled predictions") {
		t.Fatalf("no log: %v", err)
	}
	logDir := filepath.Join(dir, "predictions", "churn")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(logDir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("samples.1.jsonl", "{\"x0\":1}\n{\"x0\":2}\n")
	write("samples.jsonl", "{\"x0\":3}\n{\"x0\":4}\n{\"x0\":")
	ref, err := m.PredictionLog(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := arts.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if want := "{\"x0\":1}\n{\"x0\":2}\n{\"x0\":3}\n{\"x0\":4}\n"; string(b) != want || ref.MediaType != tasks.MediaTypeJSONL {
		t.Fatalf("log %q (%s), want %q", b, ref.MediaType, want)
	}
	write("samples.1.jsonl", "")
	write("samples.jsonl", "{\"x0\":")
	if _, err := m.PredictionLog(ctx, "churn"); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("only a partial line: %v", err)
	}
	if _, err := m.PredictionLog(ctx, "../churn"); err == nil || errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("a path for a name: %v", err)
	}
}
