package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// cairn artifact lists a task's artifact outputs, writes one's bytes to
// stdout or a file, explains what it cannot fetch, and never leaves a
// partial file behind when the stored bytes are corrupt.
func TestArtifactCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prep, err := filepath.Abs("../../workflows/examples/iris-prep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "run", prep, "-p", "data="+irisData(t))
	id := runIDOf(t, r.stderr)
	split := taskByID(t, e.show(id), "split")
	var train cairn.ArtifactRef
	if err := json.Unmarshal(split.Outputs["train"], &train); err != nil {
		t.Fatal(err)
	}

	list := e.must(0, "artifact", id, "split").stdout
	for _, name := range []string{"train\ttext/csv", "test\ttext/csv", "validation\ttext/csv"} {
		if !strings.Contains(list, name) {
			t.Errorf("listing lacks %q:\n%s", name, list)
		}
	}
	if strings.Contains(list, "rows") {
		t.Errorf("listing shows a plain value:\n%s", list)
	}

	out := e.must(0, "artifact", id, "split", "train").stdout
	if sum := sha256.Sum256([]byte(out)); "sha256:"+hex.EncodeToString(sum[:]) != train.Digest {
		t.Errorf("stdout bytes do not hash to %s", train.Digest)
	}
	if !strings.HasPrefix(out, "sepal_length_cm,") {
		t.Errorf("stdout is not the train CSV:\n%.200s", out)
	}
	// -o - is standard output, not a file named "-" (found by the trial).
	if got := e.must(0, "artifact", id, "split", "train", "-o", "-").stdout; got != out {
		t.Errorf("-o - wrote %d bytes to stdout, want %d", len(got), len(out))
	}
	if _, err := os.Stat("-"); err == nil {
		os.Remove("-")
		t.Errorf("-o - made a file named -")
	}
	file := filepath.Join(t.TempDir(), "train.csv")
	e.must(0, "artifact", id[:8], "split", "train", "-o", file)
	if b, err := os.ReadFile(file); err != nil || string(b) != out {
		t.Errorf("-o wrote %d bytes (%v), want the %d of stdout", len(b), err, len(out))
	}

	for _, c := range []struct{ args, want string }{
		{"split tset", `no artifact output "tset" (did you mean "test"?)`},
		{"split rows", "is a plain value, not an artifact"},
		{"splt train", `"split"`},
	} {
		r := e.must(1, append([]string{"artifact", id}, strings.Fields(c.args)...)...)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("artifact %s: want %q in\n%s", c.args, c.want, r.stderr)
		}
	}
	e.must(2, "artifact", id)

	// Corrupt the stored blob: the copy fails and -o leaves nothing.
	blob := filepath.Join(e.home, "artifacts", "sha256", train.Hex()[:2], train.Hex())
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte(strings.Repeat("x", int(train.Size))), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	r = e.must(1, "artifact", id, "split", "train", "-o", bad)
	if !strings.Contains(r.stderr, "does not match its digest") {
		t.Errorf("corrupt blob: %s", r.stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(bad)); len(entries) != 0 {
		t.Errorf("a failed copy left %v behind", entries)
	}
}
