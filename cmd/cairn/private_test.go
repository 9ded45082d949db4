package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nobody runs cairn as an unprivileged user (uid 65534), since root
// ignores file modes: a copy of the binary and a home that user can reach.
type nobody struct {
	t    *testing.T
	bin  string
	home string
}

func newNobody(t *testing.T) *nobody {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run cairn as another user (setpriv)")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv")
	}
	dir, err := os.MkdirTemp("", "cairn-nobody-") // under /tmp: reachable by others
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("chmod", "-R", "u+w", dir).Run()
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A hard link, not a copy: a file just written may still be open for
	// writing in a child that a parallel test forked (ETXTBSY on exec).
	bin := filepath.Join(dir, "cairn")
	if err := os.Link(cairnBin, bin); err != nil {
		t.Fatalf("link the binary where uid 65534 can run it: %v", err)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return &nobody{t: t, bin: bin, home: home}
}

// cairn runs the binary as uid 65534 with extra environment variables.
func (n *nobody) cairn(env []string, args ...string) result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", n.bin, "--home", n.home}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + n.home, "CAIRN_HOME=" + n.home}, env...)
	cmd.Dir = n.home
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			n.t.Fatalf("run cairn as nobody: %v", err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (n *nobody) must(want int, env []string, args ...string) result {
	n.t.Helper()
	r := n.cairn(env, args...)
	if r.code != want {
		n.t.Fatalf("cairn %s as nobody: want exit %d, got\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

// writeWorkflow writes a workflow file the unprivileged user can read.
func (n *nobody) writeWorkflow(name, text string) string {
	n.t.Helper()
	p := filepath.Join(filepath.Dir(n.home), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		n.t.Fatal(err)
	}
	return p
}

// tree lists every path under root with its mode.
func tree(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const privateWorkflow = `name: private
params:
  token: {type: string, default: s3cr3t-default}
tasks:
  - id: write
    type: shell
    with:
      env: {TOKEN: "${{ params.token }}"}
      script: |
        echo "writing with $TOKEN"
        echo "model bytes" > model.bin
      outputs: {model: model.bin}
`

// Everything cairn writes in its home is private to the user, whatever the
// umask: the home 0700, the database and its WAL and shared-memory files
// 0600, artifacts 0400 in 0700 folders, logs 0600.
func TestHomeIsPrivate(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "fresh-home")
	wf := filepath.Join(t.TempDir(), "private.yaml")
	if err := os.WriteFile(wf, []byte(privateWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// A umask of 0 would make every file created with the usual modes
	// readable and writable by all.
	cmd := exec.CommandContext(ctx, "sh", "-c", `umask 000 && exec "$@"`, "sh", cairnBin, "--home", home, "run", wf)
	cmd.Env = append(os.Environ(), "CAIRN_HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	modes := tree(t, home)
	var blobs, logs int
	for rel, m := range modes {
		if m.Perm()&0o077 != 0 {
			t.Errorf("%s is open to other users: %v", rel, m)
		}
		switch {
		case rel == "." && m.Perm() != 0o700:
			t.Errorf("home: %v, want 0700", m.Perm())
		case m.IsDir() && m.Perm() != 0o700:
			t.Errorf("folder %s: %v, want 0700", rel, m.Perm())
		case strings.HasPrefix(rel, "cairn.db") && m.Perm() != 0o600:
			t.Errorf("%s: %v, want 0600", rel, m.Perm())
		case strings.HasPrefix(rel, "artifacts/sha256/") && !m.IsDir():
			blobs++
			if m.Perm() != 0o400 {
				t.Errorf("artifact %s: %v, want 0400", rel, m.Perm())
			}
		case strings.HasPrefix(rel, "logs/") && !m.IsDir():
			logs++
			if m.Perm() != 0o600 {
				t.Errorf("log %s: %v, want 0600", rel, m.Perm())
			}
		}
	}
	if blobs == 0 || logs == 0 || modes["cairn.db"] == 0 {
		t.Errorf("the run left %d artifacts, %d logs and no database? %v", blobs, logs, modes)
	}

	// A home an older cairn left open (0755) is closed by the next run.
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = exec.CommandContext(ctx, cairnBin, "--home", home, "run", wf)
	cmd.Env = append(os.Environ(), "CAIRN_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o700 || !strings.Contains(string(out), "made home") {
		t.Errorf("an open home with a database: mode %v after a run, want 0700 and a note:\n%s", fi.Mode().Perm(), out)
	}
}

// The read-only commands never create a database, nor a home.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "nonexistent", "x.db")
	home := filepath.Join(dir, "no-home")
	e := &env{t: t, home: home}
	// No database in the home: no runs. (A database --db names that is
	// not there is an error, below: a mistyped path is not an empty list.)
	for _, args := range [][]string{{"runs", "--json"}, {"pools"}, {"--db", db, "pools", "--json"}, {"workers"}} {
		if r := e.must(0, args...); strings.Contains(r.stdout, "id") {
			t.Errorf("%v listed runs:\n%s", args, r)
		}
	}
	for _, args := range [][]string{
		{"--db", db, "runs"},
		{"--db", db, "show", "abcd"},
		{"--db", db, "logs", "abcd", "t"},
		{"--db", db, "artifact", "abcd", "t"},
		{"show", "abcd"},
	} {
		r := e.must(1, args...)
		if !strings.Contains(r.stderr, "no database at") {
			t.Errorf("%v: want 'no database at' in\n%s", args, r.stderr)
		}
	}
	for _, p := range []string{filepath.Dir(db), home} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a read-only command created %s", p)
		}
	}
}

// A 0-byte or foreign database file is refused, by every command, and left
// as it was.
func TestForeignDatabaseRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := filepath.Join(e.home, "cairn.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"runs"}, {"migrate"}, {"run", testdata(t, "alpha.yaml")}} {
		r := e.must(1, args...)
		if !strings.Contains(r.stderr, "not a Cairn database") || !strings.Contains(r.stderr, "empty (0 bytes)") {
			t.Errorf("%v on a 0-byte database:\n%s", args, r.stderr)
		}
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the 0-byte file was changed: %v, %v", fi, err)
	}
}

// An empty or foreign database in a home open to others is refused before
// anything is changed: the home keeps its mode, nothing says it was made
// private, and the error names the file once.
func TestForeignDatabaseRefusedBeforeModesChange(t *testing.T) {
	t.Parallel()
	for name, content := range map[string][]byte{"empty": nil, "foreign": []byte("not a database, but someone's file\n")} {
		e := newEnv(t)
		if err := os.Chmod(e.home, 0o755); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(e.home, "cairn.db")
		if err := os.WriteFile(db, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(db, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"run", testdata(t, "alpha.yaml")}, {"migrate"}} {
			r := e.must(1, args...)
			if !strings.Contains(r.stderr, "not a Cairn database") || strings.Contains(r.stderr, "private") {
				t.Errorf("%s: %v:\n%s", name, args, r.stderr)
			}
			if n := strings.Count(r.stderr, db); n != 1 {
				t.Errorf("%s: %v names %s %d times, want once:\n%s", name, args, db, n, r.stderr)
			}
		}
		for p, want := range map[string]os.FileMode{e.home: 0o755, db: 0o644} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %s: %v %v, want mode %#o (left as it was)", name, p, fi.Mode(), err, want)
			}
		}
		if b, _ := os.ReadFile(db); string(b) != string(content) {
			t.Errorf("%s: the file was changed", name)
		}
	}
}

// -o makes a new file with the mode the umask gives, keeps the mode of a
// file it replaces, and refuses a folder with a message.
func TestArtifactOutputFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "private.yaml")
	if err := os.WriteFile(wf, []byte(privateWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	id := runIDOf(t, e.must(0, "run", wf).stderr)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	for _, c := range []struct {
		umask string
		want  fs.FileMode
	}{{"022", 0o644}, {"077", 0o600}, {"002", 0o664}} {
		file := filepath.Join(out, "model-"+c.umask)
		cmd := exec.CommandContext(ctx, "sh", "-c", `umask `+c.umask+` && exec "$@"`, "sh", cairnBin, "--home", e.home, "artifact", id, "write", "model", "-o", file)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("artifact -o with umask %s: %v\n%s", c.umask, err, b)
		}
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.want {
			t.Errorf("umask %s: -o made %v, want %v", c.umask, fi.Mode().Perm(), c.want)
		}
	}
	kept := filepath.Join(out, "kept")
	if err := os.WriteFile(kept, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	e.must(0, "artifact", id, "write", "model", "-o", kept)
	if fi, _ := os.Stat(kept); fi.Mode().Perm() != 0o640 {
		t.Errorf("replaced file: mode %v, want its 0640 kept", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(kept); string(b) != "model bytes\n" {
		t.Errorf("replaced file holds %q", b)
	}
	before := tree(t, out)
	r := e.must(1, "artifact", id, "write", "model", "-o", out)
	if !strings.Contains(r.stderr, "is a folder: give a file name") {
		t.Errorf("-o FOLDER:\n%s", r.stderr)
	}
	if after := tree(t, out); len(after) != len(before) {
		t.Errorf("-o FOLDER left files: %v", after)
	}
}

// runs, show, logs and artifact work on a home the user cannot write to
// (chmod -R a-w, run as an unprivileged user: root ignores modes), whether
// the last writer closed cleanly or was killed and left its WAL behind,
// and they change nothing in it.
func TestReadOnlyHome(t *testing.T) {
	t.Parallel()
	for _, killed := range []bool{false, true} {
		n := newNobody(t)
		wf := n.writeWorkflow("private.yaml", privateWorkflow)
		id := runIDOf(t, n.must(0, nil, "run", wf).stderr)
		if killed {
			// A second run killed mid-way leaves cairn.db-wal and -shm.
			pidfile := filepath.Join(filepath.Dir(n.home), "pid")
			sleeper := n.writeWorkflow("sleeper.yaml", strings.ReplaceAll(readFile(t, testdata(t, "sleeper.yaml")), "sleep 30", "sleep 300"))
			cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", n.bin, "--home", n.home, "run", sleeper, "-p", "pidfile="+pidfile)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			if err := os.Chmod(filepath.Dir(n.home), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, cmdTimeout, "the sleeper task", func() bool { _, err := os.Stat(pidfile); return err == nil })
			killGroupOnCleanup(t, readPid(t, pidfile))
			cmd.Process.Kill()
			cmd.Wait()
			if _, err := os.Stat(filepath.Join(n.home, "cairn.db-wal")); err != nil {
				t.Fatalf("killed run left no WAL: %v", err)
			}
		}
		if out, err := exec.Command("chmod", "-R", "a-w", n.home).CombinedOutput(); err != nil {
			t.Fatalf("chmod: %v\n%s", err, out)
		}
		before := tree(t, n.home)
		runs := n.must(0, nil, "runs").stdout
		if !strings.Contains(runs, id) {
			t.Errorf("killed=%v: runs lacks %s:\n%s", killed, id, runs)
		}
		if show := n.must(0, nil, "show", id).stdout; !strings.Contains(show, "write") {
			t.Errorf("killed=%v: show:\n%s", killed, show)
		}
		n.must(0, nil, "show", id, "--json")
		if logs := n.must(0, nil, "logs", id, "write").stdout; !strings.Contains(logs, "writing with") {
			t.Errorf("killed=%v: logs:\n%s", killed, logs)
		}
		if art := n.must(0, nil, "artifact", id, "write", "model").stdout; art != "model bytes\n" {
			t.Errorf("killed=%v: artifact: %q", killed, art)
		}
		// A command that writes says why it cannot, once, and what to do.
		if r := n.cairn(nil, "run", wf); r.code == 0 {
			t.Errorf("killed=%v: run on a read-only home succeeded", killed)
		} else if db := filepath.Join(n.home, "cairn.db"); !strings.Contains(r.stderr, "the database "+db+" is read-only") ||
			!strings.Contains(r.stderr, "--home") || strings.Count(r.stderr, db) != 1 || strings.Contains(r.stderr, "readonly database") {
			t.Errorf("killed=%v: run on a read-only home should say the database is read-only, naming it once, and what to do:\n%s", killed, r.stderr)
		}
		after := tree(t, n.home)
		for p, m := range after {
			if before[p] != m {
				t.Errorf("killed=%v: %s changed or appeared: %v → %v", killed, p, before[p], m)
			}
		}
		if len(after) != len(before) {
			t.Errorf("killed=%v: the home went from %d to %d entries", killed, len(before), len(after))
		}
	}
}

// A home folder the user cannot write to, its database writable, is
// read-only too (SQLite must create the WAL beside the file): run says so,
// naming the database once, and changes nothing.
func TestReadOnlyHomeFolder(t *testing.T) {
	t.Parallel()
	n := newNobody(t)
	wf := n.writeWorkflow("private.yaml", privateWorkflow)
	n.must(0, nil, "run", wf)
	if err := os.Chmod(n.home, 0o500); err != nil {
		t.Fatal(err)
	}
	before := tree(t, n.home)
	db := filepath.Join(n.home, "cairn.db")
	r := n.cairn(nil, "run", wf)
	if r.code == 0 || !strings.Contains(r.stderr, "the database "+db+" is read-only: its folder is not writable") ||
		strings.Count(r.stderr, db) != 1 || strings.Contains(r.stderr, "readonly database") {
		t.Errorf("run in a read-only home folder:\n%s", r)
	}
	n.must(0, nil, "runs")
	after := tree(t, n.home)
	for p, m := range after {
		if before[p] != m {
			t.Errorf("%s changed or appeared: %v → %v", p, before[p], m)
		}
	}
}

// A task runs as the same user as cairn, yet it cannot read cairn's own
// environment (which may hold secrets) through /proc/$PPID/environ: cairn
// is not dumpable.
func TestTaskCannotReadCairnEnviron(t *testing.T) {
	t.Parallel()
	n := newNobody(t)
	wf := n.writeWorkflow("peek.yaml", `name: peek
tasks:
  - id: peek
    type: shell
    with:
      script: |
        echo "parent=$(cat /proc/$PPID/comm)"
        if tr '\0' '\n' < /proc/$PPID/environ; then echo READ-ENVIRON; else echo "environ refused"; fi
`)
	n.must(0, []string{"CAIRN_TEST_SECRET=hunter2-in-env"}, "run", wf)
	r := n.must(0, nil, "runs", "--json")
	m := regexp.MustCompile(`"id":\s*"([0-9a-z]{16})"`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run id in runs --json:\n%s", r.stdout)
	}
	id := m[1]
	logs := n.must(0, nil, "logs", id, "peek").stdout
	if !strings.Contains(logs, "parent=cairn") {
		t.Fatalf("the task's parent is not cairn; the test proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, "READ-ENVIRON") || !strings.Contains(logs, "environ refused") {
		t.Errorf("a task read cairn's environment:\n%s", logs)
	}
}
