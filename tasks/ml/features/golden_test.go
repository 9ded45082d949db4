package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// unclippedCases are pipelines without clipping. Their encodings were
// written before clipping existed; they must not change, so that every
// model fitted without clip_outliers keeps its bytes.
func unclippedCases() map[string]struct {
	f    *dataset.Frame
	spec Spec
} {
	rich := NewSpec("y")
	rich.Exclude = []string{"id"}
	rich.Impute = map[string]Imputer{"age": {Strategy: Median}, "color": {Strategy: Constant, Value: "none"}}
	return map[string]struct {
		f    *dataset.Frame
		spec Spec
	}{
		"rich_standardized": {richFrame(), rich},
		"rich_raw":          {richFrame(), Spec{Label: "y", Exclude: []string{"id"}}},
	}
}

// TestUnclippedBytes: a Spec without Clip encodes, and fits to a
// Transformer that encodes, to the bytes committed in testdata/ before
// clipping was added.
func TestUnclippedBytes(t *testing.T) {
	for name, c := range unclippedCases() {
		tr := mustFit(t, c.f, c.spec)
		got, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		specBytes, err := json.Marshal(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(append(got, '\n'), specBytes...), '\n')
		path := filepath.Join("testdata", "unclipped_"+name+".json")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the encoding changed:\n got %s\nwant %s", name, got, want)
		}
	}
}
