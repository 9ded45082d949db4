//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A process whose first SQLite connection is a store's counts no memory
// (SQLite's statistics off: memstatusOff); one whose first connection
// was made otherwise does. Each case runs in a process of its own: the
// setting is the library's, made once.
func TestMemoryStatisticsOff(t *testing.T) {
	if mode := os.Getenv("CAIRN_TEST_MEMSTATUS"); mode != "" {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "cairn.db")
		if mode == "raw-first" {
			db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "raw.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE x (y)`); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
		}
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.ExecForTest(ctx, `INSERT INTO runs (id, workflow, state, version) VALUES ('r', 'w', 'queued', 1)`); err != nil {
			t.Fatal(err)
		}
		if memoryCounted() {
			t.Log("MEMORY COUNTED")
		} else {
			t.Log("MEMORY NOT COUNTED")
		}
		return
	}
	for mode, want := range map[string]string{"store-first": "MEMORY NOT COUNTED", "raw-first": "MEMORY COUNTED"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryStatisticsOff$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CAIRN_TEST_MEMSTATUS="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("%s: want %q in\n%s", mode, want, out)
		}
	}
}
