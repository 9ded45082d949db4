package executor

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// TestCheckReadInputs: an artifact read beyond the inputs may not take an
// input's port name, an empty one or an invalid reference; the error is
// permanent.
func TestCheckReadInputs(t *testing.T) {
	good := cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 3}
	inputs := map[string]cairn.ArtifactRef{"data": good}
	if err := checkReadInputs(map[string]cairn.ArtifactRef{"reference": good}, inputs); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	for name, read := range map[string]map[string]cairn.ArtifactRef{
		`"data", the name of one of its inputs`: {"data": good},
		"empty port name":                       {"": good},
		"not sha256":                            {"x": {Digest: "md5:1"}},
	} {
		err := checkReadInputs(read, inputs)
		if err == nil || !strings.Contains(err.Error(), name) || cairn.IsRetryable(err) {
			t.Errorf("%v: %v, want a permanent error with %q", read, err, name)
		}
	}
}
