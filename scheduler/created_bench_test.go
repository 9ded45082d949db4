package scheduler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/workflows"
)

// BenchmarkPlanCreated10k makes the first plan of a new run of 10,000
// independent noop tasks (cairn run's, written with the run): every task
// made ready.
func BenchmarkPlanCreated10k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: fan\ntasks:\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n", i)
	}
	reg, err := tasks.NewRegistry(noop.New())
	if err != nil {
		b.Fatal(err)
	}
	wf, err := workflows.Parse("fan.yaml", []byte(sb.String()), workflows.Options{Types: reg})
	if err != nil {
		b.Fatal(err)
	}
	bound, err := wf.BindParams(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r, trs := wf.NewRun(bound, time.Now())
		b.StartTimer()
		if err := scheduler.PlanCreated(r, wf, trs, time.Now(), nil); err != nil {
			b.Fatal(err)
		}
		if trs[9999].State != "ready" {
			b.Fatalf("last task %s, want ready", trs[9999].State)
		}
	}
}
