package dataset

import (
	"errors"
	"strings"
	"testing"
)

func TestReadErrors(t *testing.T) {
	type tc struct {
		name   string
		jsonl  bool
		input  string
		opts   ReadOptions
		err    error
		line   int    // 0: not a *ParseError
		column string // column named by the error
	}
	num := func(col string, k Kind) ReadOptions { return ReadOptions{Schema: map[string]Kind{col: k}} }
	cases := []tc{
		{name: "empty input", input: "", err: ErrHeader, line: 1},
		{name: "empty name", input: "a,,b\n1,2,3\n", err: ErrHeader, line: 1},
		{name: "duplicate name", input: "a,b,a\n1,2,3\n", err: ErrHeader, line: 1, column: "a"},
		{name: "duplicate name after BOM and blank lines", input: "\ufeff\n\nx,x\n", err: ErrHeader, line: 3, column: "x"},
		{name: "invalid UTF-8 header", input: "a,\xff\n", err: ErrFormat, line: 1},
		{name: "short row", input: "a,b\n1,2\n3\n", err: ErrFormat, line: 3},
		{name: "long row after multi-line field", input: "a,b\n\"x\ny\",1\n1,2,3\n", err: ErrFormat, line: 4},
		{name: "ragged CRLF", input: "a,b\r\n1,2\r\n\r\n1,2,3\r\n", err: ErrFormat, line: 4},
		{name: "bad quote in multi-line field", input: "a,b\n1,2\n1,\"x\ny\"z\"\n", err: ErrFormat, line: 3},
		{name: "bare quote", input: "a,b\n1,2\n1,x\"y\n", err: ErrFormat, line: 3},
		{name: "unterminated quote", input: "a,b\n1,\"abc\n", err: ErrFormat, line: 2},
		{name: "invalid UTF-8 value", input: "a,b\n1,ok\n1,\xff\n", err: ErrFormat, line: 3, column: "b"},
		{name: "inferred Inf", input: "a,b\n1,x\n-Inf,y\n", err: ErrNonFinite, line: 3, column: "a"},
		{name: "inferred overflow", input: "a\n1\n2\n1e999\n", err: ErrNonFinite, line: 4, column: "a"},
		{name: "declared numeric", input: "a,b\n1,2\n2,x\n", opts: num("b", Numeric), err: ErrType, line: 3, column: "b"},
		{name: "declared numeric NaN", input: "a,b\n1,nan\n", opts: num("b", Numeric), err: ErrNonFinite, line: 2, column: "b"},
		{name: "declared numeric Inf", input: "a,b\n1,inf\n", opts: num("b", Numeric), err: ErrNonFinite, line: 2, column: "b"},
		{name: "declared boolean", input: "a,b\n1,true\n2,maybe\n", opts: num("b", Boolean), err: ErrType, line: 3, column: "b"},
		{name: "declared datetime", input: "a,b\n1,2024-01-01\n2,\n3,yesterday\n", opts: num("b", Datetime), err: ErrType, line: 4, column: "b"},
		{name: "schema unknown column", input: "a,b\n1,2\n", opts: num("c", Numeric), err: ErrSchema},
		{name: "schema unknown kind", input: "a,b\n1,2\n", opts: num("a", "float"), err: ErrSchema},
		{name: "too large", input: "a,b\n1,2\n3,4\n", opts: ReadOptions{MaxBytes: 8}, err: ErrTooLarge},

		{name: "jsonl not object", jsonl: true, input: "{\"a\":1}\n[1]\n", err: ErrFormat, line: 2},
		{name: "jsonl nested", jsonl: true, input: "{\"a\":1}\n\n{\"a\":{\"b\":1}}\n", err: ErrFormat, line: 3, column: "a"},
		{name: "jsonl nested array", jsonl: true, input: "{\"a\":[1]}\n", err: ErrFormat, line: 1, column: "a"},
		{name: "jsonl syntax", jsonl: true, input: "{\"a\":1}\n{\"a\":}\n", err: ErrFormat, line: 2},
		{name: "jsonl truncated", jsonl: true, input: "{\"a\":1}\r\n{\"a\":1\r\n", err: ErrFormat, line: 2},
		{name: "jsonl duplicate key", jsonl: true, input: "{\"a\":1,\"a\":2}\n", err: ErrFormat, line: 1, column: "a"},
		{name: "jsonl trailing data", jsonl: true, input: "{\"a\":1} 2\n", err: ErrFormat, line: 1},
		{name: "jsonl invalid UTF-8", jsonl: true, input: "{\"a\":1}\n{\"a\":\"\xff\"}\n", err: ErrFormat, line: 2},
		{name: "jsonl empty key", jsonl: true, input: "{\"\":1}\n", err: ErrHeader, line: 1},
		{name: "jsonl Inf string", jsonl: true, input: "{\"a\":1}\n{\"a\":\"Inf\"}\n", err: ErrNonFinite, line: 2, column: "a"},
		{name: "jsonl declared kind", jsonl: true, input: "{\"a\":1}\n\n\n{\"a\":\"x\"}\n", opts: num("a", Numeric), err: ErrType, line: 4, column: "a"},
		{name: "jsonl schema unknown column", jsonl: true, input: "{\"a\":1}\n", opts: num("b", Numeric), err: ErrSchema},
		{name: "jsonl too large", jsonl: true, input: "{\"a\":1}\n{\"a\":2}\n", opts: ReadOptions{MaxBytes: 10}, err: ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.jsonl {
				_, err = ReadJSONL(strings.NewReader(c.input), c.opts)
			} else {
				_, err = ReadCSV(strings.NewReader(c.input), c.opts)
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			var pe *ParseError
			isPE := errors.As(err, &pe)
			if c.line == 0 {
				if isPE {
					t.Fatalf("err = %#v, want no line", pe)
				}
				return
			}
			if !isPE {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Line != c.line || pe.Column != c.column {
				t.Fatalf("line %d column %q, want line %d column %q (%v)", pe.Line, pe.Column, c.line, c.column, err)
			}
			if !strings.Contains(err.Error(), "line ") || !strings.HasPrefix(err.Error(), "dataset: ") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestMaxBytesExact(t *testing.T) {
	in := "a,b\n1,2\n" // 8 bytes
	if _, err := ReadCSV(strings.NewReader(in), ReadOptions{MaxBytes: 8}); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := ReadCSV(strings.NewReader(in), ReadOptions{MaxBytes: 7}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadCSV(strings.NewReader(in), ReadOptions{MaxBytes: -1}); err != nil {
		t.Fatalf("no limit: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		f    *Frame
		err  error
	}{
		{"no columns", &Frame{}, ErrShape},
		{"ragged", &Frame{Columns: []*Column{{Name: "a", Kind: Numeric, Num: []float64{1}}, {Name: "b", Kind: Numeric, Num: []float64{1, 2}}}}, ErrShape},
		{"bad kind", &Frame{Columns: []*Column{{Name: "a", Kind: "int", Num: []float64{1}}}}, ErrShape},
		{"empty name", &Frame{Columns: []*Column{{Kind: Numeric, Num: []float64{1}}}}, ErrShape},
		{"duplicate name", &Frame{Columns: []*Column{{Name: "a", Kind: Numeric}, {Name: "a", Kind: Numeric}}}, ErrShape},
		{"wrong slice", &Frame{Columns: []*Column{{Name: "a", Kind: Categorical, Num: []float64{1}}}}, ErrShape},
		{"missing length", &Frame{Columns: []*Column{{Name: "a", Kind: Numeric, Num: []float64{1}, Missing: []bool{}}}}, ErrShape},
		{"nil column", &Frame{Columns: []*Column{nil}}, ErrShape},
		{"boolean 2", &Frame{Columns: []*Column{{Name: "a", Kind: Boolean, Num: []float64{2}}}}, ErrShape},
		{"NaN", &Frame{Columns: []*Column{{Name: "a", Kind: Numeric, Num: []float64{nan()}}}}, ErrNonFinite},
		{"Inf datetime", &Frame{Columns: []*Column{{Name: "a", Kind: Datetime, Num: []float64{inf()}}}}, ErrNonFinite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sb strings.Builder
			if err := WriteCSV(&sb, c.f); !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
		})
	}
	// A missing NaN is fine.
	f := &Frame{Columns: []*Column{{Name: "a", Kind: Numeric, Num: []float64{nan(), 1}, Missing: []bool{true, false}}}}
	if got := writeString(t, f); got != "a\n\"\"\n1\n" {
		t.Fatalf("got %q", got)
	}
}

// A CR run before a LF inside a quoted field reads as LF, in names and
// values alike, so that writing and reading again gives the same frame
// (found by FuzzRead); a CR elsewhere is kept.
func TestCRBeforeLFInQuotes(t *testing.T) {
	f := mustReadCSV(t, "\"a\r\r\nb\",c\n\"x\r\r\r\ny\",\"p\rq\"\n", ReadOptions{})
	if got := f.Names(); got[0] != "a\nb" || got[1] != "c" {
		t.Fatalf("names %q", got)
	}
	a, _ := f.Col("a\nb")
	c, _ := f.Col("c")
	if a.Str[0] != "x\ny" || c.Str[0] != "p\rq" {
		t.Fatalf("values %q %q", a.Str[0], c.Str[0])
	}
}
