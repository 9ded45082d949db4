package core

import (
	"context"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// countedWorkers lists ws and counts the calls.
type countedWorkers struct {
	ws    []cairn.Worker
	calls int
}

func (c *countedWorkers) ListWorkers(context.Context, time.Time, time.Time) ([]cairn.Worker, error) {
	c.calls++
	return c.ws, nil
}

// A ready task without labels or queue is judged by its type only for a
// run whose driving process's pool is known (PoolOwner), and the workers
// are read only then: a foreground run's page reads none.
func TestWaitingUnroutedReadsWorkersOnlyWhenPoolKnown(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	lister := &countedWorkers{ws: []cairn.Worker{{ID: "w1", Name: "no-plugin", State: cairn.WorkerActive,
		ExpiresAt: now.Add(time.Minute), Types: []string{"noop"}}}}
	r := &cairn.Run{ID: "r1", State: cairn.RunRunning, Owner: "srv"}
	trs := []*cairn.TaskRun{{RunID: "r1", TaskID: "cluster", Type: "kmeans", State: cairn.TaskReady}}
	graph := func() cairn.WaitGraph { return nil }
	got, err := Waiting(context.Background(), WaitSources{Workers: lister, PoolOwner: "foreground"}, r, trs, graph, now)
	if err != nil || len(got) != 0 || lister.calls != 0 {
		t.Fatalf("another process drives the run: %v, %v, %d worker reads; want no reason and no read", got, err, lister.calls)
	}
	got, err = Waiting(context.Background(), WaitSources{Workers: lister, PoolOwner: "srv"}, r, trs, graph, now)
	if err != nil || got["cluster"] != "waiting: no live worker runs type kmeans (1 live worker: no-plugin)" || lister.calls != 1 {
		t.Fatalf("this server drives the run: %v, %v, %d worker reads", got, err, lister.calls)
	}
}
