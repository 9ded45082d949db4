package dataset

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestInference(t *testing.T) {
	unix := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.Unix()) + float64(tm.Nanosecond())/1e9
	}
	cases := []struct {
		name  string
		vals  []string
		opts  ReadOptions
		kind  Kind
		num   []float64 // for non-categorical kinds, missing rows 0
		nMiss int
	}{
		{"floats", []string{"1", "2.5", "-3e2", "0x1p-2"}, ReadOptions{}, Numeric, []float64{1, 2.5, -300, 0.25}, 0},
		{"zero one stays numeric", []string{"0", "1", "1"}, ReadOptions{}, Numeric, []float64{0, 1, 1}, 0},
		{"numeric with missing", []string{"0", "NA", "", "?", "null", "7"}, ReadOptions{}, Numeric, []float64{0, 0, 0, 0, 0, 7}, 4},
		{"NaN is not missing by default", []string{"NaN", "1"}, ReadOptions{}, Categorical, nil, 0},
		{"NaN listed as missing", []string{"NaN", "1"}, ReadOptions{Missing: []string{"NaN"}}, Numeric, []float64{0, 1}, 1},
		// Only the spelling WriteCSV writes infers boolean: any other keeps
		// its spelling as a category (issue 15).
		{"booleans true false", []string{"true", "false", "", "true"}, ReadOptions{}, Boolean, []float64{1, 0, 0, 1}, 1},
		{"booleans any case stay as written", []string{"true", "False", "YES", "no"}, ReadOptions{}, Categorical, nil, 0},
		{"yes no stays as written", []string{"yes", "no", "no"}, ReadOptions{}, Categorical, nil, 0},
		{"1/0 and yes stay as written", []string{"1", "0", "yes"}, ReadOptions{}, Categorical, nil, 0},
		{"declared boolean reads any spelling", []string{"True", "no", "1", "YES"}, ReadOptions{Schema: map[string]Kind{"c": Boolean}}, Boolean, []float64{1, 0, 1, 1}, 0},
		{"datetimes", []string{"2024-01-02", "2024-01-02 03:04:05", "2024-01-02T03:04:05.5+02:00"}, ReadOptions{}, Datetime,
			[]float64{unix("2024-01-02T00:00:00Z"), unix("2024-01-02T03:04:05Z"), unix("2024-01-02T01:04:05.5Z")}, 0},
		{"all missing is numeric", []string{"NA", "", "?"}, ReadOptions{}, Numeric, []float64{0, 0, 0}, 3},
		{"inf allowed", []string{"1", "-Inf", "+inf", "1e999"}, ReadOptions{AllowInf: true}, Numeric, nil, 0},
		{"inf and text is categorical", []string{"Inf", "x"}, ReadOptions{}, Categorical, nil, 0},
		{"mixed is categorical", []string{"a", "1"}, ReadOptions{}, Categorical, nil, 0},
		{"lowercase nan is categorical", []string{"nan", "1"}, ReadOptions{}, Categorical, nil, 0},
		{"bad date is categorical", []string{"2024-13-01"}, ReadOptions{}, Categorical, nil, 0},
		{"non-boolean word", []string{"yes", "maybe"}, ReadOptions{}, Categorical, nil, 0},
		{"no trimming", []string{" 1", "2"}, ReadOptions{}, Categorical, nil, 0},
		{"custom missing", []string{"-999", "3", ""}, ReadOptions{Missing: []string{"-999"}}, Numeric, []float64{0, 3, 0}, 2},
		{"custom missing drops NA", []string{"NA", "3"}, ReadOptions{Missing: []string{}}, Categorical, nil, 0},
		{"custom NaN not missing", []string{"NaN", "3"}, ReadOptions{Missing: []string{}}, Categorical, nil, 0},
		{"schema overrides", []string{"1", "0"}, ReadOptions{Schema: map[string]Kind{"c": Boolean}}, Boolean, []float64{1, 0}, 0},
		{"schema categorical", []string{"1", "2"}, ReadOptions{Schema: map[string]Kind{"c": Categorical}}, Categorical, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			sb.WriteString("c,k\n")
			for _, v := range tc.vals {
				sb.WriteString(v + ",x\n")
			}
			f := mustReadCSV(t, sb.String(), tc.opts)
			c, ok := f.Col("c")
			if !ok || f.Rows() != len(tc.vals) {
				t.Fatalf("col c: %v, rows %d", ok, f.Rows())
			}
			if c.Kind != tc.kind {
				t.Fatalf("kind %s, want %s", c.Kind, tc.kind)
			}
			nMiss := 0
			for i := range c.Len() {
				if c.IsMissing(i) {
					nMiss++
				}
			}
			if nMiss != tc.nMiss {
				t.Errorf("%d missing, want %d", nMiss, tc.nMiss)
			}
			if tc.num != nil {
				for i, want := range tc.num {
					if c.Num[i] != want {
						t.Errorf("row %d = %v, want %v", i, c.Num[i], want)
					}
				}
			}
			if tc.kind == Categorical {
				for i, v := range tc.vals {
					if !c.IsMissing(i) && c.Str[i] != v {
						t.Errorf("row %d = %q, want %q", i, c.Str[i], v)
					}
				}
			}
		})
	}
}

func TestHeaderOnly(t *testing.T) {
	f := mustReadCSV(t, "a,b\r\n", ReadOptions{Schema: map[string]Kind{"b": Categorical}})
	if f.Rows() != 0 || len(f.Columns) != 2 || f.Columns[0].Kind != Numeric || f.Columns[1].Kind != Categorical {
		t.Fatalf("header only: %+v", f.Columns)
	}
	if got := writeString(t, f); got != "a,b\n" {
		t.Fatalf("written %q", got)
	}
}

func TestFrameMethods(t *testing.T) {
	f := mustReadCSV(t, "a,b\n1,x\n2,NA\n3,z\n", ReadOptions{})
	if got := f.Names(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("Names = %v", got)
	}
	if _, ok := f.Col("zz"); ok {
		t.Fatal("Col(zz) found")
	}
	s := f.Select([]int{2, 0, 2})
	if s.Rows() != 3 {
		t.Fatalf("Select rows = %d", s.Rows())
	}
	a, _ := s.Col("a")
	b, _ := s.Col("b")
	if a.Num[0] != 3 || a.Num[1] != 1 || b.Str[2] != "z" || b.IsMissing(0) {
		t.Fatalf("Select = %+v %+v", a, b)
	}
	s2 := f.Select([]int{1})
	b2, _ := s2.Col("b")
	if !b2.IsMissing(0) || b2.Value(0) != "" {
		t.Fatal("missing not selected")
	}
	// Select copies.
	a.Num[0] = 99
	if c, _ := f.Col("a"); c.Num[2] != 3 {
		t.Fatal("Select shares memory")
	}
	if (&Frame{}).Rows() != 0 {
		t.Fatal("empty frame rows")
	}
}

func TestDescribe(t *testing.T) {
	f := mustReadCSV(t, "x,c,b,d\n1,a,true,2024-01-01\n3,a,false,\nNA,b,yes,2024-01-03\n", ReadOptions{})
	s := Describe(f)
	want := Schema{Rows: 3, Columns: []ColumnInfo{
		{Name: "x", Kind: Numeric, Missing: 1, Min: 1, Max: 3, Mean: 2},
		{Name: "c", Kind: Categorical, Distinct: 2},
		{Name: "b", Kind: Categorical, Distinct: 3}, // yes is not spelled true: categorical
		{Name: "d", Kind: Datetime, Missing: 1, Min: 1704067200, Max: 1704240000, Mean: 1704153600},
	}}
	if len(s.Columns) != len(want.Columns) || s.Rows != want.Rows {
		t.Fatalf("Describe = %+v", s)
	}
	for i := range want.Columns {
		if s.Columns[i] != want.Columns[i] {
			t.Errorf("column %d = %+v, want %+v", i, s.Columns[i], want.Columns[i])
		}
	}
	k := s.Kinds()
	if k["x"] != Numeric || k["c"] != Categorical || k["b"] != Categorical || k["d"] != Datetime {
		t.Errorf("Kinds = %v", k)
	}
}

// A numeric column with every value missing has no min, max or mean: the
// schema says null, not 0 (issue 15). An infinite value is null too.
func TestDescribeAllMissing(t *testing.T) {
	f := mustReadCSV(t, "x,y,z\nNA,1,Inf\n,2,3\n", ReadOptions{AllowInf: true})
	b, err := json.Marshal(Describe(f))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rows":2,"columns":[` +
		`{"name":"x","kind":"numeric","missing":2,"min":null,"max":null,"mean":null},` +
		`{"name":"y","kind":"numeric","missing":0,"min":1,"max":2,"mean":1.5},` +
		`{"name":"z","kind":"numeric","missing":0,"min":3,"max":null,"mean":null}]}`
	if string(b) != want {
		t.Errorf("schema JSON\n%s\nwant\n%s", b, want)
	}
	if x := Describe(f).Columns[0]; !math.IsNaN(x.Min) || !math.IsNaN(x.Max) || !math.IsNaN(x.Mean) {
		t.Errorf("all-missing column described as %+v, want NaN min, max and mean", x)
	}
}
