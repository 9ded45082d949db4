package serve

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
)

func fuzzSchema() *schema {
	s := &schema{index: map[string]int{}, label: "label"}
	for _, c := range []column{{name: "n", kind: dataset.Numeric}, {name: "c", kind: dataset.Categorical, cats: map[string]string{"a": "a"}},
		{name: "b", kind: dataset.Boolean}, {name: "d", kind: dataset.Datetime}} {
		s.index[c.name] = len(s.cols)
		s.cols = append(s.cols, c)
		s.names = append(s.names, c.name)
	}
	return s
}

// FuzzDecode checks the one-pass reader against encoding/json: a body it
// accepts is valid JSON whose rows hold exactly the values it read, and
// a body that is not JSON is refused with a 400.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"rows":[{"n":1,"c":"a","b":true,"d":"2024-01-02"}]}`,
		`{"rows":[{"n":-0.5e3,"c":"x\u00e9","b":false,"d":null,"label":1}]}`,
		` { "rows" : [ { "n" : null , "c" : "NA" , "b" : null , "d" : "2024-01-02T03:04:05Z" } ] } `,
		`{"rows":[{"n":1,"c":"a","b":true,"d":"2024-01-02"},{"n":2,"c":"\"","b":true,"d":"?"}]}`,
		`{"rows":[{"n":1e400}]}`, `{"rows":[]}`, `{"rows":[{"n":01}]}`, `{"rows":[{"c":"\ud800"}]}`,
	} {
		f.Add([]byte(seed))
	}
	sch := fuzzSchema()
	f.Fuzz(func(t *testing.T, body []byte) {
		d := newDecoder(sch, body, 100, nil)
		err := d.decode()
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Status/100 != 4 {
				t.Fatalf("refused with %v (%T), want a 4xx *Error", err, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		var ref struct {
			Rows []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("accepted %q, which encoding/json does not read: %v", body, err)
		}
		if len(ref.Rows) != d.n {
			t.Fatalf("%d rows, encoding/json reads %d", d.n, len(ref.Rows))
		}
		fr := d.frame()
		if err := fr.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, row := range ref.Rows {
			for j, c := range sch.cols {
				col := fr.Columns[j]
				v, ok := row[c.name]
				if !ok {
					t.Fatalf("row %d: %s accepted without its column %s", i, body, c.name)
				}
				s, isStr := v.(string)
				missing := v == nil || isStr && (c.kind == dataset.Categorical || c.kind == dataset.Datetime) && missingString([]byte(s))
				if col.IsMissing(i) != missing {
					t.Fatalf("row %d col %s: missing %v, want %v (%q)", i, c.name, col.IsMissing(i), missing, body)
				}
				if missing {
					continue
				}
				switch c.kind {
				case dataset.Numeric:
					if x := v.(float64); x != col.Num[i] || math.IsInf(x, 0) {
						t.Fatalf("row %d: %v, encoding/json reads %v", i, col.Num[i], x)
					}
				case dataset.Boolean:
					if want := map[bool]float64{true: 1, false: 0}[v.(bool)]; col.Num[i] != want {
						t.Fatalf("row %d: boolean %v, want %v", i, col.Num[i], v)
					}
				case dataset.Categorical:
					if col.Str[i] != s {
						t.Fatalf("row %d: %q, encoding/json reads %q", i, col.Str[i], s)
					}
				case dataset.Datetime:
					if want, ok := dataset.ParseDatetime([]byte(s)); !ok || want != col.Num[i] {
						t.Fatalf("row %d: datetime %v from %q", i, col.Num[i], s)
					}
				}
			}
		}
	})
}
