package workflows

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxActiveRunsFile is a valid workflow with line 2 set to
// "max_active_runs: " + value.
func maxActiveRunsFile(value string) string {
	return "name: capped\nmax_active_runs: " + value + "\ntasks:\n  - {id: a, type: noop}\n"
}

func TestMaxActiveRunsValues(t *testing.T) {
	for value, want := range map[string]int{
		"1":       1,
		"2":       2,
		"+3":      3,
		"0x10":    16,
		"1000000": 1_000_000,
		"&n 4":    4, // an anchor on the value is just the value
	} {
		w, err := Parse("capped.yaml", []byte(maxActiveRunsFile(value)), opts())
		if err != nil {
			t.Errorf("max_active_runs: %s: %v", value, err)
			continue
		}
		if w.MaxActiveRuns != want {
			t.Errorf("max_active_runs: %s parsed as %d, want %d", value, w.MaxActiveRuns, want)
		}
		if c := string(w.Canonical()); !strings.Contains(c, `"max_active_runs":`+strconv.Itoa(want)) {
			t.Errorf("max_active_runs: %s: canonical form lacks it: %s", value, c)
		}
	}
	w, err := Parse("free.yaml", []byte("name: free\ntasks:\n  - {id: a, type: noop}\n"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if w.MaxActiveRuns != 0 || strings.Contains(string(w.Canonical()), "max_active_runs") {
		t.Errorf("without the key: MaxActiveRuns %d, canonical %s", w.MaxActiveRuns, w.Canonical())
	}
}

func TestMaxActiveRunsErrors(t *testing.T) {
	const hint = "\n\thint: write a whole number of runs, e.g. \"max_active_runs: 2\", or leave the key out for no cap"
	for value, want := range map[string]string{
		"0":                     `capped.yaml:2:18: max_active_runs must be at least 1, not 0` + hint,
		"-1":                    `capped.yaml:2:18: max_active_runs must be at least 1, not -1` + hint,
		"1000001":               `capped.yaml:2:18: max_active_runs must be at most 1000000, not 1000001` + hint,
		"9223372036854775808":   `capped.yaml:2:18: max_active_runs: integer 9223372036854775808 out of range` + hint,
		"2.5":                   `capped.yaml:2:18: max_active_runs must be an integer, not a number (2.5)` + hint,
		"2.0":                   `capped.yaml:2:18: max_active_runs must be an integer, not a number (2.0)` + hint,
		"many":                  `capped.yaml:2:18: max_active_runs must be an integer, not a string ("many")` + hint,
		"true":                  `capped.yaml:2:18: max_active_runs must be an integer, not a bool (true)` + hint,
		"[2]":                   `capped.yaml:2:18: max_active_runs must be an integer, not a list` + hint,
		"{runs: 2}":             `capped.yaml:2:18: max_active_runs must be an integer, not a mapping` + hint,
		"null":                  `capped.yaml:2:18: max_active_runs must be an integer, not null` + hint,
		`"0"`:                   `capped.yaml:2:18: max_active_runs must be an integer, not a string ("0")` + hint,
		`"3"`:                   "capped.yaml:2:18: max_active_runs must be an integer, not a string (\"3\")\n\thint: write it without quotes: \"max_active_runs: 3\"",
		"${{ params.n }}":       `capped.yaml:2:18: max_active_runs cannot hold a reference: the cap is the workflow's, the same for every run` + hint,
		`"${{ params.n }}"`:     `capped.yaml:2:18: max_active_runs cannot hold a reference: the cap is the workflow's, the same for every run` + hint,
		`"runs: ${{ run.id }}"`: `capped.yaml:2:18: max_active_runs cannot hold a reference: the cap is the workflow's, the same for every run` + hint,
	} {
		w, err := Parse("capped.yaml", []byte(maxActiveRunsFile(value)), opts())
		if err == nil {
			t.Errorf("max_active_runs: %s accepted as %d", value, w.MaxActiveRuns)
			continue
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Errorf("max_active_runs: %s: want one problem, got %v", value, err)
			continue
		}
		if got := err.Error(); got != want {
			t.Errorf("max_active_runs: %s:\n got %s\nwant %s", value, got, want)
		}
	}
	// Empty, the value is null, reported where the key's value would be.
	_, err := Parse("capped.yaml", []byte("name: capped\nmax_active_runs:\ntasks:\n  - {id: a, type: noop}\n"), opts())
	if err == nil || !strings.HasPrefix(err.Error(), "capped.yaml:2:17: max_active_runs must be an integer, not null") {
		t.Errorf("empty max_active_runs: %v", err)
	}
}

// A misspelt max_active_runs is an unknown key whose hint names it.
func TestMaxActiveRunsDidYouMean(t *testing.T) {
	for _, key := range []string{"max_active_run", "max-active-runs", "maxActiveRuns", "max_actve_runs"} {
		_, err := Parse("capped.yaml", []byte("name: capped\n"+key+": 2\ntasks:\n  - {id: a, type: noop}\n"), opts())
		want := "capped.yaml:2:1: unknown key \"" + key + "\"\n\thint: did you mean \"max_active_runs\"?"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v\nwant %s", key, err, want)
		}
	}
}

// A workflow without max_active_runs keeps the digest it had before the
// key existed: runs store the digest and resume refuses a file whose
// digest differs. If you edited one of these examples, put its new digest
// here; if you did not, the canonical form changed for files that do not
// use a new key, which breaks every stored run's resume.
func TestDigestsWithoutMaxActiveRunsUnchanged(t *testing.T) {
	for file, want := range map[string]string{
		"examples/iris-shell.yaml":    "sha256:689e048e00f2f2198242a4f982697ec188a0052116f075c4f1ba0aaa4da64b0c", // its data param a name since session 11
		"examples/breast-cancer.yaml": "sha256:e8e8308bfafcf11577a3106c999b6718c13ecf9ddc7e0a505efd10732716e3ac",
		"testdata/valid/minimal.yaml": "sha256:601547d8696913fe0ee5cfc63928f050a50ef72994f21b6beb4323c6dae54c6c",
	} {
		w, err := ParseFile(file, Options{}) // the example's ML types are not among the fake ones
		if err != nil {
			t.Fatal(err)
		}
		if w.Digest != want {
			t.Errorf("%s: digest %s, want %s", file, w.Digest, want)
		}
	}
	// Setting it changes the digest; the canonical form re-parses to it.
	base := "name: d\ntasks:\n  - {id: a, type: noop}\n"
	w, err := Parse("d.yaml", []byte(strings.Replace(base, "tasks:", "max_active_runs: 2\ntasks:", 1)), opts())
	if err != nil {
		t.Fatal(err)
	}
	if w.Digest == digestOf(t, base) {
		t.Error("max_active_runs: 2 left the digest unchanged")
	}
	again, err := Parse("d.json", w.Canonical(), opts())
	if err != nil || again.Digest != w.Digest || again.MaxActiveRuns != 2 {
		t.Fatalf("canonical form %s re-parses to %+v, %v", w.Canonical(), again, err)
	}
}

func TestNewRunSetsMaxActiveRuns(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for src, want := range map[string]int{
		maxActiveRunsFile("5"):                          5,
		"name: free\ntasks:\n  - {id: a, type: noop}\n": 0,
	} {
		w, err := Parse("w.yaml", []byte(src), opts())
		if err != nil {
			t.Fatal(err)
		}
		if run, _ := w.NewRun(nil, now); run.MaxActiveRuns != want {
			t.Errorf("%s: run.MaxActiveRuns = %d, want %d", w.Name, run.MaxActiveRuns, want)
		}
	}
}
