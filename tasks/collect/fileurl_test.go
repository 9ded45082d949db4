package collect_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// File URLs are read as RFC 8089 reads them: file://localhost/PATH is
// /PATH, percent-escapes are decoded (a folder with a space in its name,
// written %20; a literal percent sign, %25), and a URL naming another
// host is refused, saying so, before any read. Before, the whole text
// after file:// was taken as a path: localhost/PATH relative to the
// working directory, %20 as three characters.
func TestFileURLRFC8089(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my data 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, readFile(t, "testdata/people.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	escaped := strings.NewReplacer("%", "%25", " ", "%20").Replace(csv)
	run := func(source string) (cairn.ArtifactRef, error) {
		t.Helper()
		env, _ := tasktest.Env(t)
		raw, _ := json.Marshal(map[string]any{"source": source})
		res, err := collect.New(collect.Options{}).Run(context.Background(), tasktest.Request(t, raw), env)
		if err != nil {
			return cairn.ArtifactRef{}, err
		}
		ref, _ := cairn.AsArtifactRef(res.Outputs["data"])
		return ref, nil
	}
	want, err := run("file://" + abs(t, "testdata/people.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"file://" + escaped,
		"file://localhost" + escaped,
		"file://LOCALHOST" + escaped,
		"file:" + escaped,
	} {
		got, err := run(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got.Digest != want.Digest {
			t.Errorf("%s: read %s, want the people data set %s", src, got.Digest, want.Digest)
		}
	}

	// Refused by ValidateParams (so by cairn validate, at the line) and,
	// for good, by Run.
	task := collect.New(collect.Options{})
	for _, c := range []struct{ source, want string }{
		{"file://fileserver" + escaped, `names the host "fileserver"`},
		{"file://data/train.csv", `for data/train.csv relative to the working directory write file:data/train.csv`},
		{"file://localhost", "no path after its host"},
		{"file:///tmp/100%.csv", "percent-escape"},
		{"file:///tmp/a%00.csv", "NUL"},
		{"file:", "needs a path"},
	} {
		errs := task.ValidateParams(map[string]any{"source": c.source})
		if len(errs) != 1 || errs[0].Key != "source" || !strings.Contains(errs[0].Msg+" "+errs[0].Hint, c.want) {
			t.Errorf("%s: ValidateParams = %+v, want one error on source saying %q", c.source, errs, c.want)
		}
		if _, err := run(c.source); err == nil || cairn.IsRetryable(err) {
			t.Errorf("%s: Run: %v, want a permanent error", c.source, err)
		}
	}
}
