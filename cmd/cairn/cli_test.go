package main

// Tests of the command line itself: help, flags, version, types and the
// shell completion scripts, against the real binary.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// bare runs the binary with exactly args and the environment given, not
// env's --home: for the tests of where global flags go.
func bare(t *testing.T, envVars []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBin, args...)
	cmd.Env = append(testEnviron(), envVars...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cairn %v: %v", args, err)
	}
	return r
}

// singleDashLong finds a long flag spelled with one dash in a listing.
var singleDashLong = regexp.MustCompile(`(?m)(^|[\s\[(])-[a-z][a-z-]+`)

func TestCommandHelpOnStdout(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "never-created")
	env := []string{"CAIRN_HOME=" + home}
	for _, c := range commands() {
		r := bare(t, env, c.name, "--help")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("cairn %s --help: want exit 0 and nothing on stderr, got %s", c.name, r)
		}
		for _, want := range []string{"usage: cairn " + c.name, "\nExamples:\n  ", "\nGlobal flags (before or after the command):\n  --db DB "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("cairn %s --help lacks %q:\n%s", c.name, want, r.stdout)
			}
		}
		// What it does: a sentence between the usage line and the flags.
		if parts := strings.SplitN(r.stdout, "\n\n", 3); len(parts) < 3 || len(strings.TrimSpace(parts[1])) < 20 {
			t.Errorf("cairn %s --help says too little of what it does:\n%s", c.name, r.stdout)
		}
		if m := singleDashLong.FindString(r.stdout); m != "" {
			t.Errorf("cairn %s --help spells a long flag with one dash (%q):\n%s", c.name, m, r.stdout)
		}
		if h := bare(t, env, "help", c.name); h.code != 0 || h.stdout != r.stdout {
			t.Errorf("cairn help %s differs from cairn %s --help:\n%s\n--- vs ---\n%s", c.name, c.name, h, r.stdout)
		}
	}
	r := bare(t, env, "--help")
	if m := singleDashLong.FindString(r.stdout); m != "" || !strings.Contains(r.stdout, "  --home DIR ") {
		t.Errorf("cairn --help: a flag spelled %q, or --home missing:\n%s", m, r.stdout)
	}
	if strings.Contains(r.stdout, completeCommand) {
		t.Errorf("the hidden %s command is in the usage:\n%s", completeCommand, r.stdout)
	}
	r = bare(t, env, "help", "shwo")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "shwo" (did you mean "show"?)`) {
		t.Errorf("cairn help shwo: %s", r)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("help created the home folder %s (%v)", home, err)
	}
}

func TestFlagErrorsAreOneProblemAndAPointer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"types", "--json"}, "cairn types: unknown flag --json\n"},
		{[]string{"runs", "--limt", "3"}, "cairn runs: unknown flag --limt (did you mean --limit?)\n"},
		{[]string{"runs", "--limit", "x"}, `cairn runs: invalid value "x" for flag --limit: parse error` + "\n"},
		{[]string{"logs", "RUN", "TASK", "--attempt"}, "cairn logs: flag needs an argument: --attempt\n"},
		{[]string{"show"}, "cairn show: want a run id, and perhaps a task id\n"},
		{[]string{"models", "promote", "m", "-1"}, "cairn models: unknown flag -1 (a negative number is read as a flag: put -- before it)\n"},
		{[]string{"run", "wf.yaml", "--progress", "fancy"}, `cairn run: invalid value "fancy" for flag --progress: want auto, bar, lines or none` + "\n"},
	} {
		r := e.must(2, tc.args...)
		cmd := tc.args[0]
		want := tc.want + "Run 'cairn " + cmd + " --help' for usage.\n"
		if r.stderr != want || r.stdout != "" {
			t.Errorf("cairn %v: want stderr\n%s--- got %s", tc.args, want, r)
		}
	}
	r := bare(t, nil, "--home", t.TempDir(), "--bogus", "runs")
	if r.code != 2 || r.stderr != "cairn: unknown flag --bogus\nRun 'cairn --help' for usage.\n" {
		t.Errorf("cairn --bogus: %s", r)
	}
	r = e.must(2, "rnu")
	if strings.Contains(r.stderr, "Commands:") {
		t.Errorf("an unknown command prints the whole usage:\n%s", r)
	}
}

func TestGlobalFlagsAfterTheCommand(t *testing.T) {
	t.Parallel()
	envHome, flagHome := t.TempDir(), t.TempDir()
	env := []string{"CAIRN_HOME=" + envHome}
	r := bare(t, env, "run", testdata(t, "alpha.yaml"), "--home", flagHome, "--progress", "none")
	if r.code != 0 {
		t.Fatalf("run --home after the command: %s", r)
	}
	id := runIDOf(t, r.stderr)
	if _, err := os.Stat(filepath.Join(flagHome, "cairn.db")); err != nil {
		t.Errorf("run --home %s did not use it: %v", flagHome, err)
	}
	if _, err := os.Stat(filepath.Join(envHome, "cairn.db")); err == nil {
		t.Errorf("run --home after the command still used $CAIRN_HOME")
	}
	r = bare(t, env, "runs", "-q", "--home", flagHome)
	if r.code != 0 || strings.TrimSpace(r.stdout) != id {
		t.Errorf("runs --home after the command: want %s, got %s", id, r)
	}
	db := filepath.Join(t.TempDir(), "other.db")
	if r = bare(t, env, "migrate", "--db", db); r.code != 0 || !strings.Contains(r.stdout, db) {
		t.Errorf("migrate --db after the command: %s", r)
	}
}

func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	ver, rev, gov := buildVersion("", "", bi, true)
	if ver != "devel" || rev != "0123456789abcdef0123456789abcdef01234567 (modified)" || gov != "go1.99.1" {
		t.Errorf("from the VCS stamp: %q %q %q", ver, rev, gov)
	}
	ver, rev, _ = buildVersion("v1.2.3-4-gabcdef0-dirty", "abcdef0 (modified)", bi, true)
	if ver != "v1.2.3-4-gabcdef0-dirty" || rev != "abcdef0 (modified)" {
		t.Errorf("the -ldflags values are not the version and commit: %q %q", ver, rev)
	}
	bi.Main.Version, bi.Settings = "v0.9.0", nil
	if ver, rev, _ = buildVersion("", "", bi, true); ver != "v0.9.0" || rev != "unknown" {
		t.Errorf("a go install'ed module: %q %q", ver, rev)
	}
	if ver, rev, gov = buildVersion("", "", nil, false); ver != "devel" || rev != "unknown" || gov != runtime.Version() {
		t.Errorf("without build info: %q %q %q", ver, rev, gov)
	}
}

// TestVersionOfTheBinary checks the real binary: --version and version,
// the commit of its VCS stamp when the go command wrote one, and, built by
// 'make build', the version and commit from git.
func TestVersionOfTheBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.must(0, "--version"), e.must(0, "version")
	if a.stdout != b.stdout || !strings.Contains(a.stdout, "\ngo     "+runtime.Version()+"\n") {
		t.Errorf("--version and version:\n%s\n%s", a, b)
	}
	// The go command stamps vcs.revision only from a .git folder, with
	// -buildvcs not false: not in a git worktree.
	if bi, err := exec.Command("go", "version", "-m", cairnBin).Output(); err == nil {
		if m := regexp.MustCompile(`vcs.revision=([0-9a-f]+)`).FindSubmatch(bi); m != nil {
			if !strings.Contains(a.stdout, "\ncommit "+string(m[1])) {
				t.Errorf("version does not name the stamped commit %s:\n%s", m[1], a.stdout)
			}
		} else {
			t.Logf("the test binary has no VCS stamp; the make build below checks the commit")
		}
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make: the Makefile's version stamping is not checked")
	}
	desc, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		t.Skipf("no git repository to describe: %v", err)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cairn")
	mk := exec.Command("make", "-s", "-C", "../..", "build", "BIN="+bin)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	d := strings.TrimSpace(string(desc))
	want := "cairn " + d + "\ncommit " + strings.TrimSpace(string(head))
	if strings.HasSuffix(d, "-dirty") {
		want += " (modified)"
	}
	if !strings.HasPrefix(string(out), want+"\n") {
		t.Errorf("make build: want %q first, got:\n%s", want, out)
	}
}

func TestTypesOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "types", "split")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^split: `),
		regexp.MustCompile(`(?m)^test_size +float +0\.2 +fraction`),
		regexp.MustCompile(`(?m)^strategy +string +random `),
		regexp.MustCompile(`(?m)^label +string +none `),
		regexp.MustCompile(`(?m)^data +artifact +yes `),
		regexp.MustCompile(`(?m)^rows +value +the row counts`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("types split: no line like %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "shell") {
		t.Errorf("types split shows other types:\n%s", r.stdout)
	}
	if r = e.must(0, "types", "shell"); !regexp.MustCompile(`(?m)^argv +list +`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^kill_grace +duration +5s `).MatchString(r.stdout) {
		t.Errorf("types shell:\n%s", r.stdout)
	}
	r = e.must(2, "types", "shel")
	if !strings.Contains(r.stderr, `unknown task type "shel" (did you mean "shell"?)`) {
		t.Errorf("types shel: %s", r)
	}
	if r = e.must(0, "types"); !strings.Contains(r.stdout, "with.test_size") || !strings.Contains(r.stdout, "(default 0.2)") {
		t.Errorf("types lists no defaults:\n%s", r.stdout)
	}
}

// completionCases are a command line up to the cursor (the last word) and
// the candidates the completion must offer, in order.
func completionCases(home, id string) []struct {
	words []string
	want  string
} {
	return []struct {
		words []string
		want  string
	}{
		{[]string{"ru"}, "run runs"},
		{[]string{"run", "--pro"}, "--progress"},
		{[]string{"run", "--progress", ""}, "auto bar lines none"},
		{[]string{"runs", "--state", "f"}, "failed"},
		{[]string{"--home", home, "show", ""}, id},
		{[]string{"show", "--home", home, id[:4]}, id},
		{[]string{"--home", home, "logs", id, ""}, "hello write final"},
		{[]string{"--home", home, "logs", id, "w"}, "write"},
		{[]string{"--home", home, "runs", "--before", ""}, id},
		{[]string{"lineage", "--format", ""}, "text json dot openlineage"},
		{[]string{"graph", "--format", ""}, "mermaid dot"},
		{[]string{"alerts", "list", "--state", ""}, "pending sent failed"},
		{[]string{"run", "testdata/alp"}, "testdata/alpha.yaml"},
		{[]string{"backup", "testd"}, "testdata"},
		{[]string{"run", "-p", "code=1", "--qui"}, "--quiet"},
		{[]string{"help", "val"}, "validate"},
		{[]string{"types", "sp"}, "split"},
		{[]string{"plugins", ""}, "list lock"},
		{[]string{"completion", ""}, "bash zsh"},
		{[]string{"--ver"}, "--version"},
		{[]string{"--home", filepath.Join(home, "missing"), "show", ""}, ""},
	}
}

// aRun makes a home with one finished run of alpha.yaml.
func aRun(t *testing.T) (home, id string) {
	t.Helper()
	e := newEnv(t)
	r := e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none")
	return e.home, runIDOf(t, r.stderr)
}

func TestBashCompletion(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	home, id := aRun(t)
	var script strings.Builder
	script.WriteString(`source <("$CAIRN_BIN" completion bash) || exit 1
complete -p cairn
t() { COMP_WORDS=("$CAIRN_BIN" "$@"); COMP_CWORD=$#; _cairn; echo "${COMPREPLY[*]}"; }
`)
	cases := completionCases(home, id)
	for _, c := range cases {
		script.WriteString("t")
		for _, w := range c.words {
			script.WriteString(" " + sq(w))
		}
		script.WriteString("\n")
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script.String())
	cmd.Env = append(os.Environ(), "CAIRN_BIN="+cairnBin, "CAIRN_HOME="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases)+1 || lines[0] != "complete -F _cairn cairn" {
		t.Fatalf("bash completion output:\n%s", out)
	}
	for i, c := range cases {
		if got := lines[i+1]; got != c.want {
			t.Errorf("cairn %s<TAB>: want %q, got %q", strings.Join(c.words, " "), c.want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "missing")); !os.IsNotExist(err) {
		t.Errorf("completing against a missing home created it (%v)", err)
	}
}

// TestZshCompletion runs the zsh script's function with zsh's completion
// builtins replaced by functions that print what they are given (_describe
// filtered by the word being completed, as zsh would). It is skipped where
// zsh is not installed.
func TestZshCompletion(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("no zsh: the zsh completion script is not checked")
	}
	home, id := aRun(t)
	var script strings.Builder
	script.WriteString(`autoload -U compinit && compinit -u -D
source <("$CAIRN_BIN" completion zsh) || exit 1
print -r -- "registered $_comps[cairn]"
compadd() { while [[ $1 == -* ]]; do if [[ $1 == -a ]]; then print -r -- "${(P)2}"; return; fi; [[ $1 == -- ]] && { shift; break }; shift; done; print -r -- "$*"; }
_describe() { local -a names; names=("${(@)${(P)${@[-1]}}%%:*}"); names=(${(M)names:#${_tp}*}); print -r -- "$names"; }
_files() { local -a f; f=(${~_tp}*.(yaml|yml)(N)); print -r -- "$f"; }
_directories() { local -a f; f=(${~_tp}*(N/)); print -r -- "$f"; }
compset() { :; }
t() { words=("$CAIRN_BIN" "$@"); CURRENT=$(( $# + 1 )); _tp=${words[CURRENT]}; _cairn; }
`)
	cases := completionCases(home, id)
	for _, c := range cases {
		script.WriteString("t")
		for _, w := range c.words {
			script.WriteString(" " + sq(w))
		}
		script.WriteString("\n")
	}
	cmd := exec.Command("zsh", "-f", "-c", script.String())
	cmd.Env = append(os.Environ(), "CAIRN_BIN="+cairnBin, "CAIRN_HOME="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases)+1 || lines[0] != "registered _cairn" {
		t.Fatalf("zsh completion output:\n%s", out)
	}
	for i, c := range cases {
		got := lines[i+1]
		// The stand-in compadd prints every candidate; zsh filters by prefix.
		if words := strings.Fields(c.want); len(words) == 1 && strings.Contains(" "+got+" ", " "+c.want+" ") {
			continue
		}
		if got != c.want {
			t.Errorf("cairn %s<TAB>: want %q, got %q", strings.Join(c.words, " "), c.want, got)
		}
	}
}

func TestCompleteNeverCreatesADatabase(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, home := range []string{empty, missing} {
		for _, args := range [][]string{{"__complete", "runs"}, {"__complete", "tasks", "abcd"}} {
			r := bare(t, []string{"CAIRN_HOME=" + home}, args...)
			if r.code != 0 || r.stdout != "" || r.stderr != "" {
				t.Errorf("cairn %v in %s: want nothing, got %s", args, home, r)
			}
		}
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("__complete wrote into an empty home: %v", ents)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("__complete created the missing home (%v)", err)
	}
}

func TestCompletableRefusesShellSyntax(t *testing.T) {
	for _, id := range []string{"01m8x1dm001s2k8f", "train", "collect_2-b", longID} {
		if !completable(id) {
			t.Errorf("%q is refused", id)
		}
	}
	for _, id := range []string{"", "$(touch x)", "a b", "`id`", "a;b", "${HOME}", "a\nb", "*", "~root", strings.Repeat("a", 129)} {
		if completable(id) {
			t.Errorf("%q would reach compgen -W", id)
		}
	}
}

// TestZshCompletionInARealShell loads the script as zsh loads it from
// $fpath (the #compdef file) into an interactive zsh on a pseudo-terminal
// (zsh/zpty) and presses Tab: each step waits for the completed text to
// appear, and the command's timeout ends a step that never completes. It is
// skipped where zsh is not installed.
func TestZshCompletionInARealShell(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("no zsh: the zsh completion script is not checked")
	}
	home, id := aRun(t)
	dir := t.TempDir()
	for _, d := range []string{"fpath", "bin", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := bare(t, nil, "completion", "zsh")
	if script.code != 0 {
		t.Fatalf("completion zsh: %s", script)
	}
	if err := os.WriteFile(filepath.Join(dir, "fpath", "_cairn"), []byte(script.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cairnBin, filepath.Join(dir, "bin", "cairn")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "work", "alpha.yaml"), []byte("name: a\ntasks: [{id: a, type: noop}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Patterns never match the echo of what is typed: the prompt is
	// written in two pieces, and each completion adds text not typed.
	driver := `zmodload zsh/zpty || exit 3
zpty -b z zsh -f -i
step() { zpty -w -n z "$1"; zpty -r z out "$2" || exit 4; print -r -- "ok: $3"; }
setup=` + sq(`PS1="RE""ADY> "; fpath=(`+sq(filepath.Join(dir, "fpath"))+` $fpath); autoload -U compinit; compinit -u -D; PATH=`+
		sq(filepath.Join(dir, "bin"))+`:$PATH; cd `+sq(filepath.Join(dir, "work"))) + `
step "$setup"$'\n' '*READY> ' prompt
step $'cairn run al\t' '*alpha.yaml*' file
step $'\C-u'$'cairn run --progr\t' '*--progress*' flag
step $'\C-u'$'cairn --home ` + home + ` show \t' '*` + id + `*' run
step $'\C-u'$'cairn --home ` + home + ` logs ` + id + ` wr\t' '*write*' task
zpty -d z
`
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "zsh", "-f", "-c", driver).CombinedOutput()
	want := "ok: prompt\nok: file\nok: flag\nok: run\nok: task\n"
	if err != nil || string(out) != want {
		t.Fatalf("zsh completion on a terminal: %v\nwant:\n%sgot:\n%s", err, want, out)
	}
}

func TestImplVersionOf(t *testing.T) {
	for _, c := range []struct{ ver, rev, want string }{
		{"v0.6.0", "c7c43d878da667337f849bf3a0174acae7eb3224", "cairn v0.6.0+c7c43d878da6"},
		{"c7c43d8", "c7c43d878da667337f849bf3a0174acae7eb3224", "cairn c7c43d878da6"},
		{"devel", "c7c43d878da667337f849bf3a0174acae7eb3224 (modified)", "cairn devel+c7c43d878da6"},
		{"devel", "unknown", "cairn devel+unknown"},
	} {
		if got := implVersionOf(c.ver, c.rev); got != c.want {
			t.Errorf("implVersionOf(%q, %q) = %q, want %q", c.ver, c.rev, got, c.want)
		}
	}
}
