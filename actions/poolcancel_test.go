package actions_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A cancelled run's task keeps its pool's slot until its process is gone
// (trial finding 10): with a pool of 1, run b's task, waiting for the
// slot, does not start while run a's task, cancelled, still runs its
// TERM trap within its kill_grace; it starts once a's process is reaped.
// The order is told by the times the tasks themselves write.
func TestCancelKeepsPoolSlot(t *testing.T) {
	s := newServer(t, serverOptions{})
	dir := t.TempDir()
	// a's trap outlives the TERM by 400 ms, well within its kill_grace;
	// it writes when it ends.
	s.workflow("a.yaml", `name: a
pools: {gpu: 1}
tasks:
  - id: train
    type: shell
    pool: gpu
    with:
      kill_grace: 20s
      env: {OUT: `+dir+`}
      script: |
        trap 'sleep 0.4; date +%s%N > "$OUT/a.tmp"; mv "$OUT/a.tmp" "$OUT/a.end"; exit 1' TERM
        date +%s%N > "$OUT/a.start"
        while :; do sleep 0.05; done
`)
	s.workflow("b.yaml", `name: b
pools: {gpu: 1}
tasks:
  - id: train
    type: shell
    pool: gpu
    with:
      env: {OUT: `+dir+`}
      script: date +%s%N > "$OUT/b.start"
`)
	a := s.trigger("a", `{}`)
	stamp := func(name string) time.Time {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return time.Unix(0, n)
	}
	waitFile := func(name string) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not written within %s", name, waitLimit)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFile("a.start")
	b := s.trigger("b", `{}`)
	s.waitTask(b, "train", "ready") // waiting for gpu
	s.want(202, "POST", "/api/v1/runs/"+a+"/cancel", "", nil)
	s.waitState(a, "cancelled")
	s.waitState(b, "succeeded")
	waitFile("a.end")
	aEnd, bStart := stamp("a.end"), stamp("b.start")
	if bStart.Before(aEnd) {
		t.Errorf("run b's task started %s before run a's cancelled task ended: the pool of 1 ran two", aEnd.Sub(bStart))
	}
}
