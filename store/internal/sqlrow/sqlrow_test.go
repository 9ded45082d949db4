package sqlrow

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/cairnml/cairn"
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

// TestDecodeMapAsJSON: DecodeMap gives what json.Unmarshal gives into a
// zero map — the empty object an empty map, not nil — and does so for {}
// in one allocation.
func TestDecodeMapAsJSON(t *testing.T) {
	for _, text := range []string{`{}`, `{"a":{"digest":"sha256:aa","size":1}}`, ` {}`, `null`} {
		var got, want map[string]cairn.ArtifactRef
		errGot, errWant := DecodeMap([]byte(text), &got), json.Unmarshal([]byte(text), &want)
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%q: %#v, %v; json.Unmarshal: %#v, %v", text, got, errGot, want, errWant)
		}
	}
	var m map[string]float64
	if err := DecodeMap([]byte(`{"x":`), &m); err == nil {
		t.Error("a truncated object decoded")
	}
	empty, into := []byte(`{}`), new(cairn.TaskRun)
	if n := testing.AllocsPerRun(100, func() {
		into.Inputs = nil
		DecodeMap(empty, &into.Inputs)
	}); n > 1 {
		t.Errorf("{} took %v allocations", n)
	}
}
