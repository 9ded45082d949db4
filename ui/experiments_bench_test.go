package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/core"
)

// finishedRun stores a succeeded run of n tasks, each with params, an
// artifact output, a plain output and three metrics; seed changes half of
// the params, outputs and metrics.
func finishedRun(ctx context.Context, st *sqlite.Store, n, seed int, at time.Time) (*cairn.Run, error) {
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wide", Digest: "sha256:" + strings.Repeat("0", 64),
		Source: []byte("name: wide\n"), Params: map[string]any{"seed": int64(seed), "rate": 0.5}, State: cairn.RunSucceeded,
		CreatedAt: at, StartedAt: at, FinishedAt: at.Add(time.Minute)}
	trs := make([]*cairn.TaskRun, n)
	for i := range trs {
		v := i
		if i%2 == 0 {
			v += seed
		}
		digest := fmt.Sprintf("sha256:%064x", v)
		trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%03d", i), Type: "noop", State: cairn.TaskSucceeded,
			Params:    json.RawMessage(fmt.Sprintf(`{"depth": %d, "name": "task %d", "opts": {"a": 1, "b": [1, 2, %d]}}`, v%7, i, v)),
			Outputs:   map[string]json.RawMessage{"model": cairn.ArtifactRef{Digest: digest, Size: 10}.JSON(), "rows": json.RawMessage(fmt.Sprint(v))},
			Metrics:   map[string]float64{"f1": float64(v%100) / 100, "loss": float64(v) / 3, "rows": float64(i)},
			StartedAt: at, FinishedAt: at.Add(time.Second), Attempt: 1,
			Retry: cairn.RetryPolicy{Factor: 2},
		}
	}
	if err := st.CreateRun(ctx, run, trs); err != nil {
		return nil, err
	}
	return run, nil
}

// BenchmarkCompare500 measures cairn compare of two runs of 500 tasks
// each (issue #22's figure: under 100 ms): the comparison alone, and the
// API's answer (ids by prefix, JSON) with the handler called directly.
func BenchmarkCompare500(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cairn.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().Add(-time.Hour)
	a, err := finishedRun(ctx, st, 500, 1, t0)
	if err != nil {
		b.Fatal(err)
	}
	c, err := finishedRun(ctx, st, 500, 2, t0.Add(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("compare", func(b *testing.B) {
		for b.Loop() {
			cmp, err := core.CompareRuns(ctx, st, []string{a.ID, c.ID})
			if err != nil {
				b.Fatal(err)
			}
			if len(cmp.Tasks) != 250 {
				b.Fatalf("%d tasks differ, want 250", len(cmp.Tasks))
			}
		}
	})
	h, err := New(Options{Store: st, Experiments: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, sub := range []struct{ name, path string }{
		{"api", "/api/v1/compare?run=" + a.ID[:8] + "," + c.ID[:8]},
		// The compare page: the same comparison as HTML (250 tasks'
		// params, 1,500 metric rows, 250 outputs).
		{"page", "/compare?run=" + a.ID[:8] + "&run=" + c.ID[:8]},
	} {
		b.Run(sub.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost"+sub.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", sub.path, w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkExperimentsPage measures the experiments page of a workflow of
// 500 runs (three params, two metrics, one missing in a tenth of them):
// every run and its metrics read, sorted by a metric, a page of 50 rows
// and both charts over the 500 runs drawn.
func BenchmarkExperimentsPage(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cairn.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	expRuns(b, st, 500)
	h, err := New(Options{Store: st, Experiments: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, sub := range []struct{ name, path string }{
		{"created", "/workflows/exp/experiments"},
		{"by-metric", "/workflows/exp/experiments?sort=metric:evaluate.f1&x=model"},
	} {
		b.Run(sub.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost"+sub.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", sub.path, w.Code, w.Body)
				}
			}
		})
	}
}
