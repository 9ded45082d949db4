package dataset

import (
	"bytes"
	"strings"
	"testing"
)

// Issue 15 item 5: numbers are kept as the user wrote them. A value with a
// leading zero, or an integer a float64 cannot hold exactly, keeps its
// column as text; numbers are written without an exponent.
func TestNumbersKeptAsWritten(t *testing.T) {
	long := "1" + strings.Repeat("0", 399) // beyond float64: was ±Inf
	in := "code,x,id17,id20,exact,sci\n" +
		"007,1.50,12345678901234567,12345678901234567890,1152921504606846976,1e21\n" +
		"-007,0,0012345678901234567,-12345678901234567890,-9007199254740992,2.5e-7\n" +
		"00.5,0.5," + long + ",7,9007199254740992,1E+2\n" +
		"12,-0.25,NA,,1,-3e0\n" +
		"0,2500000,5,6,2,0\n" +
		"1,0.00001,7,8,3,1\n"
	f := mustReadCSV(t, in, ReadOptions{})
	want := map[string]Kind{"code": Categorical, "x": Numeric, "id17": Categorical, "id20": Categorical, "exact": Numeric, "sci": Numeric}
	for _, c := range f.Columns {
		if c.Kind != want[c.Name] {
			t.Errorf("column %s is %s, want %s", c.Name, c.Kind, want[c.Name])
		}
	}
	var out bytes.Buffer
	if err := WriteCSV(&out, f); err != nil {
		t.Fatal(err)
	}
	wantOut := "code,x,id17,id20,exact,sci\n" +
		"007,1.5,12345678901234567,12345678901234567890,1152921504606846976,1e+21\n" +
		"-007,0,0012345678901234567,-12345678901234567890,-9007199254740992,0.00000025\n" +
		"00.5,0.5," + long + ",7,9007199254740992,100\n" +
		"12,-0.25,,,1,-3\n" +
		"0,2500000,5,6,2,0\n" +
		"1,0.00001,7,8,3,1\n"
	if out.String() != wantOut {
		t.Errorf("written:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	// What WriteCSV writes infers as the same kinds and writes the same
	// bytes again: no drift from task to task.
	g := mustReadCSV(t, out.String(), ReadOptions{})
	var again bytes.Buffer
	if err := WriteCSV(&again, g); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("second write differs:\n%s\nfirst:\n%s", again.String(), out.String())
	}
	for j, c := range g.Columns {
		if c.Kind != f.Columns[j].Kind {
			t.Errorf("column %s reads back as %s, was %s", c.Name, c.Kind, f.Columns[j].Kind)
		}
	}
}

func TestInferNumberSpellings(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "+0": true, "0.5": true, "-0.25": true, ".5": true, "5.": true, "0e3": true, "1.50": true,
		"9007199254740992": true, "-9007199254740992": true, "9007199254740993": false, "18014398509481984": true,
		"007": false, "-007": false, "+07": false, "00.5": false, "00": false, "0012": false,
		"1_000": false, "0_7": false, "0x1p-2": true, "Inf": true, "-infinity": true,
		// Written without an exponent, a value WriteCSV would write with
		// one (1e21 and up, under 1e-30) is text; one too small for a
		// float64 (it would read as 0) is text however written.
		"100000000000000000000": true, "1000000000000000000000": false, "1e21": true, "1e300": true,
		"0.000000000000000000000000000001": true, "0.0000000000000000000000000000001": false, "1e-31": true,
		"1e-400": false, "0.0e-400": true, "-0.000": true,
	} {
		f := mustReadCSV(t, "c\n"+s+"\n", ReadOptions{AllowInf: true})
		if got := f.Columns[0].Kind == Numeric; got != want {
			t.Errorf("%q infers %s, want numeric %v", s, f.Columns[0].Kind, want)
		}
	}
	// A declared numeric column still reads any number ParseFloat reads.
	f := mustReadCSV(t, "c\n007\n", ReadOptions{Schema: map[string]Kind{"c": Numeric}})
	if f.Columns[0].Num[0] != 7 {
		t.Errorf("declared numeric 007 read as %v", f.Columns[0].Num[0])
	}
}

// Numbers far from 1 are written with an exponent rather than hundreds of
// digits, and plain notation is used in between.
func TestWriteNumberNotation(t *testing.T) {
	for v, want := range map[float64]string{
		1e300: "1e+300", -1e21: "-1e+21", 1e-40: "1e-40", 9.99e20: "999000000000000000000", 1e-30: "0.000000000000000000000000000001",
		2.5e-7: "0.00000025", 1234567.5: "1234567.5", 0: "0",
	} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%g) = %q, want %q", v, got, want)
		}
	}
}

// JSON Lines follows the same rules: a JSON number too long for a float64
// and a string "007" keep their text.
func TestJSONLNumbersKeptAsWritten(t *testing.T) {
	f, err := ReadJSONL(strings.NewReader(`{"id": 12345678901234567, "zip": "007", "x": 2500000}`+"\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteCSV(&out, f); err != nil {
		t.Fatal(err)
	}
	if want := "id,zip,x\n12345678901234567,007,2500000\n"; out.String() != want {
		t.Errorf("written %q, want %q", out.String(), want)
	}
}
