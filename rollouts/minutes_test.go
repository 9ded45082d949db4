package rollouts_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestControllerRecordsMinutes: the leader aggregates each minute of the
// request log once it is over (and a few seconds more), from ten minutes
// back when it begins leading; a process that does not lead writes none.
func TestControllerRecordsMinutes(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	deploy(t, s, t0, "m", "a model", nil)
	var reqs []cairn.ModelRequest
	for i := range 30 * 60 { // one a second for 30 minutes, from 12:00
		reqs = append(reqs, cairn.ModelRequest{RequestID: fmt.Sprint(i), Name: "m", Version: 1, At: t0.Add(time.Duration(i) * time.Second),
			Duration: time.Millisecond, Rows: 1, Kind: "regression", Predictions: []byte(`[2]`)})
	}
	if err := s.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(20*time.Minute + 3*time.Second)
	leads := false
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: func() time.Time { return now },
		Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, leads }})
	if err != nil {
		t.Fatal(err)
	}
	minutes := func() []cairn.ModelMinute {
		ms, err := s.ModelMinutes(ctx, "m", t0)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	ctl.Tick(ctx)
	if ms := minutes(); len(ms) != 0 {
		t.Fatalf("a process that does not lead wrote %d minutes", len(ms))
	}
	leads = true
	// 12:20:03: 12:19 ended 3 s ago, under the lag: 12:09 to 12:18.
	ctl.Tick(ctx)
	ms := minutes()
	if len(ms) != 10 || !ms[0].Minute.Equal(t0.Add(9*time.Minute)) || ms[9].Requests != 60 || ms[9].Dist.Mean() != 2 {
		t.Fatalf("the first pass's minutes: %d, first %+v", len(ms), ms)
	}
	now = now.Add(5 * time.Second) // 12:20:08: 12:19 is written
	ctl.Tick(ctx)
	ms = minutes()
	if last := ms[len(ms)-1]; len(ms) != 11 || !last.Minute.Equal(t0.Add(19*time.Minute)) || last.Requests != 60 {
		t.Fatalf("the next pass's minutes: %d, last %+v", len(ms), last)
	}
}
