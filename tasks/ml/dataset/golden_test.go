package dataset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGolden reads each hand-written input, writes it, compares the bytes
// with the golden file, and reads the golden file back with the frame's
// kinds to get the same frame.
func TestGolden(t *testing.T) {
	for _, c := range []struct{ in, golden string }{
		{"quoted.csv", "quoted.golden.csv"},
		{"crlf.csv", "crlf.golden.csv"},
		{"bom.csv", "bom.golden.csv"},
		{"data.jsonl", "data.golden.csv"},
	} {
		t.Run(c.in, func(t *testing.T) {
			var f *Frame
			var err error
			if strings.HasSuffix(c.in, ".jsonl") {
				f, err = ReadJSONL(strings.NewReader(readFile(t, c.in)), ReadOptions{})
			} else {
				f, err = ReadCSV(strings.NewReader(readFile(t, c.in)), ReadOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			got := writeString(t, f)
			if want := readFile(t, c.golden); got != want {
				t.Fatalf("WriteCSV:\n%q\nwant\n%q", got, want)
			}
			back := mustReadCSV(t, got, ReadOptions{Schema: Describe(f).Kinds()})
			if d := frameDiff(f, back); d != "" {
				t.Fatalf("golden read back: %s", d)
			}
			// The golden bytes infer the same kinds on their own.
			if d := frameDiff(f, mustReadCSV(t, got, ReadOptions{})); d != "" {
				t.Fatalf("golden inferred: %s", d)
			}
		})
	}
}

func TestQuotedContents(t *testing.T) {
	f := mustReadCSV(t, readFile(t, "quoted.csv"), ReadOptions{})
	want := &Frame{Columns: []*Column{
		{Name: "id", Kind: Numeric, Num: []float64{1, 2, 3}},
		{Name: "name", Kind: Categorical, Str: []string{"Smith, John", "plain", ""}, Missing: []bool{false, false, true}},
		{Name: "note", Kind: Categorical, Str: []string{`said "hi"`, "two\nlines", ""}, Missing: []bool{false, false, true}},
		{Name: "ok", Kind: Categorical, Str: []string{"yes", "no", "TRUE"}}, // spellings kept
		{Name: "when", Kind: Datetime, Num: []float64{1704153600, 1704276000, 1704344767}},
	}}
	if d := frameDiff(f, want); d != "" {
		t.Fatal(d)
	}
	c := mustReadCSV(t, readFile(t, "crlf.csv"), ReadOptions{})
	if l, _ := c.Col("label"); l.Str[0] != "a\nb" || l.Str[2] != "d,e" {
		t.Fatalf("crlf labels %q", l.Str)
	}
	if x, _ := c.Col("x"); x.Kind != Numeric || !x.IsMissing(2) || x.Num[1] != -2 {
		t.Fatalf("crlf x %+v", x)
	}
	if b := mustReadCSV(t, readFile(t, "bom.csv"), ReadOptions{}); b.Names()[0] != "a" {
		t.Fatalf("BOM kept: %q", b.Names())
	}
}

func TestJSONLContents(t *testing.T) {
	f, err := ReadJSONL(strings.NewReader(readFile(t, "data.jsonl")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Frame{Columns: []*Column{
		{Name: "id", Kind: Numeric, Num: []float64{1, 2, 3}},
		{Name: "city", Kind: Categorical, Str: []string{"Paris", "", "Oslo, NO"}, Missing: []bool{false, true, false}},
		{Name: "score", Kind: Numeric, Num: []float64{2.5, 0, 0}, Missing: []bool{false, true, true}},
		{Name: "active", Kind: Boolean, Num: []float64{1, 0, 1}},
		{Name: "joined", Kind: Datetime, Num: []float64{0, 1704153600, 1706929506}, Missing: []bool{true, false, false}},
	}}
	if d := frameDiff(f, want); d != "" {
		t.Fatal(d)
	}
	empty, err := ReadJSONL(strings.NewReader("\n\n"), ReadOptions{})
	if err != nil || len(empty.Columns) != 0 || empty.Rows() != 0 {
		t.Fatalf("empty JSONL: %v %+v", err, empty)
	}
}

func TestIris(t *testing.T) {
	f := mustReadCSV(t, readFile(t, "iris.csv"), ReadOptions{})
	if f.Rows() != 150 || len(f.Columns) != 5 {
		t.Fatalf("%d rows, %d columns", f.Rows(), len(f.Columns))
	}
	s := Describe(f)
	for i, c := range s.Columns {
		want := Numeric
		if i == 4 {
			want = Categorical
		}
		if c.Kind != want || c.Missing != 0 {
			t.Errorf("column %q: %s, %d missing", c.Name, c.Kind, c.Missing)
		}
	}
	if s.Columns[4].Name != "species" || s.Columns[4].Distinct != 3 {
		t.Fatalf("species: %+v", s.Columns[4])
	}
	if c := s.Columns[0]; c.Min != 4.3 || c.Max != 7.9 {
		t.Errorf("sepal length range %v..%v", c.Min, c.Max)
	}
	species, _ := f.Col("species")
	train, test, val, err := StratifiedSplit(species.Str, 0.2, 0, 42)
	if err != nil || val != nil {
		t.Fatal(err, val)
	}
	bal, err := ClassBalance(species.Str, train, test)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int{40, 10} {
		for _, cc := range bal[p].Counts {
			if cc.Count != want {
				t.Errorf("part %d class %s: %d rows, want %d", p, cc.Class, cc.Count, want)
			}
		}
	}
	if bal[0].Rows != 120 || bal[1].Rows != 30 || len(bal[0].Counts) != 3 {
		t.Fatalf("balance %+v", bal)
	}
	// The schema JSON is deterministic and leaves out what does not apply.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"rows":150,"columns":[` +
		`{"name":"sepal_length_cm","kind":"numeric","missing":0,"min":4.3,"max":7.9,"mean":5.843333333333334},` +
		`{"name":"sepal_width_cm","kind":"numeric","missing":0,"min":2,"max":4.4,"mean":3.0573333333333337},` +
		`{"name":"petal_length_cm","kind":"numeric","missing":0,"min":1,"max":6.9,"mean":3.7580000000000005},` +
		`{"name":"petal_width_cm","kind":"numeric","missing":0,"min":0.1,"max":2.5,"mean":1.1993333333333334},` +
		`{"name":"species","kind":"categorical","missing":0,"distinct":3}]}`
	if string(b) != wantJSON {
		t.Errorf("schema JSON\n%s\nwant\n%s", b, wantJSON)
	}
	var back Schema
	if err := json.Unmarshal(b, &back); err != nil || back.Columns[0] != s.Columns[0] || back.Columns[4] != s.Columns[4] {
		t.Errorf("schema JSON round trip: %v %+v", err, back)
	}
}
