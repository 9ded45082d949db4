package workflows

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// parseWhole is Parse without the chunked path: the whole file decoded.
func parseWhole(path string, src []byte, o Options) (*Workflow, error) {
	p := &parser{file: path, src: src, opts: o}
	return p.parse(p.decode(src))
}

// sameAsWhole parses src in chunks of batch bytes and whole; where the
// chunked path takes the file, the two must be the same in every field.
// It returns whether the chunked path took it.
func sameAsWhole(t *testing.T, name string, src []byte, batch int) bool {
	t.Helper()
	defer func(b int) { chunkBytes = b }(chunkBytes)
	chunkBytes = batch
	o := opts()
	cw, cerr, ok := parseInChunks(name, src, o)
	if !ok {
		return false
	}
	ww, werr := parseWhole(name, src, o)
	if fmt.Sprint(cerr) != fmt.Sprint(werr) {
		t.Fatalf("%s: in chunks: %v\nwhole: %v", name, cerr, werr)
	}
	if cerr != nil && !strings.Contains(cerr.Error(), "tasks in one workflow") {
		t.Fatalf("%s: the chunked path kept a file with problems other than too many tasks: %v", name, cerr)
	}
	if !reflect.DeepEqual(cw, ww) {
		for i := range min(len(cw.Tasks), len(ww.Tasks)) {
			if !reflect.DeepEqual(cw.Tasks[i], ww.Tasks[i]) {
				t.Fatalf("%s: task %d differs:\nin chunks %+v\nwhole     %+v", name, i, cw.Tasks[i], ww.Tasks[i])
			}
		}
		t.Fatalf("%s: the workflows differ:\nin chunks %s\nwhole     %s", name, cw.Canonical(), ww.Canonical())
	}
	return true
}

// TestChunksReadAsWhole: every workflow file of the repository, read a
// task at a time and a few at a time, is the workflow the whole file is.
func TestChunksReadAsWhole(t *testing.T) {
	var files []string
	for _, glob := range []string{"testdata/valid/*.yaml", "testdata/errors/*.yaml", "examples/*.yaml", "../cmd/cairn/testdata/*.yaml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	taken := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 200, 1 << 20} {
			if sameAsWhole(t, f, src, batch) {
				taken++
			}
		}
	}
	if taken < 10 {
		t.Errorf("the chunked path took only %d of %d readings", taken, 3*len(files))
	}
}

// TestChunksLayouts: layouts a line scanner could misread are read as the
// whole file reads them, by the chunked path or by falling back to it.
func TestChunksLayouts(t *testing.T) {
	const head = "name: lay\nparams:\n  p: 1\n"
	for _, c := range []struct {
		name, src string
		chunked   bool // the chunked path must take it
	}{
		{"plain", head + "tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n    needs: [a]\n", true},
		{"column 0 items", head + "tasks:\n- id: a\n  type: noop\n-\n  id: b\n  type: noop\n", true},
		{"crlf", strings.ReplaceAll(head+"tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n", "\n", "\r\n"), true},
		{"comments and blanks", head + "tasks: # the list\n\n# first\n  - id: a # a\n    type: noop\n\n# between, at column 0\n  # indented\n  - id: b\n    type: noop\n# last\n", true},
		{"keys after the list", head + "tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\nconcurrency: 2\ndescription: after\n", true},
		{"block scalars", head + "tasks:\n  - id: a\n    type: shell\n    with:\n      script: |\n        echo a\n        - not an item\n  - id: b\n    type: shell\n    with: {script: \"echo ${{ params.p }}\"}\n", true},
		{"flow items", head + "tasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n", true},
		{"quoted string spanning an item line", head + "tasks:\n  - id: a\n    type: noop\n    description: \"one\n  - id: c\n    two\"\n  - id: b\n    type: noop\n", false},
		{"flow spanning an item line", head + "tasks:\n  - {id: a, type: noop,\n  - x: 1}\n  - id: b\n    type: noop\n", false},
		{"quoted string spanning the key", "name: lay\ndescription: \"a\ntasks:\n  - id: x\nb\"\ntasks:\n  - id: a\n    type: noop\n", false},
		{"tasks key only inside a string", "name: lay\ndescription: \"a\ntasks:\n  - id: x\n  - id: y\nb\"\n", false},
		{"anchor in the skeleton", "name: lay\nx-d: &d {type: noop}\ntasks:\n  - <<: *d\n    id: a\n", false},
		{"anchors inside one task", head + "tasks:\n  - id: a\n    type: shell\n    with: {argv: &l [echo, x], env: {A: y}}\n    description: &d text\n  - id: b\n    type: noop\n", true},
		{"alias across tasks", head + "tasks:\n  - id: a\n    type: shell\n    with: {argv: &l [echo, x]}\n  - id: b\n    type: shell\n    with: {argv: *l}\n", false},
		{"alias inside one task", head + "tasks:\n  - id: a\n    type: shell\n    with: {argv: &l [echo, x], env: {A: y}}\n    description: *l\n", false},
		{"tasks twice", head + "tasks:\n  - id: a\n    type: noop\ntasks:\n  - id: b\n    type: noop\n", false},
		{"tasks inline", head + "tasks: [{id: a, type: noop}]\n", false},
		{"tagged list", head + "tasks: !!seq\n  - id: a\n    type: noop\n", false},
		{"anchored list", head + "tasks: &t\n  - id: a\n    type: noop\n", false},
		{"documents", head + "tasks:\n  - id: a\n    type: noop\n---\nname: x\n", false},
		{"directive", "%YAML 1.2\n---\n" + head + "tasks:\n  - id: a\n    type: noop\n", false},
		{"tab", head + "tasks:\n\t- id: a\n", false},
		{"under-indented line", head + "tasks:\n    - id: a\n      type: noop\n  x: 1\n", false},
		{"problems", head + "tasks:\n  - id: a\n    type: nope\n  - id: a\n    type: noop\n    needs: [zz]\n", false},
		{"deep", head + "tasks:\n  - id: a\n    type: shell\n    with: {argv: " + strings.Repeat("[", 99) + strings.Repeat("]", 99) + "}\n", false},
		{"not a list", head + "tasks:\n  id: a\n", false},
		{"no trailing newline", head + "tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop", true},
		{"lone CR", head + "tasks:\n  - id: a\r    type: noop\n  - id: b\n    type: noop\n", false},
		{"line separator", head + "tasks:\n  - id: a\n    type: noop\n    description: \"x\u2028y\"\n  - id: b\n    type: noop\n", false},
		{"next line", head + "tasks:\n  - id: a\n    type: noop\n    description: \"x\u0085y\"\n  - id: b\n    type: noop\n", false},
		{"flow mapping at the top", "{name: lay,\ntasks:\n  - id: a\n    type: noop\n}\n", false},
		{"flow mapping at the top, keys after", "{name: lay,\ntasks:\n  - id: a\n    type: noop\n, description: y}\n", false},
		{"anchor redefined in the list, alias after it", "name: lay\nx-a: &x one\ntasks:\n  - id: a\n    type: noop\n    description: &x two\ndescription: *x\n", false},
		{"merge inside a task", head + "tasks:\n  - <<: {type: noop, retries: 3}\n    id: a\n", true},
	} {
		for _, batch := range []int{1, 30, 1 << 20} {
			got := sameAsWhole(t, c.name, []byte(c.src), batch)
			if c.chunked && !got {
				t.Errorf("%s (batch %d): the chunked path did not take it", c.name, batch)
			}
			if !c.chunked && got {
				t.Errorf("%s (batch %d): the chunked path took it", c.name, batch)
			}
		}
		// And Parse, whichever path it takes, reads it as the whole file.
		defer func(m int64) { chunkMinBytes = m }(chunkMinBytes)
		chunkMinBytes = 0
		w1, err1 := Parse(c.name, []byte(c.src), opts())
		w2, err2 := parseWhole(c.name, []byte(c.src), opts())
		if fmt.Sprint(err1) != fmt.Sprint(err2) || !reflect.DeepEqual(w1, w2) {
			t.Errorf("%s: Parse reads it otherwise than the whole file:\n%v\n%v", c.name, err1, err2)
		}
	}
}

// FuzzChunks: whatever the file, Parse reads it in chunks as it reads the
// whole file (or reads the whole file).
func FuzzChunks(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/errors", "examples"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b, uint16(1))
			}
		}
	}
	f.Add([]byte("name: f\ntasks:\n  - id: a\n    type: noop\n    description: \"x\n  - y\"\n  - id: b\n    type: noop\n"), uint16(1))
	f.Fuzz(func(t *testing.T, src []byte, batch uint16) {
		if len(src) > 1<<16 {
			return
		}
		sameAsWhole(t, "fuzz.yaml", src, int(batch))
	})
}

// TestChunksRandomLayouts assembles files from lines that a line scanner
// could misread (strings and flow collections spanning lines, block
// scalars, comments and keys at column 0, anchors and aliases) and checks
// that the chunked path reads each as the whole file does.
func TestChunksRandomLayouts(t *testing.T) {
	good := []string{
		"  - id: t%d\n    type: noop\n",
		"  - {id: t%d, type: noop}\n",
		"  -\n    id: t%d\n    type: noop\n",
		"  - id: t%d\n    type: shell\n    with:\n      script: |\n        echo %d\n        - not an item\n",
		"# comment %d\n",
		"\n",
		"  # indented comment %d\n",
		"  - id: t%d\n    type: noop\n    needs: [t0]\n",
		"  - id: t%d\n    type: shell\n    with: {argv: &a%d [x], env: {A: b}}\n",
		"  - id: t%d\n    type: noop\n    description: plain\n      continued %d\n",
		"  - id: t%d\n    type: noop\n    description: >\n      folded\n\n      more\n",
		"  - id: t%d\n    type: noop\n    retries: %d\n",
		"  - id: t%d\n    type: noop\n    description: \"tab\there\"\n",
		"  - id: t%d\r\n    type: noop\r\n",
		"  - id: t%d\n    type: noop\n    description: \"a\n      b\"\n",
	}
	fragments := []string{
		"  - id: t%d\n    type: shell\n    with:\n      script: |\n        echo %d\n  - not: an item\n",
		"  - id: t%d\n    type: noop\n    description: \"a\n  - id: q%d\n    b\"\n",
		"  - id: t%d\n    type: noop\n    description: 'a\n\n  - c'\n",
		"  - {id: t%d,\n  - type: noop}\n",
		"  - id: t%d\n    type: noop\n    description: plain\n      continued %d\n",
		"# comment %d\n",
		"\n",
		"  # indented comment %d\n",
		"  - id: t%d\n    type: noop\n    needs: [t0]\n",
		"  - id: t%d\n    type: shell\n    with: {argv: &a%d [x]}\n",
		"  - id: t%d\n    type: shell\n    with: {argv: *a0}\n",
		"  - id: t%d\n    type: noop\n    description: >\n      folded\n  - x\n",
		"concurrency: %d\n",
		"x-%d: \"s\ntasks:\n  - id: z\"\n",
		"  - id: t%d\n    type: noop\n    retries: %d\n",
		"  - id: t%d\n    type: nope\n",
		"- id: t%d\n  type: noop\n",
		"  - id: t%d\n    type: noop\n    description: \"tab\there\"\n",
		"    - id: t%d\n",
		"  - id: t%d\r    type: noop\n",
		"  - id: t%d\n    type: noop\n    description: \"\u2028\"\n",
		"  - id: t%d\r\n    type: noop\r\n",
	}
	r := newRand(5, 6)
	taken, trials := 0, 4000
	if raceEnabled {
		trials = 500 // the race detector finds nothing in a parse (one goroutine)
	}
	for trial := range trials {
		var sb strings.Builder
		sb.WriteString("name: r\nparams: {p: 1}\n")
		if r.IntN(5) == 0 {
			sb.WriteString("x-a: &top [1]\n")
		}
		sb.WriteString("tasks:\n")
		for i := range 1 + r.IntN(12) {
			frag := good[r.IntN(len(good))]
			if r.IntN(8) == 0 {
				frag = fragments[r.IntN(len(fragments))]
			}
			sb.WriteString(strings.ReplaceAll(frag, "%d", fmt.Sprint(i)))
		}
		if r.IntN(3) == 0 {
			sb.WriteString("description: after\n")
		}
		for _, batch := range []int{1, 1 + r.IntN(200)} {
			if sameAsWhole(t, fmt.Sprintf("trial %d:\n%s", trial, sb.String()), []byte(sb.String()), batch) {
				taken++
			}
		}
	}
	if taken < trials/4 {
		t.Errorf("the chunked path took only %d readings of %d", taken, 2*trials)
	}
	t.Logf("the chunked path took %d readings of %d", taken, 2*trials)
}

func newRand(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

// decodeAhead gives each batch's nodes in order, as decoding them one
// after another does, however many decode at once; a batch that does
// not decode is given as an error in its place, and stop leaves no
// goroutine behind.
func TestDecodeAheadInOrder(t *testing.T) {
	defer func(b int) { chunkBytes = b }(chunkBytes)
	chunkBytes = 300
	var sb strings.Builder
	sb.WriteString("name: ahead\ntasks:\n")
	for i := range 400 {
		fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n    params: {n: %d, s: \"x%d\"}\n", i, i, i)
		if i == 200 {
			// One item larger than what may be held ahead at once.
			fmt.Fprintf(&sb, "    # %s\n", strings.Repeat("x", 20000))
		}
		if i > 0 {
			fmt.Fprintf(&sb, "    needs: [t%d]\n", i-1)
		}
	}
	src := []byte(sb.String())
	tc, ok := scanTasks(src)
	if !ok {
		t.Fatal("scanTasks did not take the file")
	}
	p := &parser{file: "ahead.yaml", src: src, opts: opts()}
	bs := tc.batches()
	if len(bs) < 20 {
		t.Fatalf("%d batches, want at least 20", len(bs))
	}
	var want [][]*yaml.Node
	next, stop := p.decodeAhead(bs, 1)
	for range bs {
		items, err := next()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, items)
	}
	stop()
	base := runtime.NumGoroutine()
	for _, workers := range []int{2, 3, 8} {
		next, stop := p.decodeAhead(bs, workers)
		for i := range bs {
			items, err := next()
			if err != nil {
				t.Fatalf("%d workers: batch %d: %v", workers, i, err)
			}
			if !reflect.DeepEqual(items, want[i]) {
				t.Fatalf("%d workers: batch %d differs from its decoding alone", workers, i)
			}
		}
		stop()
	}
	// A batch that does not hold the items its lines said (as when a
	// line only looked like an item's start): its error comes in its
	// place, the batches before it as they are; stop then ends the rest.
	bad := append([]batchSpan(nil), bs...)
	bad[7].want++
	next, stop = p.decodeAhead(bad, 4)
	for i := 0; i < 7; i++ {
		if _, err := next(); err != nil {
			t.Fatalf("batch %d before the bad one: %v", i, err)
		}
	}
	if _, err := next(); err == nil {
		t.Fatal("the bad batch decoded")
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after stop, %d before", n, base)
	}
}
