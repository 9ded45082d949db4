package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
)

// CorruptInput runs c with its input port's bytes damaged on disk after
// they were stored: the byte at the middle of the first data line (the
// second line) becomes a double quote, the size unchanged, so that the
// damaged bytes no longer parse as the CSV they were (a bare quote) before
// their end, where the store finds that they do not hash to their digest.
// The attempt must fail with the store's error wrapping
// artifacts.ErrCorrupt and naming the input's digest, not as malformed
// data: a damaged artifact is the store's fault, and the digest is what
// the user needs to find it. c.Want and c.Check are ignored.
func CorruptInput(t *testing.T, task tasks.Task, c Case, port string) {
	t.Helper()
	raw, err := json.Marshal(c.Params)
	if err != nil {
		t.Fatalf("CorruptInput: params: %v", err)
	}
	a, log := prepare(t, c, raw)
	ref, ok := a.Request.Inputs[port]
	if !ok {
		t.Fatalf("CorruptInput: the case has no input %q", port)
	}
	b := bytes.Clone(c.Inputs[port])
	first := bytes.IndexByte(b, '\n')
	second := bytes.IndexByte(b[first+1:], '\n')
	if first < 0 || second < 2 {
		t.Fatalf("CorruptInput: input %q has no data line to damage", port)
	}
	b[first+1+second/2] = '"'
	Overwrite(t, a.Env, ref, b)
	out := run(context.Background(), task, a, log)
	if out.Panic != nil {
		t.Fatalf("Run panicked on a corrupt input: %v", out.Panic)
	}
	if !errors.Is(out.Err, artifacts.ErrCorrupt) || !strings.Contains(out.Err.Error(), ref.Digest) {
		t.Fatalf("Run with input %s corrupt on disk: err = %v; want an error wrapping artifacts.ErrCorrupt naming %s", port, out.Err, ref.Digest)
	}
}

// Overwrite puts b in place of the bytes of ref in env's store (an
// *artifacts.Dir), as damage on disk would: the store still names them
// by ref's digest.
func Overwrite(t testing.TB, env tasks.Env, ref cairn.ArtifactRef, b []byte) {
	t.Helper()
	d, ok := env.Artifacts.(*artifacts.Dir)
	if !ok {
		t.Fatalf("Overwrite: the store is a %T, want an *artifacts.Dir", env.Artifacts)
	}
	p, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o400); err != nil {
		t.Fatal(err)
	}
}
