package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRead feeds arbitrary bytes to ReadCSV and ReadJSONL: they never
// panic; an error is one of the package's (a *ParseError's line is >= 1);
// a frame read is valid, and writing it, reading the bytes back with its
// kinds and writing again gives the same bytes (WriteCSV's round trip).
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, file := range files {
		if strings.HasSuffix(file, ".json") || strings.HasSuffix(file, ".py") || strings.HasSuffix(file, ".md") {
			continue
		}
		if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
			f.Add(b, strings.HasSuffix(file, ".jsonl"))
		}
	}
	for _, s := range []string{
		"a\ntrue\nfalse\n", "a,b\nyes,1\nno,0\n", "x\n1e999\n-Inf\n", "t\n2024-01-02T03:04:05.123456789+02:00\n",
		"\"a\"\"b\",c\r\n\"x\ny\",\r\n", "a\n\"\"\n", "{\"a\": true, \"b\": null}\n{\"b\": 1e400}\n",
		"z,x,id,e\n007,1.50,12345678901234567,1e300\n-0,2500000,9007199254740992,2.5e-31\n",
	} {
		f.Add([]byte(s), strings.HasPrefix(s, "{"))
	}
	f.Fuzz(func(t *testing.T, src []byte, jsonl bool) {
		read := ReadCSV
		if jsonl {
			read = ReadJSONL
		}
		fr, err := read(bytes.NewReader(src), ReadOptions{AllowInf: true})
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && pe.Line < 1 {
				t.Fatalf("parse error without a line: %v", err)
			}
			return
		}
		if err := fr.Validate(); err != nil {
			t.Fatalf("read an invalid frame: %v", err)
		}
		_ = Describe(fr)
		var out bytes.Buffer
		if err := WriteCSV(&out, fr); err != nil {
			if len(fr.Columns) == 0 {
				return
			}
			t.Fatalf("WriteCSV of a frame just read: %v", err)
		}
		back, err := ReadCSV(bytes.NewReader(out.Bytes()), ReadOptions{Schema: Describe(fr).Kinds(), AllowInf: true})
		if err != nil {
			t.Fatalf("written bytes do not read back: %v\n%q", err, out.Bytes())
		}
		if back.Rows() != fr.Rows() {
			t.Fatalf("%d rows written, %d read back\n%q", fr.Rows(), back.Rows(), out.Bytes())
		}
		// A number written is inferred as a number again (issue 15: no
		// task downstream reads a collected number as text).
		inferred, err := ReadCSV(bytes.NewReader(out.Bytes()), ReadOptions{AllowInf: true})
		if err != nil {
			t.Fatalf("written bytes do not read back inferred: %v\n%q", err, out.Bytes())
		}
		for j, c := range fr.Columns {
			if c.Kind == Numeric && inferred.Columns[j].Kind != Numeric {
				t.Fatalf("numeric column %q reads back as %s\n%q", c.Name, inferred.Columns[j].Kind, out.Bytes())
			}
		}
		var again bytes.Buffer
		if err := WriteCSV(&again, back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatalf("round trip changed the bytes:\n%q\n%q", out.Bytes(), again.Bytes())
		}
	})
}
