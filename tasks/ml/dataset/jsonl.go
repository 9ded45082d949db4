package dataset

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"
)

// ReadJSONL reads JSON Lines: one JSON object per line (LF or CRLF; blank
// lines skipped; a leading byte order mark skipped). The columns are the
// union of the objects' keys in first-seen order (the keys of line 1 in
// their order, then new keys of line 2, and so on), so the column order
// follows the file, as it does for CSV. A key absent from an object, a null
// and a string in the missing list are missing values.
//
// Each scalar is typed from its text, exactly as a CSV field would be: a
// number by its JSON literal, a boolean as "true"/"false", a string as its
// contents. So {"x": 5} and {"x": "5"} read the same. Nested objects and
// arrays, a line that is not an object, a duplicate key within an object
// and invalid UTF-8 are errors (ErrFormat) with the line number; the other
// errors are those of ReadCSV.
func ReadJSONL(r io.Reader, opts ReadOptions) (*Frame, error) {
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	br := skipBOM(newLimitReader(r, opts.MaxBytes))
	var raws []*rawColumn
	index := map[string]int{}
	var lines []int
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, csvErr(rerr)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			row := len(lines)
			if err := readObject(line, lineNo, row, &raws, index); err != nil {
				return nil, err
			}
			for _, rc := range raws {
				if len(rc.vals) == row {
					rc.vals = append(rc.vals, "")
				}
			}
			lines = append(lines, lineNo)
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := checkSchemaNames(opts.Schema, func(n string) bool { _, ok := index[n]; return ok }); err != nil {
		return nil, err
	}
	return buildFrame(raws, lines, opts.Schema, c)
}

func readObject(line []byte, lineNo, row int, raws *[]*rawColumn, index map[string]int) error {
	if !utf8.Valid(line) {
		return parseErr(lineNo, "", ErrFormat, "line is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	syntax := func(err error) error {
		return parseErr(lineNo, "", ErrFormat, "%v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return parseErr(lineNo, "", ErrFormat, "not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		key := crlfToLF(tok.(string))
		val, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		var s string
		switch v := val.(type) {
		case json.Delim:
			return parseErr(lineNo, key, ErrFormat, "nested JSON values are not supported")
		case nil:
			s = ""
		case bool:
			s = "false"
			if v {
				s = "true"
			}
		case json.Number:
			s = string(v)
		case string:
			s = crlfToLF(v) // as ReadCSV reads a quoted CRLF
		}
		j, ok := index[key]
		if !ok {
			if key == "" {
				return parseErr(lineNo, "", ErrHeader, "empty key")
			}
			j = len(*raws)
			index[key] = j
			*raws = append(*raws, &rawColumn{name: key, vals: make([]string, row, row+1)})
		}
		rc := (*raws)[j]
		if len(rc.vals) > row {
			return parseErr(lineNo, key, ErrFormat, "key appears twice in the object")
		}
		rc.vals = append(rc.vals, s)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return parseErr(lineNo, "", ErrFormat, "data after the JSON object")
	}
	return nil
}
