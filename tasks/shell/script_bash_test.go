package shell

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// shells are the shells a script may meet as /bin/sh: dash here, bash on
// Fedora, RHEL, Arch and macOS.
func shells(t *testing.T) []string {
	sh := []string{"/bin/sh"}
	if bash, err := exec.LookPath("bash"); err == nil {
		sh = append(sh, bash)
	} else {
		t.Log("no bash: the bash half is skipped")
	}
	return sh
}

// runCompiled runs a compiled script under shell with its variables.
func runCompiled(t *testing.T, shell, script string, vars map[string]string) (string, error) {
	t.Helper()
	cmd := exec.Command(shell, "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if _, serr := os.Stat(filepath.Join(cmd.Dir, "PWNED")); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("%s ran a command of a value: PWNED exists (%v)\n%s", shell, serr, script)
	}
	return string(out), err
}

// Each attack of the tester, with the rewrite the lexer made of it before
// (the reference expanded as "${CAIRN_REF_1}" or ${CAIRN_REF_1}): under
// bash (or sh, for here-documents and eval-like commands) the value runs a
// command. Each is now refused.
func TestScriptAttacksRanCommandsAndAreRefused(t *testing.T) {
	for _, c := range []struct {
		name, script, old, value string
		bashOnly                 bool
	}{
		{"python heredoc", "python3 <<EOF\nprint(\"hello \x00\")\nEOF", "python3 <<EOF\nprint(\"hello ${CAIRN_REF_1}\")\nEOF", `");import os;os.system("touch PWNED");print("`, false},
		{"sh heredoc", "sh <<EOF\necho \x00\nEOF", "sh <<EOF\necho ${CAIRN_REF_1}\nEOF", "x; touch PWNED", false},
		{"trap", `trap "echo bye ` + "\x00" + `" EXIT`, `trap "echo bye ${CAIRN_REF_1}" EXIT`, "b; touch PWNED", false},
		{"eval", "eval \"echo \x00\"", `eval "echo ${CAIRN_REF_1}"`, "b; touch PWNED", false},
		{"sh -c", "sh -c \"echo \x00\"", `sh -c "echo ${CAIRN_REF_1}"`, "b; touch PWNED", false},
		{"export name", "export \"\x00\"", `export "${CAIRN_REF_1}"; [ "$PATH" != /nonexistent ] || : > PWNED`, "PATH=/nonexistent", false},
		{"double brackets", "[[ \x00 -gt 0 ]]", `[[ "${CAIRN_REF_1}" -gt 0 ]]`, "a[$(touch PWNED)]", true},
		{"let", "let \"x = \x00\"", `let "x = ${CAIRN_REF_1}"`, "a[$(touch PWNED)]", true},
		{"printf -v", "printf -v \x00 %s y", `printf -v "${CAIRN_REF_1}" %s y`, "a[$(touch PWNED)]", true},
		{"test -v", "test -v \x00", `test -v "${CAIRN_REF_1}"`, "a[$(touch PWNED)]", true},
		{"bracket -v", "[ -v \x00 ]", `[ -v "${CAIRN_REF_1}" ]`, "a[$(touch PWNED)]", true},
		{"declare -i", "declare -i n=\x00", `declare -i n="${CAIRN_REF_1}"`, "a[$(touch PWNED)]", true},
		{"local -i", "f() { local -i n=\x00; }; f", `f() { local -i n="${CAIRN_REF_1}"; }; f`, "a[$(touch PWNED)]", true},
		{"declare -a", "declare -a a=\x00", `declare -a a="${CAIRN_REF_1}"`, "($(touch PWNED))", true},
		{"printf -vNAME", "printf -v\x00 %s y", `printf -v"${CAIRN_REF_1}" %s y`, "a[$(touch PWNED)]", true},
		{"PS4", "PS4=\x00; set -x; true", `PS4="${CAIRN_REF_1}"; set -x; true`, "$(touch PWNED)", true},
		{"read", "read \x00 <<< v", `read "${CAIRN_REF_1}" <<< v`, "a[$(touch PWNED)]", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := refContexts(c.script); err == nil {
				t.Errorf("%q is accepted", c.script)
			}
			sh := "/bin/sh"
			if c.bashOnly {
				bash, err := exec.LookPath("bash")
				if err != nil {
					t.Skip("no bash to show the attack")
				}
				sh = bash
			}
			if strings.HasPrefix(c.script, "python3") {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("no python3 to show the attack")
				}
			}
			dir := t.TempDir()
			cmd := exec.Command(sh, "-c", c.old)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CAIRN_REF_1=" + c.value}
			out, _ := cmd.CombinedOutput()
			if _, err := os.Stat(filepath.Join(dir, "PWNED")); err != nil {
				t.Errorf("the old rewrite under %s did not run the attack (%v): %s", sh, err, out)
			}
		})
	}
}

// The references the lexer accepts stay data under bash as under sh: a
// value made to run a command in each of bash's evaluating places prints
// as it is and creates nothing.
func TestAcceptedScriptReferencesAreDataUnderBash(t *testing.T) {
	values := []string{"a[$(touch PWNED)]", "($(touch PWNED))", "x; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "PATH=/nonexistent", "-v"}
	for _, sh := range shells(t) {
		for _, v := range values {
			for _, src := range []string{
				"printf '<%s>\\n' \x00",
				"printf '<%s>\\n' \"\x00\"",
				"X=\x00; printf '<%s>\\n' \"$X\"",
				"export X=\x00; printf '<%s>\\n' \"$X\"",
				"f() { local X=\"\x00\"; printf '<%s>\\n' \"$X\"; }; f",
				"readonly X=\x00; printf '<%s>\\n' \"$X\"",
				"[ \"\x00\" = \"\x00\" ] && printf '<%s>\\n' same",
				"test -n \x00 && printf '<%s>\\n' nonempty",
				"case \x00 in *) printf '<%s>\\n' case;; esac",
				"printf '<%s>\\n' \"$(printf %s \x00)\"",
				"sh -c 'printf \"<%s>\\n\" \"$1\"' sh \x00",
				"printf '<%s>\\n' \"${UNSET:-\x00}\"",
				"echo trap; printf '<%s>\\n' \x00",
				"2>&1 printf '<%s>\\n' \x00 >&2",
				"for a in \x00; do printf '<%s>\\n' \"$a\"; done",
				"if [ -n \"\x00\" ]; then printf '<%s>\\n' \"\x00\"; fi",
				"printf '%s' \x00 > f; printf '<%s>\\n' \"$(cat f)\"",
			} {
				st := cairn.ScriptText{Text: strings.Split(src, "\x00"), Refs: nil}
				for range len(st.Text) - 1 {
					st.Values = append(st.Values, v)
					st.Refs = append(st.Refs, "params.v")
				}
				script, vars, err := compile(st)
				if err != nil {
					t.Errorf("%q refused: %v", src, err)
					continue
				}
				out, err := runCompiled(t, sh, script, vars)
				if err != nil {
					t.Errorf("%s: %q with %q: %v\n%s", sh, src, v, err, out)
					continue
				}
				want := "<" + v + ">\n"
				switch {
				case strings.Contains(src, "same"):
					want = "<same>\n"
				case strings.Contains(src, "nonempty"):
					want = "<nonempty>\n"
				case strings.Contains(src, "case"):
					want = "<case>\n"
				case strings.HasPrefix(src, "echo trap"):
					want = "trap\n" + want
				}
				if out != want {
					t.Errorf("%s: %q with %q printed %q, want %q", sh, src, v, out, want)
				}
			}
		}
	}
}
