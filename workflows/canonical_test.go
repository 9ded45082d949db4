package workflows

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func digestOf(t *testing.T, src string) string {
	t.Helper()
	w, err := Parse("d.yaml", []byte(src), opts())
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return w.Digest
}

func TestDigest(t *testing.T) {
	base := `name: d
params:
  seed: 42
defaults: {retries: 2, retry_backoff: 5s}
tasks:
  - id: a
    type: shell
    with: {argv: [echo, "${{ params.seed }}"], env: {A: "1", B: "2"}}
  - id: b
    type: noop
    needs: [a]
`
	same := map[string]string{
		"reformatted, reordered, commented": `# a comment
tasks:
- type: shell   # trailing comment
  with:
    env:
      B: "2"
      A: '1'
    argv:
    - echo
    - ${{params.seed}}
  id: a
- {needs: a, type: noop, id: b}
defaults:
  retry_backoff: {delay: 5s, factor: 2, max: 10m}
  retries: 2
params: {seed: {type: int, default: 42}}
name: d
`,
		"defaults applied explicitly": `name: d
params:
  seed: 42
tasks:
  - id: a
    type: shell
    retries: 2
    retry_backoff: 5s
    timeout: 0s
    with: {argv: [echo, "${{ params.seed }}"], env: {A: "1", B: "2"}}
  - id: b
    type: noop
    needs: [a]
    retries: 2
    retry_backoff: 5s
    when: true
`,
	}
	d := digestOf(t, base)
	for name, src := range same {
		if got := digestOf(t, src); got != d {
			t.Errorf("%s: digest %s, want %s", name, got, d)
		}
	}
	changed := map[string]string{
		"value":             strings.Replace(base, "seed: 42", "seed: 43", 1),
		"retries":           strings.Replace(base, "retries: 2", "retries: 3", 1),
		"max_interruptions": strings.Replace(base, "retries: 2,", "retries: 2, max_interruptions: 3,", 1),
		"env":               strings.Replace(base, `A: "1"`, `A: "x"`, 1),
		"needs":             strings.Replace(base, "    needs: [a]\n", "", 1),
		"name":              strings.Replace(base, "name: d", "name: e", 1),
		"max_active_runs":   strings.Replace(base, "name: d", "name: d\nmax_active_runs: 1", 1),
		"string":            strings.Replace(base, `B: "2"`, `B: 2`, 1),
	}
	for name, src := range changed {
		if got := digestOf(t, src); got == d {
			t.Errorf("%s changed but the digest did not", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/errors"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		w, err := Parse("fuzz.yaml", src, opts())
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Col < 1 || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		c := w.Canonical()
		if string(c) != string(w.Canonical()) {
			t.Fatal("Canonical is not deterministic")
		}
		w2, err := Parse("canonical.json", c, opts())
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, c)
		}
		if w2.Digest != w.Digest {
			t.Fatalf("canonical form re-parses to another digest\n%s\n%s", c, w2.Canonical())
		}
		if len(w.TopoOrder()) != len(w.Tasks) {
			t.Fatal("TopoOrder lost tasks")
		}
	})
}

// A `when:` expression is digested in one spelling: spacing, quotes,
// ${{ }} around references and left-to-right grouping don't change the
// digest; a different condition does.
func TestWhenSpellingsShareADigest(t *testing.T) {
	wf := func(when string) string {
		return "name: w\nparams:\n  deploy: false\ntasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n    needs: [a]\n    when: " + when + "\n"
	}
	digest := func(when string) string {
		t.Helper()
		w, err := Parse("w.yaml", []byte(wf(when)), opts())
		if err != nil {
			t.Fatalf("when %s: %v", when, err)
		}
		return w.Digest
	}
	base := digest(`"${{ params.deploy }} == true && 1 < 2"`)
	for _, same := range []string{
		`"params.deploy==true&&1<2"`,
		`"(${{params.deploy}} == true) && (1 < 2)"`,
		`'${{ params.deploy }}  ==  true  &&  1.0 < 2'`,
	} {
		if got := digest(same); got != base {
			t.Errorf("when %s: digest differs from the base spelling", same)
		}
	}
	for _, other := range []string{
		`"${{ params.deploy }} == false && 1 < 2"`,
		`"${{ params.deploy }} == true || 1 < 2"`,
		`"${{ params.deploy }} == true && (1 < 2 && 'a' == 'a')"`,
	} {
		if got := digest(other); got == base {
			t.Errorf("when %s: same digest as a different condition", other)
		}
	}
	// The normal spelling parses back to itself.
	w, _ := Parse("w.yaml", []byte(wf(`"!params.deploy || 'it''s' != \"x\""`)), opts())
	when := w.Task("b").When
	again, err := parseExpr(when)
	if err != nil || formatExpr(again) != when {
		t.Fatalf("normal form %q does not parse back to itself (%v)", when, err)
	}
}
