package executor_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// A slot's scratch directory is reused by its next attempt emptied, and
// with mode 0700 again if the attempt before changed it; a folder left as
// it was is not written (its change time stays).
func TestPoolScratchReused(t *testing.T) {
	type seen struct {
		dir     string
		entries int
		mode    fs.FileMode
		ctime   syscall.Timespec
	}
	dirs := make(chan seen, 3)
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		entries, err := os.ReadDir(req.WorkDir)
		if err != nil {
			return tasks.Result{}, err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(req.WorkDir, &st); err != nil {
			return tasks.Result{}, err
		}
		dirs <- seen{req.WorkDir, len(entries), fs.FileMode(st.Mode) & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky), st.Ctim}
		switch req.TaskID {
		case "a": // leaves files, a folder and a mode behind
			if err := os.MkdirAll(filepath.Join(req.WorkDir, "sub", "deep"), 0o755); err != nil {
				return tasks.Result{}, err
			}
			if err := os.WriteFile(filepath.Join(req.WorkDir, "sub", "deep", "f"), []byte("x"), 0o600); err != nil {
				return tasks.Result{}, err
			}
			// More entries than one read of the folder returns.
			for i := range 600 {
				name := fmt.Sprintf("a-file-with-a-rather-long-name-to-fill-the-buffer-%04d", i)
				if err := os.WriteFile(filepath.Join(req.WorkDir, name), nil, 0o600); err != nil {
					return tasks.Result{}, err
				}
			}
			if err := os.Chmod(req.WorkDir, 0o755); err != nil {
				return tasks.Result{}, err
			}
		case "b": // leaves nothing
		}
		return tasks.Result{}, nil
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: scratch
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, needs: [a]}
  - {id: c, type: probe, needs: [b]}
`)
	r.startPool(t, 1)
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	a, b, c := await(t, "a's work dir", dirs), await(t, "b's work dir", dirs), await(t, "c's work dir", dirs)
	if b.dir != a.dir || c.dir != a.dir {
		t.Fatalf("work dirs %s, %s, %s; want one folder reused by the slot", a.dir, b.dir, c.dir)
	}
	for _, s := range []seen{a, b, c} {
		if s.entries != 0 || s.mode != 0o700 {
			t.Errorf("work dir as an attempt got it: %d entries, mode %v; want empty, 0700", s.entries, s.mode)
		}
	}
	if c.ctime != b.ctime {
		t.Errorf("work dir's change time moved from %v to %v though the attempt between left it as it was", b.ctime, c.ctime)
	}
}

// A task that replaces its scratch folder with a symbolic link to another
// folder does not have that folder emptied when its attempt ends: the
// link is removed, the next attempt gets a folder of its own.
func TestPoolScratchLinkNotFollowed(t *testing.T) {
	precious := t.TempDir()
	keep := filepath.Join(precious, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := make(chan string, 2)
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		dirs <- req.WorkDir
		if req.TaskID == "a" {
			if err := os.RemoveAll(req.WorkDir); err != nil {
				return tasks.Result{}, err
			}
			if err := os.Symlink(precious, req.WorkDir); err != nil {
				return tasks.Result{}, err
			}
		}
		return tasks.Result{}, nil
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: link
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, needs: [a]}
`)
	r.startPool(t, 1)
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	await(t, "a's work dir", dirs)
	b := await(t, "b's work dir", dirs)
	if kept, err := os.ReadFile(keep); err != nil || string(kept) != "mine" {
		t.Fatalf("the link's target was emptied: %q %v", kept, err)
	}
	if st, err := os.Lstat(b); err != nil || !st.IsDir() {
		t.Fatalf("b's work dir %s: %v %v, want a folder (not the link)", b, st, err)
	}
}
