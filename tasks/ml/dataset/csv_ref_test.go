package dataset

import (
	"encoding/csv"
	"io"
	"unicode/utf8"
)

// readCSVRef is ReadCSV as it was before its one-pass reader (up to
// commit e40939e): encoding/csv, then buildFrame over the fields kept as
// strings. It is the reference the differential tests compare ReadCSV
// with: same frames, same errors.
func readCSVRef(r io.Reader, opts ReadOptions) (*Frame, error) {
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(skipBOM(newLimitReader(r, opts.MaxBytes)))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, parseErr(1, "", ErrHeader, "no header row")
	}
	if err != nil {
		return nil, csvErr(err)
	}
	hline, _ := cr.FieldPos(0)
	raws := make([]*rawColumn, len(header))
	index := make(map[string]int, len(header))
	for j, name := range header {
		name = crlfToLF(name)
		switch _, dup := index[name]; {
		case !utf8.ValidString(name):
			return nil, parseErr(hline, "", ErrFormat, "column %d: name is not valid UTF-8", j+1)
		case name == "":
			return nil, parseErr(hline, "", ErrHeader, "column %d has an empty name", j+1)
		case dup:
			return nil, parseErr(hline, name, ErrHeader, "name appears twice (columns %d and %d)", index[name]+1, j+1)
		}
		index[name] = j
		raws[j] = &rawColumn{name: name}
	}
	if err := checkSchemaNames(opts.Schema, func(n string) bool { _, ok := index[n]; return ok }); err != nil {
		return nil, err
	}
	var lines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(raws) {
			return nil, parseErr(line, "", ErrFormat, "%d fields, the header has %d", len(rec), len(raws))
		}
		for j, s := range rec {
			if !utf8.ValidString(s) {
				return nil, parseErr(line, raws[j].name, ErrFormat, "value is not valid UTF-8")
			}
			raws[j].vals = append(raws[j].vals, crlfToLF(s))
		}
		lines = append(lines, line)
	}
	return buildFrame(raws, lines, opts.Schema, c)
}
