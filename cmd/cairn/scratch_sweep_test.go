package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The scratch folder of an attempt whose cairn run was killed with -9 is
// removed when the next cairn run starts, while the folder of a cairn run
// still running beside them (another process on the same home and
// temporary folder) is kept: before, a killed process's scratch folder
// stayed for ever.
func TestScratchOfKilledRunSwept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	wf := writeWorkflow(t, "hold.yaml", `name: hold
params:
  out: {type: string}
tasks:
  - id: t
    type: shell
    with:
      env: {OUT: "${{ params.out }}"}
      script: |
        echo kept > file.txt
        sleep 300 &
        echo "$PWD $!" > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
        wait
`)
	files := t.TempDir()
	start := func(name string) (*proc, string) {
		t.Helper()
		out := filepath.Join(files, name)
		p := e.startWith(env, "run", wf, "-p", "out="+out, "--progress", "lines")
		var dir string
		waitFor(t, 30*time.Second, name+"'s task to start in its scratch folder", func() bool {
			b, err := os.ReadFile(out)
			if err != nil {
				return p.exited()
			}
			f := strings.Fields(string(b))
			if len(f) != 2 {
				return false
			}
			dir = f[0]
			if pid, err := strconv.Atoi(f[1]); err == nil {
				t.Cleanup(func() { killPid(pid) })
			}
			return true
		})
		if !strings.HasPrefix(dir, tmp+string(filepath.Separator)+"cairn-work-") {
			t.Fatalf("%s's task ran in %q, want a scratch folder in %s\n%s", name, dir, tmp, p.stderr.String())
		}
		return p, dir
	}
	killed, dead := start("killed")
	_, live := start("live")
	killed.kill9()
	if _, err := os.Stat(filepath.Join(dead, "file.txt")); err != nil {
		t.Fatalf("the killed run's scratch folder: %v", err)
	}
	next := e.startWith(env, "run", writeWorkflow(t, "quick.yaml", "name: quick\ntasks:\n  - {id: a, type: noop}\n"))
	if code := next.wait(time.Minute); code != 0 {
		t.Fatalf("the next run: exit %d\n%s", code, next.stderr.String())
	}
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("the killed run's scratch folder %s: %v, want it removed at the next run's start", dead, err)
	}
	if _, err := os.Stat(filepath.Join(live, "file.txt")); err != nil {
		t.Errorf("the live run's scratch folder lost its file: %v", err)
	}
}
