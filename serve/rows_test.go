package serve_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// countingRows counts the writes of served rows to the store.
type countingRows struct {
	serve.RowLog
	mu     sync.Mutex
	writes int
	rows   int
}

func (c *countingRows) LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error {
	c.mu.Lock()
	c.writes++
	c.rows += len(rows)
	c.mu.Unlock()
	return c.RowLog.LogServedRows(ctx, rows, keep)
}

// TestServedRowsInStore: the sampled rows of served requests go to the
// store in batches (a write per second or so, never one per request),
// each the JSON object of the model's columns as sent (no label, no
// cairn_ fields), of the version that answered; a server stopped writes
// what it holds, and a server started again on the same store (a replica
// restarted) adds to what was committed, within the bound kept per
// version.
func TestServedRowsInStore(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	v := fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	log := &countingRows{RowLog: fx.st}
	body := `{"rows":[{"num":1.25,"color":"red","flag":true,"when":"2024-01-02","label":"yes"},` +
		`{"when":null,"num":-3e-7,"color":"new \"one\"","flag":false}]}`
	run := func(requests int) {
		t.Helper()
		s := newServer(t, fx, serve.Options{SampleRate: 1, RowLog: log, RowsKept: 150})
		s.Start(context.Background())
		for range requests {
			if _, err := predict(t, s, "clf", 0, body); err != nil {
				t.Fatal(err)
			}
		}
		s.Stop(context.Background())
		if n := s.RowsWaiting(); n != 0 {
			t.Fatalf("%d rows not written after Stop", n)
		}
	}
	run(50)
	if log.writes == 0 || log.writes > 5 || log.rows != 100 {
		t.Fatalf("50 requests of 2 rows: %d writes of %d rows, want the 100 rows in a few batches", log.writes, log.rows)
	}
	rows, err := fx.st.ServedRows(context.Background(), "clf", v, time.Time{}, 1000)
	if err != nil || len(rows) != 100 {
		t.Fatalf("%d rows in the store, %v; want 100", len(rows), err)
	}
	if got := string(rows[0].Row); got != `{"num":-3e-7,"color":"new \"one\"","flag":false,"when":null}` || rows[0].Version != v {
		t.Fatalf("newest row %s of version %d", got, rows[0].Version)
	}
	if got := string(rows[1].Row); got != `{"num":1.25,"color":"red","flag":true,"when":"2024-01-02"}` {
		t.Fatalf("row %s", got)
	}
	// Restarted: the committed rows are there, the new ones added, the
	// oldest past the bound of 150 deleted.
	run(40)
	rows, err = fx.st.ServedRows(context.Background(), "clf", v, time.Time{}, 1000)
	if err != nil || len(rows) != 150 || log.rows != 180 {
		t.Fatalf("after a restart: %d rows kept (%v), %d written; want the bound, 150, of 180", len(rows), err, log.rows)
	}
}

// TestServedRowsBufferBounded: rows that find the buffer full are
// dropped and counted, not kept: a database that does not keep up takes
// no more memory than the bound.
func TestServedRowsBufferBounded(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	var mu sync.Mutex
	dropped := 0
	// Not started: nothing is written, the rows wait in the buffer.
	s := newServer(t, fx, serve.Options{SampleRate: 1, RowLog: fx.st, RowBuffer: 3, Observe: func(e serve.Event) {
		if e.Kind == serve.EventSamplesDropped {
			mu.Lock()
			dropped += e.Rows
			mu.Unlock()
		}
	}})
	body := `{"rows":[{"num":1.25,"color":"red","flag":true,"when":"2024-01-02"},{"num":2,"color":"blue","flag":false,"when":null}]}`
	for range 3 {
		if _, err := predict(t, s, "clf", 0, body); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := s.RowsWaiting(); n != 2 || dropped != 4 {
		t.Fatalf("%d rows waiting, %d dropped; want 2 (the bound is 3) and 4", n, dropped)
	}
}
