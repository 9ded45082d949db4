package plugins_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/plugins"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
)

func benchEnv(b *testing.B) (tasks.Env, tasks.Request) {
	store, err := artifacts.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return tasks.Env{Log: io.Discard, Artifacts: store},
		tasks.Request{RunID: "bench", TaskID: "t", Attempt: 1, Params: json.RawMessage(`{}`), WorkDir: b.TempDir()}
}

// BenchmarkNoopInProcess is the baseline: the built-in noop, called
// directly.
func BenchmarkNoopInProcess(b *testing.B) {
	env, req := benchEnv(b)
	task := noop.New()
	for b.Loop() {
		if _, err := task.Run(context.Background(), req, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopPluginWarm is one noop attempt served by a warm plugin
// process: the Run stream, the log header, the pool hand-off. Its time
// minus BenchmarkNoopInProcess's is the plugin overhead per task.
func BenchmarkNoopPluginWarm(b *testing.B) {
	o := benchFolder(b)
	h, err := plugins.Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	task, ok := h.Lookup("noop")
	if !ok {
		b.Fatalf("no noop: %v", h.Problems())
	}
	env, req := benchEnv(b)
	for b.Loop() {
		if _, err := task.Run(context.Background(), req, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPluginColdStart is a plugin from nothing to its first finished
// attempt: scan and hash the folder, check the lock, start the process
// (the scan copies it into the cache as it hashes it; SecureConfig hashes
// the copy), handshake with AutoMTLS, Describe, run
// noop once; then stop it.
func BenchmarkPluginColdStart(b *testing.B) {
	o := benchFolder(b)
	env, req := benchEnv(b)
	for b.Loop() {
		h, err := plugins.Open(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		task, ok := h.Lookup("noop")
		if !ok {
			b.Fatalf("no noop: %v", h.Problems())
		}
		if _, err := task.Run(context.Background(), req, env); err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

func benchFolder(b *testing.B) plugins.Options {
	root := b.TempDir()
	o := plugins.Options{Dir: root + "/plugins", LockFile: root + "/plugins.lock"}
	if err := mkdirCopy(o.Dir, "alpha", bins.plugin); err != nil {
		b.Fatal(err)
	}
	if _, err := plugins.LockFolder(context.Background(), o.Dir, o.LockFile); err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkScanOne is the folder scan of one plugin binary (about 19 MB),
// mostly its sha256: the part of a cold start that SecureConfig repeats at
// every process start.
func BenchmarkScanOne(b *testing.B) {
	o := benchFolder(b)
	for b.Loop() {
		es, err := plugins.Scan(context.Background(), o.Dir)
		if err != nil || len(es) != 1 || es[0].Err != nil {
			b.Fatal(es, err)
		}
	}
}
