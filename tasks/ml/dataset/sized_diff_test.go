package dataset

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// TestReadCSVSizedMatchesReference: ReadCSV's own first chunk, sized by
// what the source says it holds (sizeHint: a bytes.Reader's Len, a
// section's Size, one section's limit past its bytes, a reader that
// says nothing), read with tiny chunks, gives the reference's frame or
// error.
func TestReadCSVSizedMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 20))
	n := 1500
	if testing.Short() || raceEnabled {
		n = 300
	}
	for iter := range n {
		src := genCSV(r)
		opts := diffOptions(r)
		want, werr := readCSVRef(bytes.NewReader(src), opts)
		wraps := map[string]func() io.Reader{
			"bytes":   func() io.Reader { return bytes.NewReader(src) },
			"section": func() io.Reader { return io.NewSectionReader(bytes.NewReader(src), 0, int64(len(src))) },
			"section-long": func() io.Reader {
				return io.NewSectionReader(bytes.NewReader(src), 0, int64(len(src))+5)
			},
			"kept": func() io.Reader { return onlyReader{bytes.NewReader(src)} },
		}
		for name, w := range wraps {
			for _, m := range []int{1, 2, 3, 7, 64} {
				got, gerr := readCSV(w(), opts, 0, m)
				if d := errDiff(gerr, werr); d != "" {
					t.Fatalf("iter %d %s max %d: %s\n%q", iter, name, m, d, src)
				}
				if werr == nil {
					if d := strictDiff(got, want); d != "" {
						t.Fatalf("iter %d %s max %d: %s\n%q", iter, name, m, d, src)
					}
				}
			}
		}
	}
}
