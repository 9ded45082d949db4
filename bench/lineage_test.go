package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/lineage/lineagetest"
	"github.com/cairnml/cairn/store/sqlite"
)

// BenchmarkLineageModel10Deep: the lineage of a model ten runs deep
// (issue #19: under 20 ms). Ten runs of collect → split → train →
// evaluate → deploy, each run's collect reading the previous run's
// training set, written through the store's completion path to a real
// SQLite file; model:churn@10's upstream is 21 attempts and 21
// artifacts. "query" is lineage.Read in process on an open store (the
// recursive closure and its reads); "command" is `cairn lineage
// model:churn@10` from process start to exit, the text tree printed.
func BenchmarkLineageModel10Deep(b *testing.B) {
	ctx := context.Background()
	home := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(home, "cairn.db"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lineagetest.Write(ctx, st, nil, "churn", 10, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		b.Fatal(err)
	}
	g, err := lineage.Read(ctx, st, lineage.Query{Ref: "model:churn@10"})
	if err != nil || len(g.Attempts) != 21 {
		b.Fatalf("the lineage of model:churn@10: %v, %d attempts", err, len(g.Attempts))
	}
	b.Run("query", func(b *testing.B) {
		for b.Loop() {
			if _, err := lineage.Read(ctx, st, lineage.Query{Ref: "model:churn@10"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	bin := binary(b)
	b.Run("command", func(b *testing.B) {
		for b.Loop() {
			out, err := exec.Command(bin, "--home", home, "lineage", "model:churn@10").CombinedOutput()
			if err != nil {
				b.Fatalf("cairn lineage: %v\n%s", err, out)
			}
		}
	})
}
