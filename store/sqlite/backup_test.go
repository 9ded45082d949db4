package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

func newRun(t *testing.T, s *sqlite.Store, i int) *cairn.Run {
	t.Helper()
	r, err := createRun(s, i)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func createRun(s *sqlite.Store, i int) (*cairn.Run, error) {
	now := time.Date(2030, 1, 1, 0, 0, i, 0, time.UTC)
	r := &cairn.Run{ID: cairn.NewRunID(now), Workflow: fmt.Sprintf("wf%d", i), State: cairn.RunQueued, CreatedAt: now}
	return r, s.CreateRun(context.Background(), r, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskPending}})
}

// Backup copies a consistent snapshot while another goroutine keeps
// writing; Restore puts it in place of another database, with no owner on
// its runs.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "home", "cairn.db"))
	for i := range 5 {
		newRun(t, s, i)
	}
	claimed := newRun(t, s, 5)
	if _, err := s.ClaimRun(ctx, claimed.ID, "host:1:abc", time.Now(), time.Hour, false); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	stop, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes go on during the backup
		defer wg.Done()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := createRun(s, i); err != nil {
				t.Error(err)
				once.Do(func() { close(started) })
				return
			}
			if written.Add(1) == 3 {
				once.Do(func() { close(started) })
			}
		}
	}()
	<-started // the writer is under way
	backup := filepath.Join(dir, "backup", "cairn.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := s.Backup(ctx, backup); !errors.Is(err, os.ErrExist) {
		t.Errorf("Backup over an existing file: %v", err)
	}
	if fi, _ := os.Stat(backup); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", fi.Mode().Perm())
	}

	b := open(t, backup, sqlite.ReadOnly())
	runs, err := b.ListRuns(ctx, scheduler.RunFilter{Limit: 100000})
	if err != nil || len(runs) < 6 {
		t.Fatalf("backup holds %d runs (%v), want at least the 6 made before it", len(runs), err)
	}
	if ok, err := b.IntegrityCheck(ctx); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q, %v", ok, err)
	}
	b.Close()
	// A fresh backup has no -wal or -shm (reading it read-only made them).
	os.Remove(backup + "-wal")
	os.Remove(backup + "-shm")

	// Restore into a database in use: refused while a store has it open,
	// and while a run has a live owner.
	target := filepath.Join(dir, "other", "cairn.db")
	tgt := open(t, target)
	newRun(t, tgt, 999)
	if err := sqlite.Restore(ctx, backup, target, nil); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("Restore over an open database: %v, want ErrInUse", err)
	}
	owned := newRun(t, tgt, 998)
	if _, err := tgt.ClaimRun(ctx, owned.ID, "host:2:def", time.Now(), time.Hour, false); err != nil {
		t.Fatal(err)
	}
	tgt.Close()
	if err := sqlite.Restore(ctx, backup, target, nil); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("Restore over a database with a live claim: %v, want ErrInUse", err)
	}
	gone := func(owner string) bool { return owner == "host:2:def" }
	if err := sqlite.Restore(ctx, backup, target, gone); err != nil {
		t.Fatalf("Restore once the owner is gone: %v", err)
	}
	for _, p := range []string{backup + "-wal", backup + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("Restore left %s beside the backup", filepath.Base(p))
		}
	}
	r := open(t, target)
	got, err := r.GetRun(ctx, claimed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "" {
		t.Errorf("restored run still owned by %q", got.Owner)
	}
	if _, err := r.GetRun(ctx, owned.ID); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("the replaced database's run is still there: %v", err)
	}
}

// While another process holds the database's lock exclusively (a
// restore), Open fails with ErrInUse instead of opening a file about to
// be replaced.
func TestOpenWhileRestoring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cairn.db")
	open(t, path).Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]sqlite.Option{nil, {sqlite.ReadOnly()}} {
		if s, err := sqlite.Open(context.Background(), path, opts...); !errors.Is(err, sqlite.ErrInUse) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open during a restore: %v, want ErrInUse", err)
		}
	}
}
