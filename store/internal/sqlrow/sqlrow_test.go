package sqlrow

import (
	"errors"
	"slices"
	"testing"
)

// rowsOf is a result of one-column rows (a narrow fake of Rows).
type rowsOf struct {
	vals []string
	i    int
	err  error
}

func (r *rowsOf) Next() bool { r.i++; return r.i <= len(r.vals) }
func (r *rowsOf) Err() error { return r.err }
func (r *rowsOf) Scan(dest ...any) error {
	*dest[0].(*string) = r.vals[r.i-1]
	return nil
}

func scanText(sc Scanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	if s == "bad" {
		err = errors.New("bad row")
	}
	return s, err
}

// TestCollect: every row in order; an empty result is an empty slice, not
// nil; a row that does not decode or a failed read is an error, no rows.
func TestCollect(t *testing.T) {
	if got, err := Collect(&rowsOf{vals: []string{"a", "b"}}, scanText); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("two rows: %v %v", got, err)
	}
	if got, err := Collect(&rowsOf{}, scanText); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no rows: %#v %v", got, err)
	}
	if got, err := Collect(&rowsOf{vals: []string{"a", "bad", "c"}}, scanText); err == nil || got != nil {
		t.Errorf("a bad row: %v %v", got, err)
	}
	if got, err := Collect(&rowsOf{vals: []string{"a"}, err: errors.New("connection lost")}, scanText); err == nil || got != nil {
		t.Errorf("a failed read: %v %v", got, err)
	}
}
