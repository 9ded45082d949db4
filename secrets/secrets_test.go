package secrets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn/secrets"
)

type sink struct {
	bytes.Buffer
	closed bool
	note   string
}

func (s *sink) Close() error { s.closed = true; return nil }

type noteSink struct{ sink }

func (s *noteSink) CloseWithNote(note string) error { s.note = note; return s.Close() }

var set = secrets.New(map[string]string{
	"«secret:token»": "hunter2-XYZ",
	"«secret:short»": "hunt", // a prefix of the other: the longer one must win
	"«secret:quote»": `a"b\c`,
	"«secret:empty»": "",
})

// A value is redacted in a log however the writes cut it: at every split
// point of the text, and byte by byte.
func TestWriterRedactsAcrossWrites(t *testing.T) {
	text := "start hunter2-XYZ mid hunt end hunter2-XYhunter2-XYZ " + `a"b\c` + " tail hunte"
	want := "start «secret:token» mid «secret:short» end «secret:short»er2-XY«secret:token» «secret:quote» tail «secret:short»e"
	if got := set.Redact(text); got != want {
		t.Fatalf("Redact:\n got %q\nwant %q", got, want)
	}
	for cut := 0; cut <= len(text); cut++ {
		var s sink
		w := set.Writer(&s)
		for _, part := range []string{text[:cut], text[cut:]} {
			if n, err := w.Write([]byte(part)); err != nil || n != len(part) {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if s.String() != want || !s.closed {
			t.Errorf("cut at %d:\n got %q\nwant %q", cut, s.String(), want)
		}
	}
	var s sink
	w := set.Writer(&s)
	for i := 0; i < len(text); i++ {
		w.Write([]byte{text[i]})
	}
	w.Close()
	if s.String() != want {
		t.Errorf("byte by byte:\n got %q\nwant %q", s.String(), want)
	}
	if strings.Contains(s.String(), "hunter2") {
		t.Errorf("a value leaked: %q", s.String())
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
}

// Held-back bytes go out as soon as they cannot begin a value, and the
// note of CloseWithNote is redacted.
func TestWriterHoldsBackOnlyWhatMayBeAValue(t *testing.T) {
	var s noteSink
	w := set.Writer(&s)
	w.Write([]byte("line one\nhunter2-X"))
	if got := s.String(); got != "line one\n" {
		t.Errorf("after a possible value's beginning: %q", got)
	}
	w.Write([]byte("Q and more\n"))
	if got := s.String(); got != "line one\n«secret:short»er2-XQ and more\n" {
		t.Errorf("once it is no value: %q", got)
	}
	nc := w.(interface{ CloseWithNote(string) error })
	if err := nc.CloseWithNote("failed: bad token hunter2-XYZ"); err != nil {
		t.Fatal(err)
	}
	if s.note != "failed: bad token «secret:token»" || !s.closed {
		t.Errorf("note %q, closed %v", s.note, s.closed)
	}
}

// Fill puts values back into JSON params, escaped; RedactJSON takes them
// out of a JSON document again.
func TestFillAndRedactJSON(t *testing.T) {
	params, _ := json.Marshal(map[string]any{"env": map[string]string{"TOKEN": "Bearer «secret:token»", "Q": "«secret:quote»", "E": "«secret:empty»"}})
	filled := set.Fill(params)
	var got map[string]map[string]string
	if err := json.Unmarshal(filled, &got); err != nil {
		t.Fatalf("filled params are not JSON: %v\n%s", err, filled)
	}
	if got["env"]["TOKEN"] != "Bearer hunter2-XYZ" || got["env"]["Q"] != `a"b\c` || got["env"]["E"] != "" {
		t.Errorf("filled: %v", got)
	}
	// (An empty value cannot be found again, and is not.)
	want := bytes.Replace(params, []byte("«secret:empty»"), nil, 1)
	if back := set.RedactJSON(filled); !bytes.Equal(back, want) {
		t.Errorf("RedactJSON(Fill(p)) = %s, want %s", back, want)
	}
	var none *secrets.Set
	if string(none.Fill(params)) != string(params) || none.Redact("hunter2-XYZ") != "hunter2-XYZ" {
		t.Error("a nil set changed something")
	}
	var s sink
	if w := none.Writer(&s); w != &s {
		t.Error("a nil set wrapped the writer")
	}
}

// A placeholder spelt by data (a task's output from a URL, say) is made
// inert, so that Fill never puts the value where the data's author chose;
// a real value in the same document still becomes its placeholder.
func TestDefuse(t *testing.T) {
	out := []byte(`{"v":"https://evil.example/?q=«secret:token»","echo":"hunter2-XYZ"}`)
	got := set.RedactJSON(set.Defuse(out))
	want := `{"v":"https://evil.example/?q=‹secret:token›","echo":"«secret:token»"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if filled := set.Fill(got); strings.Count(string(filled), "hunter2-XYZ") != 1 {
		t.Errorf("Fill put the value where the data asked: %s", filled)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

// BenchmarkWriter is the cost of redacting a chatty task's log: 32 KiB
// writes of log lines, a value in one line out of 100.
func BenchmarkWriter(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 32<<10; i++ {
		if i%100 == 0 {
			buf.WriteString("epoch 12 loss 0.1234 token hunter2-XYZ\n")
		} else {
			buf.WriteString("epoch 12 batch 345/1000 loss 0.1234 accuracy 0.9876 lr 0.001\n")
		}
	}
	chunk := buf.Bytes()
	w := set.Writer(discard{})
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		w.Write(chunk)
	}
}

// A value is redacted in the spellings Cairn's own errors give it: quoted
// by Go (a *url.Error prints its URL with %q, so a " in a token became \"
// and the token was stored as it was), escaped for JSON, percent-encoded
// in a URL — in Redact, RedactJSON and a log Writer alike.
func TestRedactQuotedAndEscapedSpellings(t *testing.T) {
	const value = `p@ss wörd"x\y`
	s := secrets.New(map[string]string{"«secret:token»": value})
	for _, text := range []string{
		fmt.Sprintf("Get %q: dial tcp: connection refused", "http://h/x?token="+value),
		"http://h/x?token=" + url.QueryEscape(value),
		"http://h/" + url.PathEscape(value) + "/data",
		`{"error": ` + string(must(json.Marshal(value))) + `}`,
	} {
		got := s.Redact(text)
		if strings.Contains(got, "ss w") || strings.Contains(got, "ss+w") || strings.Contains(got, "ss%20w") || !strings.Contains(got, "«secret:token»") {
			t.Errorf("Redact(%s) = %s: the value is still there", text, got)
		}
		var b sink
		w := s.Writer(&b)
		for i := 0; i < len(text); i++ { // byte by byte
			if _, err := w.Write([]byte{text[i]}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		if b.String() != got {
			t.Errorf("Writer wrote %s, want %s", b.String(), got)
		}
	}
	doc := must(json.Marshal(map[string]string{"e": fmt.Sprintf("%q", value)}))
	if got := string(s.RedactJSON(doc)); strings.Contains(got, "ss w") {
		t.Errorf("RedactJSON(%s) = %s: the value is still there", doc, got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Values gives back what New was given (a copy), nil for no set.
func TestValues(t *testing.T) {
	in := map[string]string{"«secret:a»": "hunter2", "«secret:b»": ""}
	s := secrets.New(in)
	got := s.Values()
	if len(got) != 2 || got["«secret:a»"] != "hunter2" || got["«secret:b»"] != "" {
		t.Fatalf("Values = %v, want %v", got, in)
	}
	got["«secret:a»"] = "changed"
	if s.Values()["«secret:a»"] != "hunter2" {
		t.Error("Values shares its map with the set")
	}
	var none *secrets.Set
	if none.Values() != nil || secrets.New(nil).Values() != nil {
		t.Error("an empty set has values")
	}
}

// TestRedactIdempotent: redacting text that already holds a placeholder
// leaves the placeholder as it is, even where its own text spells a value
// (a secret "token", "secret" or "e"): an error redacted by the task and
// again by the pool names each value once.
func TestRedactIdempotent(t *testing.T) {
	for _, v := range []string{"token", "secret", "e", "«", "secret:token"} {
		s := secrets.New(map[string]string{"«secret:token»": v})
		text := "GET http://127.0.0.1:1/" + v + ": refused; command failed: " + v
		once := s.Redact(text)
		if strings.Contains(strings.ReplaceAll(once, "«secret:token»", ""), v) {
			t.Errorf("value %q: redacted once, %q still holds it", v, once)
		}
		if twice := s.Redact(once); twice != once {
			t.Errorf("value %q: redacted twice %q, once %q", v, twice, once)
		}
		doc := []byte(`{"k":"` + once + `"}`)
		if got := s.RedactJSON(doc); string(got) != string(doc) {
			t.Errorf("value %q: RedactJSON of redacted JSON %s, want it unchanged", v, got)
		}
	}
}
