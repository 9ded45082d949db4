package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/secrets"
)

const secretValue = "hunter2-SECRET-value"

const secretWorkflow = `name: secret
params:
  token: {type: string, secret: true, description: an API token}
  region: {type: string, default: eu}
tasks:
  - id: use
    type: shell
    with:
      env: {TOKEN: "${{ params.token }}", AUTH: "Bearer ${{ params.token }}", REGION: "${{ params.region }}"}
      script: |
        [ "$TOKEN" = "hunter2-SECRET-$(echo value)" ] && [ "$AUTH" = "Bearer $TOKEN" ] && echo CHECK-OK
        [ "$REGION" = "at ‹secret:token›" ] && echo REGION-INERT
        echo "token is $TOKEN"
        # one value, two writes
        printf '%s' "$TOKEN" | cut -c1-5 | tr -d '\n'
        printf '%s\n' "$(printf '%s' "$TOKEN" | cut -c6-)"
        echo "from the script: ${{ params.token }}"
  - id: bad
    type: shell
    needs: [use]
    with:
      argv: ["/nonexistent/${{ params.token }}"]
`

// grepTree fails the test if any file under root holds s.
func grepTree(t *testing.T, root, s string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), s) {
			rel, _ := filepath.Rel(root, p)
			t.Errorf("%s holds the secret value", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A secret param's value reaches the task, and nothing Cairn stores or
// shows: not the run's params, the task's resolved params, the database
// or its WAL, the logs (even a value written in two pieces), an error
// text, show, show --json or cairn's own output.
func TestSecretParamNeverStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(wf, []byte(secretWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// A plain param that spells the placeholder does not get the value.
	cmd := e.command(ctx, "run", wf, "-p", "region=at «secret:token»")
	cmd.Env = append(cmd.Env, "CAIRN_PARAM_TOKEN="+secretValue)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("run: %v, want exit 1 (task bad fails)\n%s", err, out)
	}
	if strings.Contains(string(out), secretValue) {
		t.Errorf("cairn run printed the secret:\n%s", out)
	}
	id := runIDOf(t, string(out))
	logs := e.must(0, "logs", id, "use").stdout
	if !strings.Contains(logs, "CHECK-OK") || !strings.Contains(logs, "REGION-INERT") {
		t.Fatalf("the task did not get the secret's value:\n%s", logs)
	}
	if strings.Count(logs, "«secret:token»") != 3 {
		t.Errorf("the log should name the secret three times:\n%s", logs)
	}
	shown := e.must(0, "show", id).stdout + e.must(0, "show", id, "--json").stdout + e.must(0, "runs", "--json").stdout
	if strings.Contains(shown, secretValue) {
		t.Errorf("show printed the secret:\n%s", shown)
	}
	r := e.show(id)
	if r.Params["token"] != "«secret:token»" || r.Params["region"] != "at ‹secret:token›" {
		t.Errorf("run params: %v", r.Params)
	}
	bad := taskByID(t, r, "bad")
	if bad.State != cairn.TaskFailed || !strings.Contains(bad.Error, "«secret:token»") {
		t.Errorf("task bad: %s %q, want failed with the placeholder in its error", bad.State, bad.Error)
	}
	if use := taskByID(t, r, "use"); !strings.Contains(string(use.Params), "«secret:token»") {
		t.Errorf("task use's stored params: %s", use.Params)
	}
	grepTree(t, e.home, secretValue)
}

// A resumed run takes its secret params again, from the environment; without
// them it refuses, and says how to give them.
func TestResumeTakesSecretsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	wf := filepath.Join(dir, "secret-sleeper.yaml")
	if err := os.WriteFile(wf, []byte(`name: secret-sleeper
params:
  token: {type: string, secret: true}
  pidfile: {type: string}
tasks:
  - id: first
    type: noop
  - id: nap
    type: shell
    needs: [first]
    retries: 1
    with:
      env: {TOKEN: "${{ params.token }}", PIDFILE: "${{ params.pidfile }}"}
      script: |
        if [ "$CAIRN_ATTEMPT" = 1 ]; then
          echo $$ > "$PIDFILE.tmp"; mv "$PIDFILE.tmp" "$PIDFILE"
          exec sleep 300
        fi
        [ "$TOKEN" = "hunter2-SECRET-$(echo value)" ] && echo resumed-with-the-token
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.startWith([]string{"CAIRN_PARAM_TOKEN=" + secretValue}, "run", wf, "-p", "pidfile="+pidfile)
	id := p.runID()
	waitFor(t, cmdTimeout, "the nap task", func() bool { _, err := os.Stat(pidfile); return err == nil })
	killGroupOnCleanup(t, readPid(t, pidfile))
	p.kill9()

	r := e.must(1, "resume", id)
	if !strings.Contains(r.stderr, "CAIRN_PARAM_TOKEN=VALUE") || !strings.Contains(r.stderr, "not stored") {
		t.Errorf("resume without the secret:\n%s", r)
	}
	if r := e.must(2, "resume", id, "-p", "pidfile=x"); !strings.Contains(r.stderr, "only gives secret params again") {
		t.Errorf("resume -p of a plain param:\n%s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, "resume", id)
	cmd.Env = append(cmd.Env, "CAIRN_PARAM_TOKEN="+secretValue)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("resume with the secret: %v\n%s", err, out)
	}
	if logs := e.must(0, "logs", id, "nap").stdout; !strings.Contains(logs, "resumed-with-the-token") {
		t.Errorf("the resumed attempt did not get the token:\n%s", logs)
	}
	grepTree(t, e.home, secretValue)
}

// The leaser puts values into leased params and takes them out of what
// an attempt reports.
func TestSecretLeaser(t *testing.T) {
	set := secrets.New(map[string]string{"«secret:k»": `s3"cr3t`})
	f := &fakeLeaser{items: []cairn.WorkItem{{Params: json.RawMessage(`{"a":"x «secret:k» y"}`)}}}
	l := withSecrets(f, set)
	items, err := l.Lease(context.Background(), cairn.LeaseRequest{})
	if err != nil || string(items[0].Params) != `{"a":"x s3\"cr3t y"}` {
		t.Fatalf("Lease: %s, %v", items[0].Params, err)
	}
	f.items = []cairn.WorkItem{{Params: json.RawMessage(`"«secret:k»"`)}}
	items, _ = l.CompleteAndLease(context.Background(), cairn.Lease{}, cairn.Completion{
		Error: `bad key s3"cr3t`, Stack: `at s3"cr3t`,
		Outputs: map[string]json.RawMessage{"echo": json.RawMessage(`"s3\"cr3t"`), "n": json.RawMessage(`3`), "spelt": json.RawMessage(`"«secret:k»"`)},
	}, cairn.LeaseRequest{})
	c := f.completed
	if c.Error != "bad key «secret:k»" || c.Stack != "at «secret:k»" || string(c.Outputs["echo"]) != `"«secret:k»"` || string(c.Outputs["n"]) != "3" ||
		string(c.Outputs["spelt"]) != `"‹secret:k›"` {
		t.Errorf("stored completion: %+v", c)
	}
	if string(items[0].Params) != `"s3\"cr3t"` {
		t.Errorf("next lease's params: %s", items[0].Params)
	}
	// Several reports at once (a remote worker's complete-many), to a
	// leaser that takes them so and to one that does not: redacted and
	// filled alike.
	many := &fakeManyLeaser{fakeLeaser: f}
	for _, inner := range []executor.Leaser{f, many} {
		f.completed = cairn.Completion{}
		m := withSecrets(inner, set).(remote.ManyCompleter)
		got, errs := m.CompleteAndLeaseMany(context.Background(), []cairn.Lease{{}}, []cairn.Completion{{Error: `bad key s3"cr3t`}},
			[]cairn.LeaseRequest{{}})
		if errs[0] != nil || f.completed.Error != "bad key «secret:k»" || string(got[0][0].Params) != `"s3\"cr3t"` {
			t.Errorf("%T: CompleteAndLeaseMany stored %q, leased %s, %v", inner, f.completed.Error, got[0][0].Params, errs[0])
		}
	}
	if many.calls != 1 {
		t.Errorf("the leaser taking several reports at once was called %d times with them, want once", many.calls)
	}
}

// fakeManyLeaser is fakeLeaser taking several reports in one call
// (remote.ManyCompleter), as the broker does.
type fakeManyLeaser struct {
	*fakeLeaser
	calls int
}

func (f *fakeManyLeaser) CompleteAndLeaseMany(ctx context.Context, ls []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error) {
	f.calls++
	items, errs := make([][]cairn.WorkItem, len(ls)), make([]error, len(ls))
	for i := range ls {
		items[i], errs[i] = f.fakeLeaser.CompleteAndLease(ctx, ls[i], cs[i], next[i])
	}
	return items, errs
}

// The worker API's give-back goes through the server's secretLeaser to
// the broker, saying which leases were given back; a leaser that cannot
// give back refuses, and the server then has no give-back route.
func TestSecretLeaserGivesBack(t *testing.T) {
	ls := []cairn.Lease{{RunID: "r", TaskID: "a", Token: "x"}, {RunID: "r", TaskID: "b", Token: "y"}}
	g := &fakeGiveBacker{given: []bool{true, false}}
	s := secretLeaser{Leaser: g}
	got, err := s.GiveBackEach(context.Background(), ls)
	if err != nil || !slices.Equal(got, []bool{true, false}) || len(g.asked) != 2 || g.asked[1].TaskID != "b" {
		t.Errorf("GiveBackEach through secretLeaser: %v, %v (the broker asked %+v)", got, err, g.asked)
	}
	if _, err := (secretLeaser{Leaser: &fakeLeaser{}}).GiveBackEach(context.Background(), ls); err == nil {
		t.Error("GiveBackEach over a leaser that cannot give back: no error")
	}
}

// fakeGiveBacker is fakeLeaser taking leases back (remote.GiveBacker).
type fakeGiveBacker struct {
	fakeLeaser
	given []bool
	asked []cairn.Lease
}

func (f *fakeGiveBacker) GiveBackEach(_ context.Context, ls []cairn.Lease) ([]bool, error) {
	f.asked = append(f.asked, ls...)
	return f.given, nil
}

type fakeLeaser struct {
	items     []cairn.WorkItem
	completed cairn.Completion
}

func (f *fakeLeaser) Lease(context.Context, cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	return f.items, nil
}
func (f *fakeLeaser) Start(context.Context, cairn.Lease) error { return nil }
func (f *fakeLeaser) HeartbeatMany(_ context.Context, ls []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	return make([]cairn.HeartbeatResult, len(ls)), nil
}
func (f *fakeLeaser) CompleteAndLease(_ context.Context, _ cairn.Lease, c cairn.Completion, _ cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	f.completed = c
	return f.items, nil
}
func (f *fakeLeaser) Revoked(cairn.Lease) <-chan struct{} { return nil }
func (f *fakeLeaser) LeaseTTL() time.Duration             { return time.Minute }

// A secret given with -p works, and cairn says once, on stderr, that a
// command line is public and which variable is the private way; a secret
// given in the environment, or a plain param on the command line, draws
// no warning.
func TestSecretOnCommandLineWarns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "secret-flag.yaml")
	if err := os.WriteFile(wf, []byte(`name: secret-flag
params:
  token: {type: string, secret: true}
  region: {type: string, default: eu}
tasks:
  - id: use
    type: shell
    with:
      env: {TOKEN: "${{ params.token }}"}
      script: '[ "$TOKEN" = "hunter2-SECRET-$(echo value)" ] && echo GOT-IT'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "run", wf, "-p", "token="+secretValue, "-p", "region=us")
	if n := strings.Count(r.stderr, "warning: -p"); n != 1 {
		t.Errorf("want one warning line about -p, got %d:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "CAIRN_PARAM_TOKEN") || !strings.Contains(r.stderr, "ps") || strings.Contains(r.stderr, "-p region") {
		t.Errorf("the warning should name CAIRN_PARAM_TOKEN and ps, and only the secret:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, secretValue) {
		t.Errorf("cairn printed the secret:\n%s", r)
	}
	if logs := e.must(0, "logs", runIDOf(t, r.stdout+r.stderr), "use").stdout; !strings.Contains(logs, "GOT-IT") {
		t.Errorf("the task did not get the value from -p:\n%s", logs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, "run", wf, "-p", "region=us")
	cmd.Env = append(cmd.Env, "CAIRN_PARAM_TOKEN="+secretValue)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run with the secret in the environment: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "warning: -p") {
		t.Errorf("a secret in the environment drew a warning:\n%s", out)
	}
}
