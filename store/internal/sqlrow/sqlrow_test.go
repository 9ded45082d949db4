package sqlrow

import (
	"database/sql"
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

// taskRow is one row of TaskCols for a fake Scanner: values by column,
// nil for NULL, each set into its destination as database/sql would (a
// fresh []byte each time).
type taskRow []any

func (r taskRow) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return errors.New("wrong number of columns")
	}
	for i, d := range dest {
		dv := reflect.ValueOf(d).Elem()
		v := r[i]
		switch {
		case v == nil:
			dv.Set(reflect.Zero(dv.Type()))
		case dv.Type() == reflect.TypeFor[sql.NullString]():
			dv.Set(reflect.ValueOf(sql.NullString{String: v.(string), Valid: true}))
		case dv.Type() == reflect.TypeFor[sql.NullInt64]():
			dv.Set(reflect.ValueOf(sql.NullInt64{Int64: int64(v.(int)), Valid: true}))
		case dv.Kind() == reflect.Slice:
			dv.SetBytes([]byte(v.(string)))
		default:
			dv.Set(reflect.ValueOf(v).Convert(dv.Type()))
		}
	}
	return nil
}

// TestTaskDecoderReusesNothingOfARow: a TaskDecoder gives each row the
// task run TaskRun would, a row's NULL columns (labels, inputs, outputs,
// metrics, item, pool) not keeping the previous row's values, and a task
// run it returned unchanged by the rows decoded after it.
func TestTaskDecoderReusesNothingOfARow(t *testing.T) {
	full := taskRow{"r1", "a", "train", "succeeded", 2, 3, 1000, 2.0, 5000, 60, `{"k":1}`,
		`{"in":{"digest":"sha256:aa","size":3}}`, `{"out":{"digest":"sha256:bb","size":4}}`, `{"acc":0.5}`, "boom", 7, "tok",
		"w1", 9, 11, 12, 4, 3, 1, 1, 2, 1, 1, `{"gpu":"a100"}`, "q", `{"x":1}`, 3, "p", 2, 5}
	bare := taskRow{"r1", "b", "noop", "ready", 0, 0, 0, 0.0, 0, 0, nil,
		nil, nil, nil, "", nil, nil,
		nil, nil, nil, nil, 1, 0, 0, 0, 0, 0, 0, nil, "", nil, nil, "", 1, 0}
	want := func(r taskRow) *cairn.TaskRun {
		tr, err := TaskRun(r)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	var dec TaskDecoder
	var got []*cairn.TaskRun
	rows := []taskRow{full, bare, full, bare}
	for _, r := range rows {
		tr, err := dec.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tr)
	}
	for i, r := range rows {
		if w := want(r); !reflect.DeepEqual(got[i], w) {
			t.Errorf("row %d (%s): decoded\n%+v\nwant\n%+v", i, r[1], got[i], w)
		}
	}
	if len(got[0].Labels) == 0 || got[0].Inputs == nil || got[0].Item == nil || got[0].PoolSlots != 2 {
		t.Errorf("the full row decoded without its optional values: %+v (the test reads it wrongly)", got[0])
	}
}
