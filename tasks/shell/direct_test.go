//go:build linux

package shell_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestSimpleWords(t *testing.T) {
	for script, want := range map[string][]string{
		"/bin/true":                      {"/bin/true"},
		"  python3 train.py --lr=0.1\n":  {"python3", "train.py", "--lr=0.1"},
		"\n\t./run\t-x  a,b:c+d@e%f^g\n": {"./run", "-x", "a,b:c+d@e%f^g"},
		"sort -u -o out.txt in.txt":      {"sort", "-u", "-o", "out.txt", "in.txt"},
		"A=1 cmd":                        nil, // an assignment
		"cmd $HOME":                      nil,
		"cmd *.txt":                      nil,
		"cmd a?":                         nil,
		"cmd [ab]":                       nil,
		"cmd ~":                          nil,
		"cmd 'a b'":                      nil,
		`cmd "a b"`:                      nil,
		`cmd a\ b`:                       nil,
		"cmd > out":                      nil,
		"cmd < in":                       nil,
		"cmd | cat":                      nil,
		"cmd; other":                     nil,
		"cmd && other":                   nil,
		"cmd &":                          nil,
		"(cmd)":                          nil,
		"cmd # comment":                  nil,
		"cmd a#b":                        nil,
		"cmd\nother":                     nil,
		"cmd `x`":                        nil,
		"cmd {a,b}":                      nil,
		"! cmd":                          nil,
		"cmd\r":                          nil,
		"cmd é":                          nil,
		"":                               nil,
		" \n\t":                          nil,
		"cd /tmp":                        nil, // builtins and reserved words
		"export A":                       nil,
		". ./env.sh":                     nil,
		"exec /bin/true":                 nil,
		"true":                           nil,
		"echo hi":                        nil,
		"test -f x":                      nil,
		"if":                             nil,
		"time cmd":                       nil,
		"source x":                       nil,
		"exit 3":                         nil,
	} {
		got, ok := shell.SimpleWords(script)
		if ok != (want != nil) || !slices.Equal(got, want) {
			t.Errorf("SimpleWords(%q) = %q, %v; want %q", script, got, ok, want)
		}
	}
}

// TestDirectScriptIsLikeSh runs scripts both ways, directly where the
// script allows it and always through /bin/sh, and wants the same log,
// exit code and error; and that the simple ones did run directly (their
// parent is this process, not a shell).
func TestDirectScriptIsLikeSh(t *testing.T) {
	if !shell.DirectSh() {
		t.Skip("/bin/sh is not dash here: every script runs through it")
	}
	wd := t.TempDir()
	files := map[string]struct {
		mode os.FileMode
		text string
	}{
		"args":         {0o755, "#!/bin/sh\nprintf '[%s]' \"$0\" \"$@\"; echo\n"},
		"exit3":        {0o755, "#!/bin/sh\necho out; echo err >&2; exit 3\n"},
		"killself":     {0o755, "#!/bin/sh\nkill -9 $$\n"},
		"killsig":      {0o755, "#!/bin/sh\necho before\nkill -$1 $$\n"},
		"coredump":     {0o755, "#!/bin/sh\nulimit -c unlimited\nkill -SEGV $$\n"},
		"noshebang":    {0o755, "echo run as a script by sh\n"},
		"notexec":      {0o644, "#!/bin/sh\necho never\n"},
		"bin/tool":     {0o755, "#!/bin/sh\necho tool from bin\n"},
		"bin/plain":    {0o644, "#!/bin/sh\necho never\n"},
		"bin2/plain":   {0o755, "#!/bin/sh\necho plain from bin2\n"},
		"bin/dir/keep": {0o644, ""},
		"bin2/dir":     {0o755, "#!/bin/sh\necho dir from bin2\n"},
		"data.txt":     {0o644, "b\na\nb\n"},
	}
	for name, f := range files {
		p := filepath.Join(wd, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "wd-link")
	if err := os.Symlink(wd, link); err != nil {
		t.Fatal(err)
	}
	relPath := map[string]any{"PATH": "bin:bin2:/usr/bin:/bin"}
	for _, c := range []struct {
		script  string
		env     map[string]any
		workdir string
		direct  bool // tried without a shell first (a start that fails falls back to /bin/sh)
		sorted  bool // compare the log's lines as a set (env's order differs)
		logHas  string
	}{
		{script: "/bin/true", direct: true},
		{script: "/bin/false", direct: true},
		{script: "true"},
		{script: "false"},
		{script: "  ./args  a  b,c\t--x=1 %d ^e @f\n", direct: true},
		{script: "./args $HOME *"},
		{script: "./exit3 a", direct: true},
		{script: "./killself", direct: true, logHas: "Killed\n"},
		{script: "./killsig TERM", direct: true, logHas: "before\nTerminated\n"},
		{script: "./killsig INT", direct: true},
		{script: "./killsig PIPE", direct: true},
		{script: "./killsig SEGV", direct: true},
		{script: "./killsig USR1", direct: true},
		{script: "./killsig HUP", direct: true},
		{script: "./killsig 35", direct: true, logHas: "Real-time signal 1\n"},
		{script: "./killsig 64", direct: true},
		{script: "./coredump", direct: true, logHas: "Segmentation fault (core dumped)\n"},
		{script: "./noshebang", direct: true, logHas: "run as a script by sh"},
		{script: "./notexec", direct: true, logHas: "Permission denied"},
		{script: "./nosuchfile", direct: true},
		{script: "cairn-no-such-command x", logHas: "not found"},
		{script: "/etc", direct: true},
		{script: "sort data.txt", direct: true},
		{script: "sort -u data.txt", direct: true},
		{script: "ls /nonexistent-dir", direct: true},
		{script: "env", direct: true, sorted: true},
		{script: "env", workdir: link, direct: true, sorted: true},
		{script: "/bin/pwd", workdir: link, direct: true},
		{script: "/bin/pwd -L", workdir: link, direct: true},
		{script: "env", env: map[string]any{"IFS": ":", "PPID": "1", "OPTIND": "5"}, sorted: true},
		{script: "env", env: map[string]any{"A-B": "dropped by dash"}, sorted: true},
		{script: "env", env: map[string]any{"PWD": "/"}, sorted: true},
		{script: "env", env: map[string]any{"X": "1 2", "Y": "line\nbreak"}, direct: true, sorted: true},
		{script: "tool", env: relPath, direct: true},
		{script: "plain", env: relPath, logHas: "plain from bin2"},
		{script: "dir", env: relPath, direct: true, logHas: "dir from bin2"},
		{script: "nosuch", env: relPath},
		{script: "sh -c ./args", direct: true},
		{script: "A=1 ./args"},
		{script: "cd bin", direct: false},
	} {
		t.Run(strings.TrimSpace(c.script), func(t *testing.T) {
			params := map[string]any{"script": c.script}
			if c.env != nil {
				params["env"] = c.env
			}
			wdir := wd
			if c.workdir != "" {
				params["workdir"] = c.workdir
				wdir = c.workdir
			}
			raw, _ := json.Marshal(params)
			type outcome struct {
				log, code, err string
				retryable      bool
			}
			attempt := func(task *shell.Task) outcome {
				env, log := tasktest.Env(t)
				req := tasktest.Request(t, raw)
				req.WorkDir = wdir
				res, err := task.Run(context.Background(), req, env)
				o := outcome{log: log.String(), code: string(res.Outputs["exit_code"])}
				if err != nil {
					o.err, o.retryable = err.Error(), cairn.IsRetryable(err)
				}
				if c.sorted {
					lines := strings.Split(o.log, "\n")
					slices.Sort(lines)
					o.log = strings.Join(lines, "\n")
				}
				return o
			}
			viaSh := attempt(shell.NewViaSh())
			got := attempt(shell.New())
			if got != viaSh {
				t.Errorf("run directly:\n%+v\nthrough /bin/sh:\n%+v", got, viaSh)
			}
			if !strings.Contains(got.log, c.logHas) {
				t.Errorf("log %q lacks %q", got.log, c.logHas)
			}
			if direct := shell.Direct(c.script, wdir, c.env); direct != c.direct {
				t.Errorf("tried directly: %v, want %v", direct, c.direct)
			}
		})
	}
}

// The commands of simple scripts run directly: their parent is the
// worker. A script of many commands, or with shell syntax, still has its
// shell.
func TestDirectScriptParent(t *testing.T) {
	if !shell.DirectSh() {
		t.Skip("/bin/sh is not dash here: every script runs through it")
	}
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "ppid"), []byte("#!/bin/sh\necho \"parent $PPID\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self := fmt.Sprintf("parent %d\n", os.Getpid())
	for script, direct := range map[string]bool{
		"./ppid":               true,
		"\t./ppid a b \n":      true,
		"./ppid\n./ppid":       false,
		"./ppid > /dev/stdout": false,
		`./ppid "a"`:           false,
	} {
		raw, _ := json.Marshal(map[string]any{"script": script})
		env, log := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		req.WorkDir = wd
		if _, err := shell.New().Run(context.Background(), req, env); err != nil {
			t.Fatalf("%q: %v", script, err)
		}
		if got := strings.Contains(log.String(), self); got != direct {
			t.Errorf("%q ran directly: %v, want %v (log %q)", script, got, direct, log.String())
		}
	}
}
