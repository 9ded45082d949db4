package ui

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/workflows"
)

// BenchmarkRunsList measures the server time of the runs list, in JSON
// and as a page, over a store of CAIRN_UI_BENCH_RUNS runs (10,000 by
// default; issue #17's figure is for 100,000) of three workflows: the
// first page, a page deep in the list, a workflow filter and a state
// filter that matches nothing. The handler is called directly (no network).
func BenchmarkRunsList(b *testing.B) {
	n := 10000
	if s := os.Getenv("CAIRN_UI_BENCH_RUNS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("CAIRN_UI_BENCH_RUNS=%q: want a number of runs, at least 100", s)
		}
		n = v
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cairn.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var wfs []*workflows.Workflow
	for _, name := range []string{"alpha", "beta", "gamma"} {
		src := "name: " + name + "\ntasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n    needs: [a]\n"
		wf, err := workflows.Parse(name+".yaml", []byte(src), workflows.Options{})
		if err != nil {
			b.Fatal(err)
		}
		wfs = append(wfs, wf)
	}
	t0 := time.Now().Add(-time.Duration(n) * time.Second)
	// Created from several goroutines, so that the store's group commit
	// shares commits between them.
	ids := make([]string, n)
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		go func() {
			for i := w; i < n; i += 16 {
				run, trs := wfs[i%3].NewRun(map[string]any{"i": int64(i)}, t0.Add(time.Duration(i)*time.Second))
				if err := st.CreateRun(ctx, run, trs); err != nil {
					errs <- err
					return
				}
				ids[i] = run.ID
			}
			errs <- nil
		}()
	}
	for w := 0; w < 16; w++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	// Five attempts per task, ten per run: 1,000,000 attempts at 100,000
	// runs, as the figure has. Written in one statement through a
	// connection of the benchmark's own (the store offers no way to make an
	// attempt but leasing, which would take minutes).
	if err := addAttempts(ctx, st.Path(), 5); err != nil {
		b.Fatal(err)
	}
	middle := ids[n/2]
	h, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, path string }{
		{"api/first-page", "/api/v1/runs"},
		{"api/deep-page", "/api/v1/runs?before=" + middle},
		{"api/workflow", "/api/v1/runs?workflow=beta&limit=100"},
		{"api/state-none", "/api/v1/runs?state=failed"},
		{"page/first-page", "/runs"},
		{"page/workflow-deep", "/runs?workflow=gamma&before=" + middle},
	} {
		b.Run(fmt.Sprintf("%s/%d-runs", c.name, n), func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost"+c.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
				}
			}
		})
	}
}

// addAttempts gives every task of the database at path per attempts that
// ended (the last succeeded, the others failed), as a long history would.
func addAttempts(ctx context.Context, path string, per int) error {
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < ?)
INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at, finished_at, error, retryable)
SELECT t.run_id, t.task_id, k.x, CASE WHEN k.x = ? THEN 'succeeded' ELSE 'failed' END, 'bench:1:w', hex(randomblob(16)),
	1000000000 * k.x, 1000000000 * k.x + 1000, 1000000000 * k.x + 500000000,
	CASE WHEN k.x = ? THEN '' ELSE 'exit status 1' END, 1
FROM task_runs t, k`, per, per, per)
	if err != nil {
		return fmt.Errorf("add attempts: %w", err)
	}
	_, err = db.ExecContext(ctx, `UPDATE task_runs SET attempt = ?`, per)
	return err
}

// BenchmarkRunPage500 measures the server time of the page of a run of
// 500 tasks (each after up to three of the 20 before it), its DAG and
// Gantt drawn, and of its live fragment and its JSON.
func BenchmarkRunPage500(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cairn.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	src := "name: wide\ntasks:\n"
	for i := 0; i < 500; i++ {
		src += fmt.Sprintf("  - id: t%03d\n    type: noop\n", i)
		if i > 0 {
			src += "    needs: ["
			for k := 0; k < 1+i%3; k++ {
				if k > 0 {
					src += ", "
				}
				src += fmt.Sprintf("t%03d", max(0, i-1-(i*7+k*13)%20))
			}
			src += "]\n"
		}
	}
	wf, err := workflows.Parse("wide.yaml", []byte(src), workflows.Options{})
	if err != nil {
		b.Fatal(err)
	}
	run, trs := wf.NewRun(nil, time.Now())
	if err := st.CreateRun(ctx, run, trs); err != nil {
		b.Fatal(err)
	}
	h, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, path string }{
		{"page", "/runs/" + run.ID},
		{"live", "/runs/" + run.ID + "/live"},
		{"api", "/api/v1/runs/" + run.ID},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost"+c.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
				}
				b.ReportMetric(float64(w.Body.Len()), "bytes")
			}
		})
	}
}
