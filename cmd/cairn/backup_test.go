package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const inflightWorkflow = `name: inflight
params:
  pidfile: {type: string}
tasks:
  - id: produce
    type: shell
    with:
      script: echo "precious data" > data.txt
      outputs: {data: data.txt}
  - id: nap
    type: shell
    needs: [produce]
    retries: 1
    inputs: {data: "${{ tasks.produce.outputs.data }}"}
    with:
      env: {PIDFILE: "${{ params.pidfile }}"}
      script: |
        if [ "$CAIRN_ATTEMPT" = 1 ]; then
          echo $$ > "$PIDFILE.tmp"; mv "$PIDFILE.tmp" "$PIDFILE"
          exec sleep 300
        fi
        cat "$CAIRN_INPUT_DATA"
  - id: after
    type: noop
    needs: [nap]
`

// cairn backup copies a home while a run is in flight; cairn restore
// refuses the home in use and a home that is not empty, and the restored
// home resumes the run: the task that had succeeded is not run again, and
// its artifact is there for the next one.
func TestBackupRestoreRunInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	wf := filepath.Join(dir, "inflight.yaml")
	if err := os.WriteFile(wf, []byte(inflightWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "pid")
	p := e.start("run", wf, "-p", "pidfile="+pidfile)
	id := p.runID()
	waitFor(t, cmdTimeout, "the nap task", func() bool { _, err := os.Stat(pidfile); return err == nil })
	killGroupOnCleanup(t, readPid(t, pidfile))

	// A server's prediction sample log: served traffic, which retrain reads.
	samples := filepath.Join("predictions", "churn", "samples.jsonl")
	if err := os.MkdirAll(filepath.Join(e.home, filepath.Dir(samples)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.home, samples), []byte(`{"x":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(dir, "backup")
	r := e.must(0, "backup", backup)
	if !strings.Contains(r.stdout, "the database, 1 artifact, ") || !strings.Contains(r.stdout, ", 1 prediction sample file") {
		t.Errorf("backup:\n%s", r)
	}
	for p, want := range map[string]os.FileMode{backup: 0o700, filepath.Join(backup, "cairn.db"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", p, fi, err, want)
		}
	}
	if r := e.must(1, "backup", backup); !strings.Contains(r.stderr, "not empty") {
		t.Errorf("backup into a used folder:\n%s", r)
	}
	if r := e.must(1, "restore", backup, "--force"); !strings.Contains(r.stderr, "database in use") {
		t.Errorf("restore over the home in use:\n%s", r)
	}

	b := &env{t: t, home: filepath.Join(t.TempDir(), "restored")}
	r = b.must(0, "restore", backup)
	if !strings.Contains(r.stdout, "run "+id+" (inflight) is unfinished") {
		t.Errorf("restore:\n%s", r)
	}
	if b, err := os.ReadFile(filepath.Join(b.home, samples)); err != nil || string(b) != `{"x":1}`+"\n" {
		t.Errorf("the restored prediction sample log: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(backup, "cairn.db-wal")); err == nil {
		t.Error("restore left a WAL file in the backup")
	}
	if r := b.must(1, "restore", backup); !strings.Contains(r.stderr, "is not empty") {
		t.Errorf("restore into a home that is not empty:\n%s", r)
	}

	// The original process dies (the disk it was on, say); the restored
	// home finishes the run.
	p.kill9()
	b.must(0, "resume", id)
	shown := b.show(id)
	if shown.State != "succeeded" {
		t.Fatalf("restored run ended %s", shown.State)
	}
	if n := taskByID(t, shown, "produce").Attempts; n != 1 {
		t.Errorf("produce ran %d times, want once (before the backup)", n)
	}
	if logs := b.must(0, "logs", id, "nap").stdout; !strings.Contains(logs, "precious data") {
		t.Errorf("nap's second attempt did not read the restored artifact:\n%s", logs)
	}
}

// What backup and restore say they copied has its plurals right.
func TestCopiedPlural(t *testing.T) {
	for _, tc := range []struct {
		c    copied
		want string
	}{
		{copied{artifacts: 1, logs: 1, plugins: 1}, "1 artifact, 1 log, 1 plugin file"},
		{copied{artifacts: 0, logs: 2, plugins: 3}, "0 artifacts, 2 logs, 3 plugin files"},
		{copied{artifacts: 2, logs: 1, samples: 1}, "2 artifacts, 1 log, 0 plugin files, 1 prediction sample file"},
		// What was not copied is said (found by the trial: a log replaced
		// by a link went unmentioned).
		{copied{logs: 1, skipped: []string{"b/logs/r/t/1.log"}}, "0 artifacts, 1 log, 0 plugin files; skipped 1 that is not a regular file (a symbolic link, a socket): b/logs/r/t/1.log"},
	} {
		c, want := tc.c, tc.want
		if got := c.String(); got != want {
			t.Errorf("%#v: %q, want %q", c, got, want)
		}
	}
}

// A backup folder inside the home is refused however the home is spelt:
// relative, or through a symbolic link; before, a relative --home let the
// logs copy walk into its own destination until the path was too long.
func TestBackupRefusesFolderInsideHome(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	abs := &env{t: t, home: filepath.Join(parent, "h")}
	abs.must(0, "run", writeWorkflow(t, "one.yaml", "name: one\ntasks:\n  - id: a\n    type: shell\n    with: {script: echo hi}\n"))
	if err := os.Symlink("h", filepath.Join(parent, "link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ home, dir string }{
		{"h", "h/logs/bk"},
		{"h", "h/bk"},
		{"./h/", "h/logs/bk"},
		{"link", "h/logs/bk"},
		{"h", "link/logs/bk"},
	} {
		e := &env{t: t, home: c.home}
		r := e.cairnIn(parent, "backup", c.dir)
		if r.code != 1 || !strings.Contains(r.stderr, "is inside the home") {
			t.Errorf("--home %s backup %s: want refused\n%s", c.home, c.dir, r)
		}
		if _, err := os.Stat(filepath.Join(parent, c.dir)); err == nil {
			t.Errorf("--home %s backup %s: the folder was made", c.home, c.dir)
		}
	}
	e := &env{t: t, home: "h"}
	if r := e.cairnIn(parent, "backup", "bk"); r.code != 0 {
		t.Errorf("backup beside the home:\n%s", r)
	}
}

// copyTree names what it does not copy: a symbolic link is neither
// followed nor dropped in silence.
func TestCopyTreeNamesSkipped(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(from, "1.log"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(from, "2.log")); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	n, err := copyTree(from, to, fileCopier(0o600), &skipped)
	if err != nil || n != 1 || len(skipped) != 1 || filepath.Base(skipped[0]) != "2.log" {
		t.Fatalf("copyTree: %d copied, skipped %v, %v; want 1 and 2.log", n, skipped, err)
	}
	if _, err := os.Lstat(filepath.Join(to, "2.log")); err == nil {
		t.Fatal("the link was copied")
	}
}

// A backup that did not finish — its backup.json never written (killed,
// a full disk), or a file of it gone or cut since — is refused by
// restore, naming what is wrong, before the home is touched; --unchecked
// restores it as it is (a backup made by a Cairn older than the
// manifest). Found by a trial: restore put back 44 of 400 logs, exit 0.
func TestRestoreRefusesUnfinishedBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	wf := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(wf, []byte(`name: two
tasks:
  - {id: a, type: shell, with: {script: 'seq 1 500; echo x > out.txt', outputs: {out: out.txt}}}
  - {id: b, type: shell, needs: [a], with: {script: 'seq 1 700'}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(0, "run", wf)
	backup := filepath.Join(dir, "backup")
	e.must(0, "backup", backup)
	b, err := os.ReadFile(filepath.Join(backup, "backup.json"))
	if err != nil || !strings.Contains(string(b), `"path": "cairn.db"`) || !strings.Contains(string(b), `"path": "artifacts/sha256/`) {
		t.Fatalf("backup.json: %v\n%s", err, b)
	}
	var log string
	filepath.WalkDir(filepath.Join(backup, "logs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && log == "" {
			log = p
		}
		return nil
	})
	if log == "" {
		t.Fatal("the backup holds no log")
	}
	whole, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	restoreInto := func() *env { return &env{t: t, home: filepath.Join(t.TempDir(), "restored")} }

	// A log cut short.
	if err := os.WriteFile(log, whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	r := restoreInto()
	if out := r.must(1, "restore", backup); !strings.Contains(out.stderr, "is not whole") || !strings.Contains(out.stderr, "bytes") {
		t.Errorf("restore of a backup whose log was cut:\n%s", out)
	}
	if _, err := os.Stat(r.home); err == nil {
		if entries, _ := os.ReadDir(r.home); len(entries) > 0 {
			t.Errorf("a refused restore left %d entries in the home", len(entries))
		}
	}
	// A log missing.
	os.Remove(log)
	if out := restoreInto().must(1, "restore", backup); !strings.Contains(out.stderr, "is missing") {
		t.Errorf("restore of a backup whose log is gone:\n%s", out)
	}
	os.WriteFile(log, whole, 0o600)
	// No manifest: the backup did not finish.
	os.Rename(filepath.Join(backup, "backup.json"), filepath.Join(dir, "backup.json"))
	if out := restoreInto().must(1, "restore", backup); !strings.Contains(out.stderr, "did not finish") || !strings.Contains(out.stderr, "--unchecked") {
		t.Errorf("restore of a backup without its backup.json:\n%s", out)
	}
	restoreInto().must(0, "restore", "--unchecked", backup)
	// Whole again: restored, checked.
	os.Rename(filepath.Join(dir, "backup.json"), filepath.Join(backup, "backup.json"))
	restoreInto().must(0, "restore", backup)
}
