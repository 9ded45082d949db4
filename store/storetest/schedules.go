package storetest

// Schedules: one run per workflow and slot, and a schedule's position
// advanced by compare-and-set in the transaction that creates the slot's
// run — so that two schedulers on one database fire each slot once.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// slotRun is a queued run of workflow for slot.
func slotRun(at time.Time, workflow string, slot time.Time, trigger cairn.Trigger) (*cairn.Run, []*cairn.TaskRun) {
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: workflow, Digest: digest, SourcePath: "wf/" + workflow + ".yaml",
		Source: []byte("name: " + workflow + "\n"), State: cairn.RunQueued, CreatedAt: at, Trigger: trigger, ScheduledFor: slot}
	return run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "t0", Type: "noop", State: cairn.TaskPending}}
}

// testSlotUnique: a second run of one workflow's slot is refused with
// ErrConflict, alone in its batch; another workflow's run of the same
// slot, and runs without a slot, are not.
func testSlotUnique(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	slot := t0.Add(-time.Hour)
	first, ftasks := slotRun(t0, "wf", slot, cairn.TriggerCron)
	if err := s.CreateRun(ctx, first, ftasks); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, first.ID)
	if err != nil || got.Trigger != cairn.TriggerCron || !got.ScheduledFor.Equal(slot) {
		t.Fatalf("GetRun = %+v, %v; want the cron trigger and slot %v", got, err, slot)
	}
	again, atasks := slotRun(t0.Add(time.Millisecond), "wf", slot, cairn.TriggerBackfill)
	if err := s.CreateRun(ctx, again, atasks); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("a second run of the slot: %v, want ErrConflict", err)
	}
	other, otasks := slotRun(t0.Add(2*time.Millisecond), "other", slot, cairn.TriggerCron)
	plain, ptasks := newRunValues(t0.Add(3*time.Millisecond), "wf")
	dup, dtasks := slotRun(t0.Add(4*time.Millisecond), "wf", slot, cairn.TriggerCron)
	var dupErr error
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.CreateRun(other, otasks); err != nil {
			return err
		}
		dupErr = tx.CreateRun(dup, dtasks) // refused alone
		return tx.CreateRun(plain, ptasks)
	})
	if err != nil || !errors.Is(dupErr, cairn.ErrConflict) {
		t.Fatalf("batch: %v, duplicate: %v", err, dupErr)
	}
	for _, id := range []string{other.ID, plain.ID} {
		if _, err := s.GetRun(ctx, id); err != nil {
			t.Errorf("run %s of the batch: %v", id, err)
		}
	}
	if _, err := s.GetRun(ctx, dup.ID); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("the refused duplicate was stored: %v", err)
	}
	if got, _ := s.GetRun(ctx, plain.ID); got.Trigger != cairn.TriggerManual || !got.ScheduledFor.IsZero() {
		t.Errorf("a run without a trigger reads %q, slot %v", got.Trigger, got.ScheduledFor)
	}
	bad, btasks := slotRun(t0.Add(5*time.Millisecond), "wf", time.Time{}, "sometimes")
	if err := s.CreateRun(ctx, bad, btasks); err == nil {
		t.Error("an unknown trigger was stored")
	}
}

// newRunValues is a queued run without a slot or trigger, not stored.
func newRunValues(at time.Time, workflow string) (*cairn.Run, []*cairn.TaskRun) {
	return slotRun(at, workflow, time.Time{}, "")
}

// testScheduleCAS: PutSchedule inserts once, then updates only the
// version it read; Schedule reads inside the batch, Schedules lists.
func testScheduleCAS(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	st := scheduler.ScheduleState{Workflow: "wf", Spec: `{"cron":"@hourly"}`, Position: t0, UpdatedAt: t0}
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.Schedule("wf"); !errors.Is(err, cairn.ErrNotFound) {
			return fmt.Errorf("Schedule before any: %v, want ErrNotFound", err)
		}
		return tx.PutSchedule(&st)
	}); err != nil {
		t.Fatal(err)
	}
	if st.Version != 1 {
		t.Errorf("version after insert %d", st.Version)
	}
	dup := scheduler.ScheduleState{Workflow: "wf", Spec: "x", Position: t0, UpdatedAt: t0}
	if err := s.Batch(ctx, func(tx scheduler.Tx) error { return tx.PutSchedule(&dup) }); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("a second insert: %v, want ErrConflict", err)
	}
	stale := st
	st.Position, st.Paused = t0.Add(time.Hour), true
	if err := s.Batch(ctx, func(tx scheduler.Tx) error { return tx.PutSchedule(&st) }); err != nil || st.Version != 2 {
		t.Fatalf("update: %v, version %d", err, st.Version)
	}
	stale.Position = t0.Add(2 * time.Hour)
	if err := s.Batch(ctx, func(tx scheduler.Tx) error { return tx.PutSchedule(&stale) }); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("a stale update: %v, want ErrConflict", err)
	}
	list, err := s.Schedules(ctx)
	want := []scheduler.ScheduleState{{Workflow: "wf", Spec: `{"cron":"@hourly"}`, Position: t0.Add(time.Hour), Paused: true, UpdatedAt: t0, Version: 2}}
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("Schedules = %+v, %v; want %+v", list, err, want)
	}
}

// testTwoStoresFire: two stores on one database each try, many times at
// once, to fire the same slots the way a server does — read the position
// in the batch, create the slot's run, advance the position — and every
// slot gets exactly one run.
func testTwoStoresFire(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	init := scheduler.ScheduleState{Workflow: "wf", Spec: "s", Position: t0, UpdatedAt: t0}
	if err := a.Batch(ctx, func(tx scheduler.Tx) error { return tx.PutSchedule(&init) }); err != nil {
		t.Fatal(err)
	}
	const slots = 20
	fire := func(s scheduler.Store, slot time.Time) (bool, error) {
		fired := false
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			st, err := tx.Schedule("wf")
			if err != nil {
				return err
			}
			if !st.Position.Before(slot) {
				return nil // handled by the other
			}
			run, tasks := slotRun(slot, "wf", slot, cairn.TriggerCron)
			if err := tx.CreateRun(run, tasks); err != nil {
				return err
			}
			st.Position = slot
			if err := tx.PutSchedule(&st); err != nil {
				return err
			}
			fired = true
			return nil
		})
		return fired, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := map[time.Time]int{}
	for i := 1; i <= slots; i++ {
		slot := t0.Add(time.Duration(i) * time.Minute)
		for _, s := range []scheduler.Store{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := fire(s, slot)
				if err != nil {
					t.Errorf("fire %v: %v", slot, err)
				}
				if ok {
					mu.Lock()
					fired[slot]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	runs, err := b.ListRuns(ctx, scheduler.RunFilter{Workflow: "wf", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	per := map[time.Time]int{}
	for _, r := range runs {
		per[r.ScheduledFor.UTC()]++
	}
	for slot, n := range per {
		if n != 1 || fired[slot] != 1 {
			t.Errorf("slot %v: %d runs, fired %d times", slot, n, fired[slot])
		}
	}
	// Slots fired out of order are refused by the position: at least the
	// last one fired, and none twice.
	if per[t0.Add(slots*time.Minute)] != 1 {
		t.Errorf("the last slot has %d runs", per[t0.Add(slots*time.Minute)])
	}
}
