package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

var benchNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func benchTasks(n int, st cairn.TaskState) []*cairn.TaskRun {
	ts := make([]*cairn.TaskRun, n)
	for i := range ts {
		ts[i] = &cairn.TaskRun{TaskID: fmt.Sprintf("task-%05d", i), Type: "shell", State: st,
			Retry: cairn.RetryPolicy{Retries: 2, Backoff: time.Second}, Params: []byte(`{"argv":["true"]}`)}
	}
	return ts
}

func benchRun(b *testing.B, i int) *cairn.Run {
	return &cairn.Run{ID: cairn.NewRunID(benchNow.Add(time.Duration(i) * time.Millisecond)), Workflow: "bench",
		State: cairn.RunQueued, CreatedAt: benchNow}
}

// BenchmarkCreateRun10k creates a run of 10,000 task runs per op.
func BenchmarkCreateRun10k(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		run, tasks := benchRun(b, i), benchTasks(10000, cairn.TaskPending)
		b.StartTimer()
		if err := s.CreateRun(ctx, run, tasks); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLease64 leases a batch of 64 ready tasks per op.
func BenchmarkLease64(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	left := 0
	for i := 0; b.Loop(); i++ {
		if left < 64 {
			b.StopTimer()
			if err := s.CreateRun(ctx, benchRun(b, i), benchTasks(6400, cairn.TaskReady)); err != nil {
				b.Fatal(err)
			}
			left = 6400
			b.StartTimer()
		}
		items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 64}, benchNow, time.Minute)
		if err != nil || len(items) != 64 {
			b.Fatal(len(items), err)
		}
		left -= 64
	}
}

// BenchmarkStartComplete runs StartAttempt then Complete (two commits) per
// op on a leased task.
func BenchmarkStartComplete(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	var items []cairn.WorkItem
	for i := 0; b.Loop(); i++ {
		if len(items) == 0 {
			b.StopTimer()
			if err := s.CreateRun(ctx, benchRun(b, i), benchTasks(5000, cairn.TaskReady)); err != nil {
				b.Fatal(err)
			}
			var err error
			if items, err = s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 5000}, benchNow, time.Hour); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		l := items[0].Lease
		items = items[1:]
		if err := s.StartAttempt(ctx, l, benchNow); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Complete(ctx, l, cairn.Completion{State: cairn.TaskSucceeded, Metrics: map[string]float64{"x": 1}}, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndependent10k is a run of 10,000 independent tasks end to end:
// create, plan (all ready, run running), lease in batches of 64, start and
// complete each, plan the run's end. Reports tasks/s.
func BenchmarkIndependent10k(b *testing.B) {
	const n = 10000
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		run, tasks := benchRun(b, i), benchTasks(n, cairn.TaskPending)
		if err := s.CreateRun(ctx, run, tasks); err != nil {
			b.Fatal(err)
		}
		p := &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: benchNow}}
		for _, t := range tasks {
			p.Tasks = append(p.Tasks, scheduler.TaskChange{TaskID: t.TaskID, FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: t.Params})
		}
		if err := s.ApplyPlan(ctx, p); err != nil {
			b.Fatal(err)
		}
		for done := 0; done < n; {
			items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 64}, benchNow, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range items {
				if err := s.StartAttempt(ctx, it.Lease, benchNow); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, benchNow); err != nil {
					b.Fatal(err)
				}
			}
			done += len(items)
		}
		if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{
			FromVersion: p.Run.NewVersion, From: cairn.RunRunning, To: cairn.RunSucceeded, At: benchNow}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkChainHop measures one hop of a 1,000-task chain: plan the next
// task ready, lease it, start it, complete it (four commits).
func BenchmarkChainHop(b *testing.B) {
	const n = 1000
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	var (
		run  *cairn.Run
		next int
	)
	versions := map[string]int64{}
	for i := 0; b.Loop(); i++ {
		if run == nil || next == n {
			b.StopTimer()
			run = benchRun(b, i)
			if err := s.CreateRun(ctx, run, benchTasks(n, cairn.TaskPending)); err != nil {
				b.Fatal(err)
			}
			next = 0
			b.StartTimer()
		}
		id := fmt.Sprintf("task-%05d", next)
		p := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: id, FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady}}}
		if err := s.ApplyPlan(ctx, p); err != nil {
			b.Fatal(err)
		}
		items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, benchNow, time.Minute)
		if err != nil || len(items) != 1 {
			b.Fatal(items, err)
		}
		if err := s.StartAttempt(ctx, items[0].Lease, benchNow); err != nil {
			b.Fatal(err)
		}
		t, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, benchNow)
		if err != nil {
			b.Fatal(err)
		}
		versions[id] = t.Version
		next++
	}
}

// BenchmarkBatchHop is one hop of a chain as the broker's completer
// writes it: in one Batch, the completion (CompleteMany), the plan that
// makes the successor ready and the worker's next lease.
func BenchmarkBatchHop(b *testing.B) {
	const n = 1000
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	var (
		run  *cairn.Run
		next int
		cur  cairn.WorkItem
	)
	for i := 0; b.Loop(); i++ {
		if run == nil || next == n {
			b.StopTimer()
			run = benchRun(b, i)
			ts := benchTasks(n, cairn.TaskPending)
			ts[0].State = cairn.TaskReady
			if err := s.CreateRun(ctx, run, ts); err != nil {
				b.Fatal(err)
			}
			items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1, Start: true}, benchNow, time.Minute)
			if err != nil || len(items) != 1 {
				b.Fatal(items, err)
			}
			cur, next = items[0], 1
			b.StartTimer()
		}
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			trs, errs, err := tx.CompleteMany([]scheduler.Finish{{Lease: cur.Lease, Completion: cairn.Completion{State: cairn.TaskSucceeded}}}, benchNow)
			if err != nil || errs[0] != nil {
				return fmt.Errorf("%v %v", err, errs)
			}
			_ = trs
			if next < n {
				id := fmt.Sprintf("task-%05d", next)
				p := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: id, FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady}}}
				if err := tx.ApplyPlan(p); err != nil {
					return err
				}
			}
			items, err := tx.Lease(cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1, Start: true}, benchNow, time.Minute)
			if err != nil {
				return err
			}
			if len(items) == 1 {
				cur = items[0]
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		next++
	}
}

// BenchmarkLeaseRouting leases one ready task per op, as a pool does after
// each completion, with each kind of request: any (AnyTask, the query of
// a foreground run: no routing condition), plain (no labels, the default
// queue: the common case), gpu (a worker with labels, whose query reads
// the tasks' labels) and plain-behind-100 (a plain worker whose tasks
// queue behind 100 labelled tasks it may not take, which every lease
// steps over).
func BenchmarkLeaseRouting(b *testing.B) {
	gpu := map[string]string{"gpu": "true"}
	for _, c := range []struct {
		name    string
		req     cairn.LeaseRequest
		blocked int // labelled tasks queued first
	}{
		{"any", cairn.LeaseRequest{Worker: "w", Max: 1, AnyTask: true}, 0},
		{"plain", cairn.LeaseRequest{Worker: "w", Max: 1}, 0},
		{"gpu", cairn.LeaseRequest{Worker: "w", Max: 1, Labels: map[string]string{"gpu": "true", "zone": "eu"}}, 0},
		{"plain-behind-100", cairn.LeaseRequest{Worker: "w", Max: 1}, 100},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "bench.db"))
			ctx := context.Background()
			if c.blocked > 0 {
				ts := benchTasks(c.blocked, cairn.TaskReady)
				for _, t := range ts {
					t.Labels = map[string]string{"x": "y"}
				}
				if err := s.CreateRun(ctx, benchRun(b, -1), ts); err != nil {
					b.Fatal(err)
				}
			}
			left := 0
			for i := 0; b.Loop(); i++ {
				if left == 0 {
					b.StopTimer()
					ts := benchTasks(2000, cairn.TaskReady)
					if c.req.Labels != nil {
						for _, t := range ts {
							t.Labels = gpu
						}
					}
					if err := s.CreateRun(ctx, benchRun(b, i), ts); err != nil {
						b.Fatal(err)
					}
					left = 2000
					b.StartTimer()
				}
				items, err := s.Lease(ctx, c.req, benchNow, time.Minute)
				if err != nil || len(items) != 1 {
					b.Fatal(len(items), err)
				}
				left--
			}
		})
	}
}
