package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"sync"

	"github.com/cairnml/cairn/migrations"
)

// A new database is written from an image of its file
// (migrations.SQLiteImage): the file SQLite makes from the schema
// snapshot, in WAL mode, with schema_migrations filled in. Writing it
// costs one pwritev (each page's bytes that are not zero, and zeros between); building
// it ran each of the snapshot's statements through SQLite's parser, and
// the schema's entry again after each (about 2 ms, most of what a fresh
// home cost more than an existing one), and SQLite's open of the new file
// (its schema parsed again). The migrations such a
// database came with have applied_at 0: they were applied when the image
// was made, and the file's own times say when it was written.
//
// The encoding keeps the file's runs of bytes that are not zero (a new
// database is mostly empty pages): imageMagic, then as uvarints the schema
// version, the file's size and the number of runs, then each run as its
// offset from the end of the one before and its length (uvarints) and its
// bytes. TestSchemaSnapshot makes it (-update) and checks it.
const imageMagic = "cairn sqlite image 1\n"

// imageGap is the fewest zero bytes between two runs: shorter gaps are
// kept inside a run, which costs less than a run's two numbers.
const imageGap = 8

// encodeImage encodes file, a new database at schema version v.
func encodeImage(v int, file []byte) []byte {
	type run struct{ off, end int }
	var runs []run
	for i := 0; i < len(file); {
		if file[i] == 0 {
			i++
			continue
		}
		j := i
		for zeros := 0; j < len(file) && zeros < imageGap; j++ {
			if file[j] == 0 {
				zeros++
			} else {
				zeros = 0
			}
		}
		end := j
		for end > i && file[end-1] == 0 {
			end--
		}
		runs = append(runs, run{i, end})
		i = end
	}
	out := []byte(imageMagic)
	out = binary.AppendUvarint(out, uint64(v))
	out = binary.AppendUvarint(out, uint64(len(file)))
	out = binary.AppendUvarint(out, uint64(len(runs)))
	prev := 0
	for _, r := range runs {
		out = binary.AppendUvarint(out, uint64(r.off-prev))
		out = binary.AppendUvarint(out, uint64(r.end-r.off))
		out = append(out, file[r.off:r.end]...)
		prev = r.end
	}
	return out
}

// errBadImage is parseImage's error for bytes that are not an image.
var errBadImage = errors.New("not a database image")

// imageRun is a run of bytes of an image's file that are not zero, at
// offset off (b is part of the image).
type imageRun struct {
	off int
	b   []byte
}

// parseImage returns the schema version, the file's size and the runs of
// an image, without copying them.
func parseImage(img []byte) (v, size int, runs []imageRun, err error) {
	rest, ok := bytes.CutPrefix(img, []byte(imageMagic))
	if !ok {
		return 0, 0, nil, errBadImage
	}
	next := func() int {
		x, n := binary.Uvarint(rest)
		if n <= 0 || x > 1<<30 {
			ok = false
			return 0
		}
		rest = rest[n:]
		return int(x)
	}
	v, size, n := next(), next(), next()
	if !ok || n > len(rest) {
		return 0, 0, nil, errBadImage
	}
	runs = make([]imageRun, 0, n)
	at := 0
	for range n {
		gap, l := next(), next()
		if !ok || at+gap+l > size || l > len(rest) {
			return 0, 0, nil, errBadImage
		}
		at += gap
		runs = append(runs, imageRun{at, rest[:l]})
		rest, at = rest[l:], at+l
	}
	if len(rest) != 0 {
		return 0, 0, nil, errBadImage
	}
	return v, size, runs, nil
}

// decodeImage returns the schema version and the file of an image.
func decodeImage(img []byte) (v int, file []byte, err error) {
	v, size, runs, err := parseImage(img)
	if err != nil {
		return 0, nil, err
	}
	file = make([]byte, size)
	for _, r := range runs {
		copy(file[r.off:], r.b)
	}
	return v, file, nil
}

// newImage is the image of a new database at this binary's schema
// (migrations.SQLiteImage), parsed; ok is false if there is none at the
// newest version (the database is then built by createSchema).
var newImage = sync.OnceValues(func() (img parsedImage, ok bool) {
	latest, err := latestVersion()
	if err != nil {
		return img, false
	}
	v, size, runs, err := parseImage(migrations.SQLiteImage())
	if err != nil || v != latest {
		return img, false
	}
	return parsedImage{size, runs}, true
})

// parsedImage is an image's file: its size and its runs.
type parsedImage struct {
	size int
	runs []imageRun
}

// writeTo writes the file into f, new and empty: its runs straight from
// the image (the file is never whole in memory) and the zeros between
// them from one page of zeros, in as few writes as the system allows
// (pwritev: one for today's image, where a write a run took 77 system
// calls), then the zeros at its end left to the file system.
func (img parsedImage) writeTo(f *os.File) error {
	var bufs [][]byte
	at := 0
	for _, r := range img.runs {
		for gap := r.off - at; gap > 0; gap -= min(gap, len(zeroPage)) {
			bufs = append(bufs, zeroPage[:min(gap, len(zeroPage))])
		}
		bufs = append(bufs, r.b)
		at = r.off + len(r.b)
	}
	if err := writeAllAt(f, bufs, 0); err != nil {
		return err
	}
	return f.Truncate(int64(img.size))
}

// zeroPage is the zeros writeTo writes between an image's runs.
var zeroPage = make([]byte, 4096)
