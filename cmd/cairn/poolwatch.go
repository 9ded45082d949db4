package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
)

// poolWatchEvery is how often a foreground run looks whether a task of
// its waits for a pool slot that an orphaned run holds.
const poolWatchEvery = 5 * time.Second

// orphanedHolder marks a holder WhyPool names orphaned.
const orphanedHolder = " (orphaned: cairn resume "

// poolReader is what watchPoolWaits reads of the database.
type poolReader interface {
	PoolWaiting(ctx context.Context) (bool, error)
	Pools(ctx context.Context) ([]cairn.PoolState, error)
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
}

// watchPoolWaits says on the progress display, once per reason, when a
// task of run id waits for a pool slot held by an orphaned run (its
// process died: cairn pools names it so): "task T waiting for pool gpu:
// 1 of 1 in use by R/T (orphaned: cairn resume R)". A pool wait on live
// holders is the pool doing its job and is not said. It reads nothing
// while no task waits for a pool (one indexed query per look). The
// returned function stops it.
func watchPoolWaits(ctx context.Context, st poolReader, id string, prog *progress) (stop func()) {
	if prog.mode == "none" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		said := map[string]string{} // task → the reason said last
		t := time.NewTicker(poolWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, line := range orphanedPoolWaits(ctx, st, id, said) {
				prog.say(line)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// orphanedPoolWaits returns the lines to say of run id's tasks that wait
// for a pool an orphaned run holds, leaving out a reason already said of
// the task (said, updated).
func orphanedPoolWaits(ctx context.Context, st poolReader, id string, said map[string]string) []string {
	if waiting, err := st.PoolWaiting(ctx); err != nil || !waiting {
		return nil
	}
	ps, err := st.Pools(ctx)
	if err != nil {
		return nil
	}
	pools := make(map[string]cairn.PoolState, len(ps))
	for _, p := range ps {
		pools[p.Name] = p
	}
	now := time.Now()
	orphaned := core.HolderOrphaned(ctx, st, ownerGone, now)
	var lines []string
	for _, p := range ps {
		for _, w := range p.Queue {
			if w.RunID != id {
				continue
			}
			// Only the holders a reason names are looked at.
			why := cairn.WhyPool(p.Name, w.Slots, pools, orphaned)
			if !strings.Contains(why, orphanedHolder) || said[w.TaskID] == why {
				continue
			}
			said[w.TaskID] = why
			lines = append(lines, fmt.Sprintf("%s task %s %s; its slot comes back when the holder's lease expires", stamp(now), w.TaskID, why))
		}
	}
	return lines
}
