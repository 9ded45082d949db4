package workflows

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

func TestResources(t *testing.T) {
	src := `name: r
tasks:
  - id: a
    type: shell
    resources: {cpu: 1.5, memory: 2GiB}
    with: {argv: [echo]}
  - id: b
    type: shell
    resources: {memory: 536870912}
    with: {argv: [echo]}
`
	w, err := Parse("r.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	if r := w.Task("a").Resources; r == nil || *r != (cairn.Resources{CPU: 1.5, Memory: 2 << 30}) {
		t.Fatalf("resources %+v", r)
	}
	with, err := w.Task("a").ResolveWith(usesScope{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"resources":{"cpu":1.5,"memory":2147483648}`; !strings.Contains(string(with), want) {
		t.Errorf("with %s lacks %s", with, want)
	}
	if !strings.Contains(string(w.Canonical()), `"resources":{"cpu":1.5,"memory":2147483648}`) {
		t.Errorf("canonical lacks resources: %s", w.Canonical())
	}
	// A file without resources keeps its digest; one with different
	// resources is another workflow.
	other, err := Parse("r.yaml", []byte(strings.Replace(src, "2GiB", "1GiB", 1)), opts())
	if err != nil {
		t.Fatal(err)
	}
	if other.Digest == w.Digest {
		t.Error("a changed memory limit kept the digest")
	}
}

func TestResourcesErrors(t *testing.T) {
	cases := map[string]string{
		"resources: {memory: 2XB}":                  `r.yaml:5:25: resources memory: "2XB" is not an amount of memory`,
		"resources: {cpu: -1}":                      "r.yaml:5:22: resources cpu must be between 0.01 and 4096, not -1",
		"resources: {cpu: \"2\"}":                   `r.yaml:5:22: resources cpu must be a number of cores, not a string ("2")`,
		"resources: {memory: 1MiB}":                 "r.yaml:5:25: resources memory must be at least 4MiB, not 1MiB",
		"resources: {memory: -5GiB}":                `r.yaml:5:25: resources memory: "-5GiB" is negative`,
		"resources: {gpu: 1}":                       `r.yaml:5:17: unknown key "gpu"`,
		"resources: {}":                             "r.yaml:5:16: resources is empty",
		"resources: 2GiB":                           "r.yaml:5:16: resources must be a mapping",
		"resources: {memory: \"${{ x }}\"}":         "r.yaml:5:25: resources memory cannot hold a reference",
		"type: noop\n    resources: {cpu: 1}":       `r.yaml:5:16: task "a": type "noop" cannot enforce resources`,
		"with: {argv: [echo], resources: {cpu: 1}}": "r.yaml:5:26: with.resources is set by the task's resources:, not under with:",
	}
	for line, want := range cases {
		typ := "type: shell\n    "
		if strings.HasPrefix(line, "type:") {
			typ = ""
		}
		src := "name: r\ntasks:\n  - id: a\n    " + typ + line + "\n"
		if !strings.Contains(line, "with:") {
			src += "    with: {argv: [echo]}\n"
		}
		if strings.HasPrefix(line, "type: noop") {
			src = "name: r\ntasks:\n  - id: a\n    " + line + "\n"
		}
		_, err := Parse("r.yaml", []byte(src), opts())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n%s\ngot %v\nwant %s", line, src, err, want)
		}
	}
}
