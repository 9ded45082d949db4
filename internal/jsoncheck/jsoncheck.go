// Package jsoncheck finds what encoding/json takes in silence in a JSON
// text: a key given twice in one object (the last one wins) and a \u
// escape of half a UTF-16 surrogate pair (read as U+FFFD). The API refuses
// both rather than acting on a value the client did not send.
package jsoncheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LoneSurrogate returns the offset in b of the first \u escape that is
// half of a UTF-16 surrogate pair without its other half (\ud800 alone,
// \udc00 first), or -1. b is a JSON text or a part of one that starts
// outside a string; escapes are only looked for inside strings.
func LoneSurrogate(b []byte) int {
	if bytes.IndexByte(b, '\\') < 0 {
		return -1
	}
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			in = !in
		case c == '\\' && in:
			if i+1 >= len(b) {
				return -1
			}
			if b[i+1] != 'u' {
				i++ // \" \\ \n …
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				i++
				continue
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return i
			case r >= 0xD800 && r <= 0xDBFF:
				if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11
						continue
					}
				}
				return i
			}
			i += 5
		}
	}
	return -1
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(v), err == nil
}

// Problem is what Check found: where and what.
type Problem struct {
	Path   string // the value's place: params.seed, rows[0] ("" for the top)
	Msg    string
	Offset int // where in the text: the \u escape, or the key's opening quote
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Check returns a *Problem for the first key given twice in an object of
// the JSON text b, or the first lone surrogate escape, else nil. It
// returns nil for a text that is not valid JSON (the decoder says why).
func Check(b []byte) error {
	if i := LoneSurrogate(b); i >= 0 {
		return &Problem{Offset: i, Msg: fmt.Sprintf("the string escape %s at byte %d is half of a UTF-16 surrogate pair: JSON text must be valid Unicode (send the character itself, or both halves of its pair)", b[i:i+6], i)}
	}
	if !bytes.Contains(b, []byte{':'}) {
		return nil // no object with a key
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := walk(dec, "")
	var p *Problem
	if errors.As(err, &p) {
		p.Offset = keyStart(b, p.Offset)
		return p
	}
	return nil
}

// keyStart returns the offset of the opening quote of the key whose
// closing quote is just before end (where the decoder stood after it).
func keyStart(b []byte, end int) int {
	for j := end - 2; j >= 0; j-- {
		if b[j] != '"' {
			continue
		}
		n := 0
		for k := j - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j
		}
	}
	return 0
}

// walk reads one value from dec, checking the keys of its objects.
func walk(dec *json.Decoder, path string) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			sub := join(path, k)
			if seen[k] {
				return &Problem{Path: path, Offset: int(dec.InputOffset()), Msg: fmt.Sprintf("key %s given twice: give each key once", strconv.Quote(k))}
			}
			seen[k] = true
			if err := walk(dec, sub); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walk(dec, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

func join(path, key string) string {
	if key == "" || strings.ContainsAny(key, ".[] ") {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
