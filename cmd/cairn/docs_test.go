package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/transfer"
)

// docSection returns the text of the "## title" section of a Markdown file.
func docSection(t *testing.T, path, title string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// variable is what changes from one run to the next in cairn's output:
// run ids and durations.
var variable = regexp.MustCompile(`\b[0-9a-z]{16}\b| in [0-9.]+(ns|µs|ms|s|m)\b`)

// TestDocErrorsAreTheBinarys runs every command shown under "Errors you
// may see" in docs/workflows.md on the files the section shows (```yaml
// NAME blocks) and compares its output, run ids and durations aside, with
// what the section says it prints.
func TestDocErrorsAreTheBinarys(t *testing.T) {
	t.Parallel()
	sec := docSection(t, "../../docs/workflows.md", "Errors you may see")
	dir, home := t.TempDir(), filepath.Join(t.TempDir(), "home") // made private by cairn
	files := regexp.MustCompile("(?s)```yaml ([a-z.]+)\n(.*?)```").FindAllStringSubmatch(sec, -1)
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[1]), []byte(f[2]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var shown int
	for _, block := range regexp.MustCompile("(?s)```text\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		for _, session := range strings.Split(block[1], "$ cairn ")[1:] {
			line, want, _ := strings.Cut(session, "\n")
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			cmd := exec.CommandContext(ctx, cairnBin, append([]string{"--home", home}, strings.Fields(line)...)...)
			cmd.Dir = dir
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			cancel()
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				t.Fatalf("cairn %s: %v", line, err)
			}
			got := variable.ReplaceAllString(out.String(), "X")
			if want = variable.ReplaceAllString(want, "X"); got != want {
				t.Errorf("docs/workflows.md shows for 'cairn %s':\n%s--- the binary prints:\n%s", line, want, got)
			}
			shown++
		}
	}
	if len(files) < 2 || shown < 4 {
		t.Fatalf("the section shows %d files and %d commands; the test reads it wrong", len(files), shown)
	}
}

// TestReadmeListsEveryFlag keeps the README's Commands true to the code:
// each command's line there names every flag the command has (the global
// flags have their own paragraph).
func TestReadmeListsEveryFlag(t *testing.T) {
	sec := docSection(t, "../../README.md", "Commands")
	model, err := completionModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sec, "\n")
	for _, c := range model {
		// The command's line and the indented lines that continue it.
		var text string
		for i, l := range lines {
			if !strings.HasPrefix(l, "cairn "+c.name+" ") && l != "cairn "+c.name {
				continue
			}
			text = l
			for _, more := range lines[i+1:] {
				if !strings.HasPrefix(more, " ") {
					break
				}
				text += "\n" + more
			}
			break
		}
		if text == "" {
			t.Errorf("README.md's Commands has no line for cairn %s", c.name)
			continue
		}
		for _, f := range c.flags {
			if globalFlagNames[f.name] || f.name == "help" {
				continue
			}
			re := regexp.MustCompile(`(^|[\s\[|])` + regexp.QuoteMeta(flagName(f.name)) + `([\s\]|=]|$)`)
			if !re.MatchString(text) {
				t.Errorf("README.md's Commands does not name %s of cairn %s:\n%s", flagName(f.name), c.name, text)
			}
		}
	}
	for name := range globalFlagNames {
		if !strings.Contains(sec, "`"+flagName(name)+" ") {
			t.Errorf("README.md's Commands does not describe the global flag %s", flagName(name))
		}
	}
}

// TestNothingPointsOutsideTheRepository: the docs and comments name no
// folder a user of the repository does not have.
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("no git to list the repository's files: %v", err)
	}
	outside := []byte("../" + "shared")
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			continue // listed but not checked out (a deletion in progress)
		}
		if i := bytes.Index(b, outside); i >= 0 {
			t.Errorf("%s points outside the repository: %q", name, b[max(0, i-40):min(len(b), i+40)])
		}
	}
}

// TestDocsDeclareTokensSecret: where a doc's example declares a param for
// a credential (a token, a password, a key), it declares it secret: true,
// and no doc tells the user to give one with -p, which other local users
// see in ps.
func TestDocsDeclareTokensSecret(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^\s+([a-z_]*(token|password|passwd|api_key|apikey)[a-z_]*):\s*(\{.*)$`)
	onCmdLine := regexp.MustCompile(`cairn run \S+ -p (token|password|api_key)=`)
	for _, f := range append(files, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(m[3], "secret: true") {
				t.Errorf("%s: param %s is declared without secret: true: %s", f, m[1], strings.TrimSpace(m[0]))
			}
		}
		if m := onCmdLine.FindString(string(b)); m != "" {
			t.Errorf("%s tells the user to give a credential with %q (visible in ps; use CAIRN_PARAM_<NAME>)", f, m)
		}
	}
}

// The shell examples of docs/cli.md's sections on run --detach and the
// server run as written against a server (its address for the
// documented 127.0.0.1:8080), from the repository's root.
func TestDocServerExamplesRun(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl to run the /readyz example with")
	}
	e := newEnv(t)
	srv := e.startServer(nil)
	var blocks []string
	for _, title := range []string{"`cairn run --detach`", "`cairn server`"} {
		for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(docSection(t, "../../docs/cli.md", title), -1) {
			blocks = append(blocks, strings.ReplaceAll(m[1], "127.0.0.1:8080", srv.addr))
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d shell examples in docs/cli.md's server sections; the test reads it wrong", len(blocks))
	}
	for _, b := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", b)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CAIRN_HOME="+e.home, "PATH="+filepath.Dir(cairnBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("docs/cli.md's example failed: %v\n%s--- output:\n%s", err, b, out)
		}
	}
	runs := e.runs()
	if len(runs) != 1 {
		t.Fatalf("the examples queued %d runs, want 1", len(runs))
	}
	e.waitRunState(60*time.Second, runs[0].ID, "succeeded")
}

// docs/cli.md's table of the server's flags names every flag `cairn
// server --help` lists, and its table of log lines is what the code logs,
// at the level it says.
func TestDocServerFlagsAndLogLines(t *testing.T) {
	sec := docSection(t, "../../docs/cli.md", "`cairn server`")
	model, err := completionModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range model {
		if c.name != "server" {
			continue
		}
		for _, f := range c.flags {
			if globalFlagNames[f.name] || f.name == "help" {
				continue
			}
			if !strings.Contains(sec, "| `"+flagName(f.name)+"` |") {
				t.Errorf("docs/cli.md's table of server flags has no row for %s", flagName(f.name))
			}
			checked++
		}
	}
	if checked < 7 {
		t.Fatalf("checked %d server flags; the test reads the command table wrong", checked)
	}
	var src strings.Builder
	for _, f := range []string{"cmd_server.go", "server_metrics.go", "../../scheduler/service.go", "../../scheduler/broker.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	rows := regexp.MustCompile("(?m)^\\| (INFO|WARN|ERROR) \\| `([^`]+)` \\|").FindAllStringSubmatch(sec, -1)
	if len(rows) < 10 {
		t.Fatalf("found %d log lines in docs/cli.md; the test reads it wrong", len(rows))
	}
	for _, r := range rows {
		level := map[string]string{"INFO": "Info", "WARN": "Warn", "ERROR": "Error"}[r[1]]
		msg := strings.TrimSuffix(r[2], "…")
		if !regexp.MustCompile(`\.` + level + `\("` + regexp.QuoteMeta(msg)).MatchString(src.String()) {
			t.Errorf("docs/cli.md lists the log line %s %q, which the server does not log at that level", r[1], r[2])
		}
	}
}

// TestDocMigrateNamesEveryTable: docs/cli.md's "What is copied" names
// every table cairn migrate --to copies, and "What is not copied" every
// one it leaves (the list of ten went stale as tables were added).
func TestDocMigrateNamesEveryTable(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	paragraph := func(head string) string {
		_, rest, ok := strings.Cut(string(src), "\n"+head)
		if !ok {
			t.Fatalf("docs/cli.md has no paragraph %q", head)
		}
		p, _, _ := strings.Cut(rest, "\n\n")
		return p
	}
	copied, kept := paragraph("**What is copied**"), paragraph("**What is not copied**")
	for _, d := range transfer.Plan() {
		in := copied
		if !d.Copy {
			in = kept
		}
		if !strings.Contains(in, "`"+d.Table+"`") {
			t.Errorf("docs/cli.md's %s paragraph does not name `%s`", map[bool]string{true: "What is copied", false: "What is not copied"}[d.Copy], d.Table)
		}
	}
}
