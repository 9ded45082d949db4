package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A worker given --cache-max keeps HOME/cache within it: a chain of ML
// tasks whose data sets and model pass the bound together succeeds (an
// input evicted is downloaded again), and once the run ended the cache
// holds at most the bound, its least recently used blobs gone.
func TestRemoteWorkerCacheMax(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0")
	const bound = 200 << 10
	w := e.startWorker(srv, tok, nil, "--concurrency", "1", "--cache-max", "200KiB")
	wf := writeWorkflow(t, "cached.yaml", `name: cached
tasks:
  - id: collect
    type: collect
    with: {source: synthetic, rows: 3000, features: 8, informative: 4, seed: 3}
  - id: split
    type: split
    inputs: {data: "${{ tasks.collect.outputs.data }}"}
    with: {label: label, test_size: 0.3, seed: 3}
  - id: train
    type: train
    inputs: {train: "${{ tasks.split.outputs.train }}"}
    with: {model: logistic_regression, label: label, seed: 3}
  - id: evaluate
    type: evaluate
    inputs:
      model: "${{ tasks.train.outputs.model }}"
      test: "${{ tasks.split.outputs.test }}"
    with: {metrics: [accuracy]}
`)
	id, _ := e.detach(wf)
	e.waitRunState(90*time.Second, id, "succeeded")
	var total, blobs int64
	var sizes []int64
	filepath.WalkDir(filepath.Join(w.home, "cache", "sha256"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			total += info.Size()
			blobs++
			sizes = append(sizes, info.Size())
		}
		return nil
	})
	// What the run stored on the server, to know the bound was passed.
	var stored int64
	filepath.WalkDir(filepath.Join(e.home, "artifacts", "sha256"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			stored += info.Size()
		}
		return nil
	})
	if stored <= bound {
		t.Fatalf("the run stored %d bytes, not more than the bound (%d): the test tests nothing", stored, bound)
	}
	if blobs == 0 || total > bound {
		t.Errorf("the worker's cache holds %d bytes in %d blobs %v after the run, want some and at most --cache-max (%d)", total, blobs, sizes, bound)
	}
}
