package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// A write the database has no room for (here: its page count capped, as
// a full disk would stop it) fails with an error that is a full disk's,
// syscall.ENOSPC, so that callers can say to free space and resume.
func TestFullDatabaseIsNoSpace(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := s.wc.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wc.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	run := &cairn.Run{ID: "r1", Workflow: "w", State: cairn.RunQueued, CreatedAt: time.Now()}
	var trs []*cairn.TaskRun
	for i := 0; i < 2000; i++ {
		trs = append(trs, &cairn.TaskRun{TaskID: fmt.Sprintf("task-%d", i), Type: "noop", State: cairn.TaskPending})
	}
	err = s.CreateRun(ctx, run, trs)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("CreateRun into a full database: %v, want an error wrapping ENOSPC", err)
	}
}
