package shell_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/cairnml/cairn/workflows"
)

// scope is a run's params, for resolving a workflow's references.
type scope map[string]any

func (s scope) Param(name string) (any, bool)               { v, ok := s[name]; return v, ok }
func (scope) Output(string, string) (json.RawMessage, bool) { return nil, false }
func (scope) Meta(string) (string, bool)                    { return "", false }

// scriptWorkflow parses a workflow whose task t runs script (indented as
// a literal block) with string params named in params.
func scriptWorkflow(t *testing.T, script string, params ...string) (*workflows.Workflow, error) {
	t.Helper()
	reg, err := tasks.NewRegistry(shell.New())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("name: refs\nparams:\n")
	for _, p := range params {
		b.WriteString("  " + p + ": {type: string, default: \"\"}\n")
	}
	b.WriteString("tasks:\n  - id: t\n    type: shell\n    with:\n      script: |\n")
	for _, line := range strings.Split(script, "\n") {
		b.WriteString("        " + line + "\n")
	}
	return workflows.Parse("refs.yaml", []byte(b.String()), workflows.Options{Types: reg})
}

// runScript parses, resolves and runs script with the run's params vals,
// the way a run does, and returns the attempt's log.
func runScript(t *testing.T, script string, vals scope) (string, tasks.Request, error) {
	t.Helper()
	var names []string
	for k := range vals {
		names = append(names, k)
	}
	wf, err := scriptWorkflow(t, script, names...)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	raw, err := wf.Task("t").ResolveWith(vals)
	if err != nil {
		t.Fatal(err)
	}
	env, buf := tasktest.Env(t)
	req := tasktest.Request(t, raw)
	_, err = shell.New().Run(context.Background(), req, env)
	return buf.String(), req, err
}

// The attack: a param that closes the double quotes it sits in
// and runs a command. The value must print as it is, and nothing run.
func TestScriptReferenceCannotRunCommands(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "PWNED")
	x := `a"; touch ` + pwned + `; echo "b`
	log, _, err := runScript(t, `echo "value=[${{ params.x }}]"`, scope{"x": x})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	if want := "value=[" + x + "]\n"; log != want {
		t.Errorf("log = %q, want %q", log, want)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the param ran a command: %s exists (%v)", pwned, err)
	}
}

// A hostile value in every quoting context a shell script uses prints as
// it is, and runs nothing. (Values are text: params and outputs travel as
// JSON, so bytes that are not UTF-8 do not reach a task as they were.)
func TestScriptReferencesInEveryContextAreData(t *testing.T) {
	dir := t.TempDir()
	v := "a  b\t*\n$(touch " + dir + "/P1) `touch " + dir + "/P2` ${HOME} $HOME \"dq\" 'sq' \\ \\\" ; touch " + dir + "/P3 #\n\x01\x1b[31m\x7f é ☃ end\n"
	script := strings.Join([]string{
		`p() { printf '<%s>\n' "$@"; }`,
		`p ${{ params.v }}`,                         // unquoted: one word, no globbing
		`p x${{ params.v }}y`,                       // inside a word
		`p "${{ params.v }}"`,                       // double quotes
		`p "[${{ params.v }}]"`,                     // inside double-quoted text
		`X=${{ params.v }}; p "$X"`,                 // an assignment
		`p "$(printf %s ${{ params.v }})"`,          // $(...) inside "..."
		`p "$(printf %s "${{ params.v }}")"`,        // "..." in $(...) in "..."
		"p \"`printf %s ${{ params.v }}`\"",         // `...` inside "..."
		"p \"`printf %s \\\"${{ params.v }}\\\"`\"", // \"...\" in `...` inside "..."
		"Y=`printf %s ${{ params.v }}`; p \"$Y\"",   // `...`
		`p "${UNSET:-${{ params.v }}}"`,             // ${:-word} inside "..."
		`p ${UNSET:-${{ params.v }}}`,               // ${:-word} unquoted
		`case ${{ params.v }} in ${{ params.v }}) p match;; *) p nomatch;; esac`,
		`# a comment: ${{ params.v }} '`,
		`cat <<EOF`,
		`<no reference: $HOME is live>`,
		`EOF`,
		`export V=${{ params.v }} W="${{ params.v }}"; p "$V" "$W"`, // an assignment's value
		`local_x() { local Y=${{ params.v }}; p "$Y"; }; local_x`,
		`[ "${{ params.v }}" = "${{ params.v }}" ] && p same`,
		`sh -c 'p() { printf "<%s>\n" "$@"; }; p "$1"' sh "${{ params.v }}"`, // an argument after the command string
		`echo sh -c; p "${{ params.v }}"`,                                    // a new simple command
		`p 'single' "${{ params.e }}" after`,
		`set -u; p "${{ params.e }}"`,
	}, "\n")
	log, req, err := runScript(t, script, scope{"v": v, "e": ""})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	// $(...) and `...` drop trailing newlines, as they do for any output.
	trimmed := strings.TrimRight(v, "\n")
	want := strings.Join([]string{
		"<" + v + ">",
		"<x" + v + "y>",
		"<" + v + ">",
		"<[" + v + "]>",
		"<" + v + ">",
		"<" + trimmed + ">",
		"<" + trimmed + ">",
		"<" + trimmed + ">",
		"<" + trimmed + ">",
		"<" + trimmed + ">",
		"<" + v + ">",
		"<" + v + ">",
		"<match>",
		"<no reference: " + os.Getenv("HOME") + " is live>",
		"<" + v + ">", "<" + v + ">",
		"<" + v + ">",
		"<same>",
		"<" + v + ">",
		"sh -c", "<" + v + ">",
		"<single>", "<>", "<after>",
		"<>",
	}, "\n") + "\n"
	if log != want {
		t.Errorf("log:\n%q\nwant:\n%q", log, want)
	}
	for _, f := range []string{"P1", "P2", "P3"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the value ran a command: %s exists", f)
		}
	}
	if strings.Contains(string(req.Params), "printf %s a  b") {
		t.Errorf("the value was spliced into the script: %s", req.Params)
	}
}

// References where the shell would not expand them, or would evaluate
// them, are refused at validation, at the reference's line and column.
func TestScriptReferenceRefusedWhereNotData(t *testing.T) {
	for _, c := range []struct {
		name, script, want string
		col                int
	}{
		{"single quotes", `echo 'x ${{ params.x }}'`, "single quotes", 17},
		{"awk program", `awk 'BEGIN { print "${{ params.x }}" }'`, "single quotes", 29},
		{"ansi quotes", `echo $'${{ params.x }}'`, "single quotes", 16},
		{"arithmetic", `echo $(( ${{ params.x }} + 1 ))`, "arithmetic", 18},
		{"arithmetic command", `(( ${{ params.x }} ))`, "arithmetic", 12},
		{"bash substring", `echo ${X:${{ params.x }}}`, "${...}", 18},
		{"backslash", `echo \${{ params.x }}`, "backslash", 15},
		{"quoted heredoc", "cat <<'EOF'\n${{ params.x }}\nEOF", "quoted here-document", 9},
		{"heredoc word", `cat <<${{ params.x }}`, "delimiter", 15},
		{"only a reference", `${{ params.x }}`, "nothing but a reference", 9},
		// The body of a here-document is text for another program.
		{"heredoc body", "cat <<EOF\n<${{ params.x }}>\nEOF", "here-document's body", 10},
		{"heredoc body command substitution", "cat <<-EOF\n\t<$(printf %s ${{ params.x }})>\n\tEOF", "here-document's body", 23},
		{"heredoc python", "python3 <<EOF\nprint(\"hello ${{ params.x }}\")\nEOF", "here-document's body", 22},
		{"heredoc sh", "sh <<EOF\necho ${{ params.x }}\nEOF", "here-document's body", 14},
		{"heredoc backquotes", "cat <<EOF\n`echo ${{ params.x }}`\nEOF", "here-document's body", 15},
		// Commands that run their arguments as shell code.
		{"eval", `eval "echo ${{ params.x }}"`, "as shell code", 20},
		{"trap", `trap "echo bye ${{ params.x }}" EXIT`, "as shell code", 24},
		{"trap unquoted", `if true; then trap ${{ params.x }} EXIT; fi`, "as shell code", 28},
		{"command eval", `command eval ${{ params.x }}`, "as shell code", 22},
		{"alias", `alias ll=${{ params.x }}`, "as shell code", 18},
		{"sh -c", `sh -c "echo ${{ params.x }}"`, "as shell code", 21},
		{"bash -ec path", `/bin/bash -ec "echo $(echo ${{ params.x }})"`, "as shell code", 36},
		{"timeout sh -c", `timeout 5 dash -c ${{ params.x }}`, "as shell code", 27},
		{"xargs sh -c", `echo a | xargs sh -c "echo ${{ params.x }}"`, "as shell code", 36},
		{"find -exec sh -c", `find . -exec zsh -c "echo {} ${{ params.x }}" \;`, "as shell code", 38},
		{"sh -c then an option", `sh -c -e "ls ${{ params.x }}" sh`, "as shell code", 22},
		{"su -c", `su nobody -c "ls ${{ params.x }}"`, "as shell code", 26},
		{"ssh", `ssh host ls ${{ params.x }}`, "as shell code", 21},
		{"watch", `watch -n 1 "ls ${{ params.x }}"`, "as shell code", 24},
		{"escaped eval", `\eval "${{ params.x }}"`, "as shell code", 16},
		{"quoted trap", `'trap' "${{ params.x }}" EXIT`, "as shell code", 17},
		{"redirection first", `2>&1 >/dev/null eval ${{ params.x }}`, "as shell code", 30},
		{"command -p eval", `command -p eval ${{ params.x }}`, "as shell code", 25},
		{"quoted -c", `bash "-c" ${{ params.x }}`, "as shell code", 19},
		{"here-string", `python3 <<< "${{ params.x }}"`, "here-string", 22},
		{"function keyword", `function f { eval ${{ params.x }}; }`, "as shell code", 27},
		{"time -p eval", `time -p eval ${{ params.x }}`, "as shell code", 22},
		{"PS4", `PS4=${{ params.x }}; set -x`, "PS4", 13},
		{"export PS4", `export PS4="${{ params.x }}"`, "PS4", 21},
		{"printf -vNAME", `printf -v"${{ params.x }}" %s y`, "arithmetic", 19},
		// A variable's name.
		{"export name quoted", `export "${{ params.x }}"`, "variable's name", 17},
		{"export name prefix", `export X${{ params.x }}=1`, "variable's name", 17},
		{"declare name", `declare ${{ params.x }}=1`, "variable's name", 17},
		{"local name", `f() { local "${{ params.x }}"; }`, "variable's name", 22},
		{"readonly name", `readonly A=1 ${{ params.x }}`, "variable's name", 22},
		{"read name", `read ${{ params.x }} < /dev/null`, "variable's name", 14},
		// bash arithmetic and names.
		{"double brackets", `[[ ${{ params.x }} -gt 0 ]]`, "arithmetic", 12},
		{"double brackets after and", `[[ -n x && "${{ params.x }}" -gt 0 ]]`, "arithmetic", 21},
		{"let", `let "x = ${{ params.x }}"`, "arithmetic", 18},
		{"declare -i", `declare -i n=${{ params.x }}`, "arithmetic", 22},
		{"local -i", `f() { local -ri n="${{ params.x }}"; }`, "arithmetic", 28},
		{"declare -a", `declare -a arr="${{ params.x }}"`, "arithmetic", 25},
		{"printf -v", `printf -v "${{ params.x }}" %s y`, "arithmetic", 20},
		{"test -v", `test -v ${{ params.x }}`, "arithmetic", 17},
		{"bracket -v", `[ -v "${{ params.x }}" ]`, "arithmetic", 15},
		// Found by trying: util-linux script runs -c's string, GNU parallel
		// its arguments, bash an array subscript, wait -p's name, and the
		// file BASH_ENV names (after expanding it).
		{"script -qec", `script -qec "echo hello ${{ params.x }}" /dev/null`, "as shell code", 33},
		{"script --command", `script -q --command "echo ${{ params.x }}" /dev/null`, "as shell code", 35},
		{"script --command=", `script -q --command="echo ${{ params.x }}" /dev/null`, "as shell code", 35},
		{"parallel", `parallel ::: "${{ params.x }}"`, "as shell code", 23},
		{"env -S", `env -S "echo ${{ params.x }}"`, "as shell code", 22},
		{"env -S joined", `env -S"echo ${{ params.x }}"`, "as shell code", 21},
		{"env --split-string=", `env --split-string="echo ${{ params.x }}"`, "as shell code", 34},
		{"sudo env -S", `sudo env -i -S "echo ${{ params.x }}"`, "as shell code", 30},
		{"sg", `sg users "echo ${{ params.x }}"`, "as shell code", 24},
		{"sg -c", `sg users -c "echo ${{ params.x }}"`, "as shell code", 27},
		{"tmux", `tmux new-session -d "echo ${{ params.x }}"`, "as shell code", 35},
		{"screen", `screen -dmS s "${{ params.x }}"`, "as shell code", 24},
		{"flock -c", `flock /tmp/l -c "echo ${{ params.x }}"`, "as shell code", 31},
		{"runuser -c", `runuser -u nobody -c "echo ${{ params.x }}"`, "as shell code", 36},
		{"array subscript", `a[${{ params.x }}]=1`, "subscript", 11},
		{"array subscript append", `x=1 a["${{ params.x }}"]+=1`, "subscript", 16},
		{"wait -p", `sleep 0.1 & wait -n -p "${{ params.x }}"`, "arithmetic", 33},
		{"wait -np", `wait -np ${{ params.x }}`, "arithmetic", 18},
		{"BASH_ENV", `BASH_ENV="${{ params.x }}" bash f`, "BASH_ENV", 19},
		{"ENV", `ENV=${{ params.x }} sh -i`, "ENV", 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := scriptWorkflow(t, c.script, "x")
			var list workflows.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("parse error = %v, want one problem", err)
			}
			e := list[0]
			line := 9 + strings.Count(c.script[:strings.Index(c.script, "${{")], "\n")
			if !strings.Contains(e.Msg, c.want) || e.Hint == "" || e.Line != line || e.Col != c.col {
				t.Errorf("got %s:%d:%d: %s (hint %q), want line %d col %d mentioning %q", e.File, e.Line, e.Col, e.Msg, e.Hint, line, c.col, c.want)
			}
		})
	}
}

// A script that reaches Run with a refused reference (a caller that did
// not validate) fails for good, before anything runs.
func TestScriptReferenceRefusedAtRunTime(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"script": cairn.ScriptText{
		Text: []string{"echo '", "'"}, Values: []string{"x"}, Refs: []string{"params.x"},
	}})
	env, buf := tasktest.Env(t)
	_, err := shell.New().Run(context.Background(), tasktest.Request(t, raw), env)
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "params.x") || !strings.Contains(err.Error(), "single quotes") {
		t.Fatalf("err = %v, want a permanent error naming params.x in single quotes", err)
	}
	if buf.String() != "" {
		t.Errorf("the script ran: %q", buf.String())
	}
}

// The words near those refused stay data: an element's value (not its
// subscript), script's log file, wait's process id, a variable whose name
// only ends in ENV, BASH_ENV as an argument.
func TestScriptReferenceDataNearRefusals(t *testing.T) {
	for _, script := range []string{
		`a[1]="${{ params.x }}"`,
		`a[1]+=${{ params.x }}`,
		`script -q "${{ params.x }}" true`,
		`wait "${{ params.x }}"`,
		`MYENV="${{ params.x }}" env`,
		`echo BASH_ENV=${{ params.x }}`,
		`parallelism="${{ params.x }}"; echo "$parallelism"`,
		`env A="${{ params.x }}" printenv A`,
		`flock /tmp/l echo "${{ params.x }}"`,
	} {
		if _, err := scriptWorkflow(t, script, "x"); err != nil {
			t.Errorf("%s: %v, want it accepted", script, err)
		}
	}
}
