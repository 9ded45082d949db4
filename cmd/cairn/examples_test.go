package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// Every shipped example workflow is valid for this binary: `cairn validate`
// accepts it, so the docs never point at a broken file.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../workflows/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example workflows found (%v)", err)
	}
	for _, f := range files {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"--home", t.TempDir(), "validate", f}, &out, &errOut); code != 0 {
			t.Errorf("cairn validate %s: exit %d\n%s", f, code, errOut.String())
		}
	}
}
