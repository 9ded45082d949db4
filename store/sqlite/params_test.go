package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// A run's params come back from the database as the workflows package
// gave them: an int64 as int64 (2^53+1 exact), a float as float64, and an
// integer beyond int64 as the exact json.Number it was stored as (a seed
// of 2^64-1 used to come back as the float 18446744073709552000), in
// lists and maps too.
func TestRunParamsKeepIntegersExact(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	params := map[string]any{
		"huge":  json.Number("18446744073709551615"),
		"neg":   json.Number("-99999999999999999999"),
		"exact": int64(9007199254740993),
		"f":     0.5,
		"e":     1e300,
		"list":  []any{json.Number("18446744073709551616"), int64(1)},
		"map":   map[string]any{"seed": json.Number("36893488147419103232")},
	}
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunQueued, CreatedAt: now, Params: params}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskPending}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Params, params) {
		t.Errorf("params read back:\n%#v\nwant:\n%#v", got.Params, params)
	}
}
