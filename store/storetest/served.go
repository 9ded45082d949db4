package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// ServedRowStore keeps the rows serving sampled and the drift measured of
// them (issue #22: drift_above).
type ServedRowStore interface {
	LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error
	ServedRows(ctx context.Context, name string, version int, since time.Time, limit int) ([]cairn.ServedRow, error)
	SetModelDrift(ctx context.Context, d cairn.ModelDrift) error
	ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error)
	PruneServedRows(ctx context.Context, before time.Time, limit int) (int64, error)
}

// testServedRows: sampled rows kept per model version up to the writer's
// bound (the oldest deleted by the write that passes it), read newest
// first within a window; a bad row writes nothing of its batch; pruned by
// time; the drift
// measured is replaced per version; a drift_above finding is an alert as
// the others are.
func testServedRows(t *testing.T, s Server) {
	ss, ok := s.(ServedRowStore)
	if !ok {
		t.Skip("the store keeps no served rows")
	}
	ctx := context.Background()
	t0 := origin()
	var batch []cairn.ServedRow
	for i := range 30 {
		batch = append(batch, cairn.ServedRow{Name: "churn", Version: 1, At: t0.Add(time.Duration(i) * time.Second), Row: fmt.Appendf(nil, `{"age":%d,"plan":"pro"}`, i)})
		if i < 5 {
			batch = append(batch, cairn.ServedRow{Name: "churn", Version: 2, At: t0.Add(time.Duration(i) * time.Second), Row: fmt.Appendf(nil, `{"age":%d}`, 100+i)})
		}
	}
	// Two batches, the second taking version 1 past its bound of 20.
	if err := ss.LogServedRows(ctx, batch[:10], 20); err != nil {
		t.Fatal(err)
	}
	if err := ss.LogServedRows(ctx, batch[10:], 20); err != nil {
		t.Fatal(err)
	}
	got, err := ss.ServedRows(ctx, "churn", 1, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("%d rows of churn@1 kept, want the bound, 20", len(got))
	}
	if string(got[0].Row) != `{"age":29,"plan":"pro"}` || string(got[19].Row) != `{"age":10,"plan":"pro"}` {
		t.Fatalf("kept %s … %s, want the newest 20 (29 down to 10), newest first", got[0].Row, got[19].Row)
	}
	if !got[0].At.Equal(t0.Add(29*time.Second)) || got[0].Name != "churn" || got[0].Version != 1 {
		t.Fatalf("first row %+v", got[0])
	}
	if v2, err := ss.ServedRows(ctx, "churn", 2, time.Time{}, 100); err != nil || len(v2) != 5 {
		t.Fatalf("churn@2: %d rows, %v; want its 5, another version's bound", len(v2), err)
	}
	// The window and the limit.
	if w, err := ss.ServedRows(ctx, "churn", 1, t0.Add(25*time.Second), 100); err != nil || len(w) != 5 {
		t.Fatalf("since 25s: %d rows, %v; want 5", len(w), err)
	}
	if w, err := ss.ServedRows(ctx, "churn", 1, time.Time{}, 3); err != nil || len(w) != 3 || string(w[2].Row) != `{"age":27,"plan":"pro"}` {
		t.Fatalf("limit 3: %d rows, %v", len(w), err)
	}
	// A bad row fails its batch whole.
	bad := []cairn.ServedRow{{Name: "churn", Version: 1, At: t0, Row: []byte(`{"age":1}`)}, {Name: "churn", Version: 1, At: t0, Row: []byte(`[1]`)}}
	if err := ss.LogServedRows(ctx, bad, 20); err == nil {
		t.Fatal("a row that is not a JSON object was taken")
	}
	if again, _ := ss.ServedRows(ctx, "churn", 1, time.Time{}, 100); len(again) != 20 || string(again[0].Row) != `{"age":29,"plan":"pro"}` {
		t.Fatalf("after a refused batch: %d rows, newest %s", len(again), again[0].Row)
	}
	// Pruned by time, oldest first, a batch at a time: churn@1's rows of
	// 10s to 14s and churn@2's of 0s to 4s are before 15s.
	if n, err := ss.PruneServedRows(ctx, t0.Add(15*time.Second), 8); err != nil || n != 8 {
		t.Fatalf("prune: %d %v, want a batch of 8", n, err)
	}
	if n, err := ss.PruneServedRows(ctx, t0.Add(15*time.Second), 8); err != nil || n != 2 {
		t.Fatalf("prune again: %d %v, want the 2 left", n, err)
	}
	if left, _ := ss.ServedRows(ctx, "churn", 1, time.Time{}, 100); len(left) != 15 || string(left[14].Row) != `{"age":15,"plan":"pro"}` {
		t.Fatalf("after the prune: %d rows of churn@1, oldest %s", len(left), left[len(left)-1].Row)
	}
	// The drift measured, replaced per version.
	for _, d := range []cairn.ModelDrift{
		{Name: "churn", Version: 1, Value: 0.05, Feature: "age", Rows: 20, At: t0},
		{Name: "churn", Version: 1, Value: 0.4, Feature: "plan", Rows: 30, At: t0.Add(time.Minute)},
		{Name: "churn", Version: 2, Error: "the training data is not known", At: t0},
		{Name: "price", Version: 3, Value: 0.1, Feature: "sqft", Rows: 200, At: t0},
	} {
		if err := ss.SetModelDrift(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := ss.ModelDrifts(ctx, "churn")
	if err != nil || len(ds) != 2 {
		t.Fatalf("churn's drift: %+v %v", ds, err)
	}
	if d := ds[0]; d.Version != 1 || d.Value != 0.4 || d.Feature != "plan" || d.Rows != 30 || !d.At.Equal(t0.Add(time.Minute)) || d.Error != "" {
		t.Fatalf("churn@1's drift %+v, want the last measured", d)
	}
	if d := ds[1]; d.Version != 2 || d.Error == "" {
		t.Fatalf("churn@2's drift %+v", d)
	}
	if all, err := ss.ModelDrifts(ctx, ""); err != nil || len(all) != 3 || all[2].Name != "price" {
		t.Fatalf("every model's drift: %+v %v", all, err)
	}
	// A drift_above finding fires as the other alerts do.
	ms, ok1 := s.(ModelAlertStore)
	as, ok2 := s.(AlertStore)
	if !ok1 || !ok2 {
		return
	}
	a := cairn.ModelAlert{On: cairn.AlertDriftAbove, Bound: 0.2, Webhook: "https://hooks.example.com/d"}
	fired, err := ms.RecordModelAlert(ctx, cairn.ModelAlertFinding{Name: "churn", Version: 1, Seq: 100, Alert: a, Holds: true, Value: 0.4,
		Detail: "plan", Now: t0.Add(2 * time.Minute)})
	if err != nil || !fired {
		t.Fatalf("drift_above: fired %v, %v", fired, err)
	}
	list, err := as.ListAlerts(ctx, cairn.AlertFilter{Model: "churn"})
	if err != nil || len(list) != 1 || list[0].Event != cairn.AlertDriftAbove || list[0].Value != 0.4 || list[0].Bound != 0.2 {
		t.Fatalf("alerts %+v %v", list, err)
	}
	if other, err := as.ListAlerts(ctx, cairn.AlertFilter{Model: "price"}); err != nil || len(other) != 0 {
		t.Fatalf("another model's alerts: %+v %v", other, err)
	}
}
