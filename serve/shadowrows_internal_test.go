package serve

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// testSchema is the schema of a model with label y and features of the
// kinds given, by name.
func testSchema(names []string, kinds []dataset.Kind) *schema {
	m := &model.Model{Label: "y", Preprocess: &features.Transformer{}}
	for i, n := range names {
		m.Preprocess.Features = append(m.Preprocess.Features, features.Feature{Name: n, Kind: kinds[i]})
	}
	return newSchema(m)
}

// TestSchemaSame: a candidate reads a body as production does — and is
// handed production's decoded rows — only with the same columns, in the
// same order, of the same kinds, and the same label.
func TestSchemaSame(t *testing.T) {
	n, c, b := dataset.Numeric, dataset.Categorical, dataset.Boolean
	base := testSchema([]string{"a", "b", "c"}, []dataset.Kind{n, c, b})
	for _, tc := range []struct {
		s    *schema
		same bool
	}{
		{testSchema([]string{"a", "b", "c"}, []dataset.Kind{n, c, b}), true},
		{testSchema([]string{"a", "b"}, []dataset.Kind{n, c}), false},
		{testSchema([]string{"a", "c", "b"}, []dataset.Kind{n, b, c}), false},
		{testSchema([]string{"a", "b", "c"}, []dataset.Kind{n, c, n}), false},
		{testSchema([]string{"a", "b", "x"}, []dataset.Kind{n, c, b}), false},
	} {
		if got := base.same(tc.s); got != tc.same {
			t.Errorf("same(%v) = %v, want %v", tc.s.names, got, tc.same)
		}
	}
	other := testSchema([]string{"a", "b", "c"}, []dataset.Kind{n, c, b})
	other.label = "z"
	if base.same(other) {
		t.Error("schemas of two labels are the same")
	}
}

// TestShadowRowsAsDecoded: the rows production decoded, copied into a
// batch's arrays after other requests' and read back as a shadow worker
// reads them, are the frame production predicted on: every column's
// values, categories and missing flags, whichever column first has a
// missing value and however many rows.
func TestShadowRowsAsDecoded(t *testing.T) {
	sc := testSchema([]string{"num", "color", "flag", "when"}, []dataset.Kind{dataset.Numeric, dataset.Categorical, dataset.Boolean, dataset.Datetime})
	bodies := []string{
		`{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"}]}`,
		`{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"},{"num":-4,"color":"blue","flag":false,"when":null}]}`,
		`{"rows":[{"num":null,"color":"red","flag":true,"when":"2024-01-02"},{"num":2,"color":null,"flag":false,"when":null}]}`,
		`{"rows":[{"num":3,"color":"green","flag":null,"when":"2024-03-04"},{"num":5,"color":"red","flag":true,"when":"2024-03-05"},{"num":6,"color":"x","flag":false,"when":"2024-03-06"}]}`,
		`{"rows":[{"num":7,"color":"blue","flag":true,"when":"2024-04-01"}]}`,
	}
	var (
		b     shadowBatchRows
		where []shadowRows
		want  []string
	)
	show := func(f *dataset.Frame) string {
		s := ""
		for _, c := range f.Columns {
			s += fmt.Sprintf("%s/%s num=%v str=%q missing=%v; ", c.Name, c.Kind, c.Num, c.Str, c.Missing)
		}
		return s
	}
	for round := range 2 { // the second over arrays emptied and reused
		b = shadowBatchRows{num: b.num[:0], str: b.str[:0], miss: b.miss[:0]}
		where, want = where[:0], want[:0]
		for _, body := range bodies {
			d := newDecoder(sc, []byte(body), 100, nil)
			if err := d.decode(); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			want = append(want, show(d.frame()))
			where = append(where, b.add(d))
			d.release()
		}
		var sf shadowFrame
		for i, r := range where {
			f := sf.of(sc, &b, r)
			if got := show(f); got != want[i] || f.Rows() != r.n {
				t.Errorf("round %d, %s: read back\n%s\nwant\n%s", round, bodies[i], got, want[i])
			}
		}
	}
	if !reflect.DeepEqual(where[0], shadowRows{n: 1, num: 0, str: 0, miss: -1}) {
		t.Errorf("a request without missing values: %+v", where[0])
	}
}
