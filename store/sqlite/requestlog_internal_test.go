package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// The request log's predictions are handed to the driver as bytes (no
// copy to a string per row) and stored as the TEXT the columns are: a
// BLOB would compare unequal to text and read back as bytes in SQL.
func TestRequestLogPredictionsAreText(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Now()
	reqs := []cairn.ModelRequest{
		{RequestID: "a", Name: "m", Version: 1, At: at, Rows: 2, Kind: "classification", Predictions: []byte(`["x","y"]`),
			ShadowVersion: 2, ShadowKind: "regression", ShadowPredictions: []byte(`[0.5,1]`)},
		{RequestID: "b", Name: "m", Version: 1, At: at, Rows: 1, Kind: "regression", Failed: true},
	}
	if err := s.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	rows, err := s.wc.QueryContext(ctx, `SELECT request_id, typeof(predictions), typeof(shadow_predictions), predictions = '["x","y"]', shadow_predictions = '[0.5,1]', shadow_kind
FROM model_requests ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, pt, st, kind string
		var eq, seq any
		if err := rows.Scan(&id, &pt, &st, &eq, &seq, &kind); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+pt+" "+st+" "+kind)
		if id == "a" && (eq != int64(1) || seq != int64(1)) {
			t.Errorf("request a: predictions equal to their text: %v, %v", eq, seq)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a text text regression", "b null null "}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("stored (id, typeof predictions, typeof shadow_predictions, shadow_kind): %q, want %q", got, want)
	}
}
