package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// TestRetrainExample runs `make demo-retrain`'s script with the real
// binary from a fresh home: the first version is deployed, eight daily
// slots are backfilled and run by a server, the days of stable data
// retrain nothing, the first day whose drift is large enough
// retrains, the challenger beats the champion on the same fresh rows and
// is promoted, and the next day compares with the new version's training
// data. The retrain's lineage names what it read beyond its input, and
// reproducing its run uses its recorded decision.
func TestRetrainExample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script, err := filepath.Abs("../../workflows/examples/retrain-demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", script, cairnBin, e.home, "2024-01-01", "2024-01-08")
	cmd.Env = testEnviron()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	// The script stops the server it started: nothing of it is left
	// running in the home once it has exited.
	if left := processesWith(t, e.home); len(left) > 0 {
		t.Errorf("the script left processes running in its home: %v", left)
	}
	if !strings.Contains(string(out), "drift-demo@1 in production") {
		t.Fatalf("no first version:\n%s", out)
	}
	type day struct{ should, drifted, production string }
	days := map[string]day{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && strings.HasPrefix(f[0], "2024-01-") {
			days[f[0]] = day{f[1], f[2], f[3]}
		}
	}
	want := map[string]day{
		"2024-01-01": {"false", "-", "drift-demo@1"},
		"2024-01-02": {"false", "-", "drift-demo@1"},
		"2024-01-03": {"false", "-", "drift-demo@1"},
		"2024-01-04": {"false", "-", "drift-demo@1"},
		"2024-01-05": {"false", "-", "drift-demo@1"},
		"2024-01-06": {"false", "-", "drift-demo@1"},
		"2024-01-07": {"true", "x0,x1", "drift-demo@2"},
		"2024-01-08": {"false", "-", "drift-demo@2"},
	}
	for d, w := range want {
		if days[d] != w {
			t.Errorf("%s: %+v, want %+v\n%s", d, days[d], w, out)
		}
	}
	if !strings.Contains(string(out), "promoted: the challenger beat the champion") {
		t.Errorf("no promotion said:\n%s", out)
	}

	// The run of the 7th: everything ran, the deploy after the champion
	// and the challenger; a day without drift skipped them.
	var retrained, stable string
	for _, r := range e.runs("--limit", "20") {
		if r.Workflow != "retrain" {
			continue
		}
		show := e.show(r.ID)
		if r.Trigger != cairn.TriggerBackfill || r.ScheduledFor == nil {
			t.Errorf("run %s: trigger %s, slot %v", r.ID, r.Trigger, r.ScheduledFor)
			continue
		}
		switch r.ScheduledFor.UTC().Format(time.DateOnly) {
		case "2024-01-07":
			retrained = r.ID
			for _, task := range show.Tasks {
				if task.State != cairn.TaskSucceeded {
					t.Errorf("day 7: %s is %s", task.ID, task.State)
				}
			}
		case "2024-01-02":
			stable = r.ID
			for _, task := range show.Tasks {
				if task.ID != "fresh" && task.ID != "drift" && task.State != cairn.TaskSkipped {
					t.Errorf("day 2: %s is %s, want skipped", task.ID, task.State)
				}
			}
		}
	}
	if retrained == "" || stable == "" {
		t.Fatalf("runs of days 7 and 2 not found")
	}

	// cairn show prints the drift of each feature as a table.
	show := e.must(0, "show", retrained).stdout
	for _, w := range []string{"drift per feature (PSI threshold 0.2)", "FEATURE  TEST  STATISTIC", "\n  x0       ks  ", "\n  x5       ks  "} {
		if !strings.Contains(show, w) {
			t.Errorf("show lacks %q:\n%s", w, show)
		}
	}

	// Lineage: the retrain read the production model and its training
	// data, the training data being what the first train read.
	lin := e.must(0, "lineage", retrained+"/drift").stdout
	for _, w := range []string{"├── data ", "├── production_model ", "[model:drift-demo@1 archived]", "└── reference ", "/train#1  train "} {
		if !strings.Contains(lin, w) {
			t.Errorf("lineage of the retrain lacks %q:\n%s", w, lin)
		}
	}

	// Reproduce: the registry has moved on (version 2 is in production),
	// but the retrain's recorded decision is used, and so is the day's
	// data (the reproduction has no slot); every artifact comes out the
	// same.
	r := e.must(0, "reproduce", retrained)
	if !strings.Contains(r.stderr, "drift: recorded outputs used (retrain reads the model registry, which changes)") ||
		!strings.Contains(r.stderr, "fresh: recorded outputs used (it reads ${{ run.scheduled_for }}, the run's own)") {
		t.Errorf("reproduce did not pin the retrain:\n%s", r)
	}

	// The 10th, backfilled while a server runs: its page draws the drift
	// chart with the decision.
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	srv := e.startServer(nil, "--prediction-sample", "1")
	wf, _ := filepath.Abs("../../workflows/examples/retrain.yaml")
	id := strings.TrimSpace(e.must(0, "backfill", wf, "--from", "2024-01-10", "--to", "2024-01-10", "--quiet").stdout)
	done := e.waitRunState(60*time.Second, id, "succeeded")
	for _, task := range done.Tasks {
		if task.ID == "drift" && string(task.Outputs["should_retrain"]) != "true" {
			t.Errorf("day 10 through the server: should_retrain %s", task.Outputs["should_retrain"])
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.addr+"/runs/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{"should_retrain true: 2 of 6 features drifted: x0, x1", "Drift per feature: 2 of 6 drifted", "population stability index"} {
		if !strings.Contains(string(page), w) {
			t.Errorf("the run page lacks %q", w)
		}
	}

	// Predictions served by the server are sampled (all of them here) to
	// the model's prediction log; a retrain with source: predictions reads
	// it, and rows far off the training data drift.
	var body strings.Builder
	body.WriteString(`{"rows": [`)
	for i := range 300 {
		if i > 0 {
			body.WriteString(",")
		}
		v := func(j int) float64 { return float64((i*7+j*13)%41)/10 - 2 }
		fmt.Fprintf(&body, `{"x0": %g, "x1": %g, "x2": %g, "x3": %g, "x4": %g, "x5": %g}`, v(0)+4, v(1), v(2), v(3), v(4), v(5))
	}
	body.WriteString("]}")
	req, _ = http.NewRequest(http.MethodPost, "http://"+srv.addr+"/api/v1/models/drift-demo/predict", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("predict: %d %s", resp.StatusCode, answer)
	}
	logFile := filepath.Join(e.home, "predictions", "drift-demo", "samples.jsonl")
	waitFor(t, 30*time.Second, "the sampled rows written", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), "\n") >= 300
	})
	watch := writeWorkflow(t, "watch.yaml", "name: watch\ntasks:\n  - {id: drift, type: retrain, with: {model: drift-demo, source: predictions}}\n")
	watched := e.show(runIDOf(t, e.must(0, "run", watch, "--progress", "none").stderr))
	var drifted []string
	if err := json.Unmarshal(watched.Tasks[0].Outputs["drifted"], &drifted); err != nil || len(drifted) == 0 || drifted[0] != "x0" {
		t.Errorf("the prediction log's drift: %s, %v", watched.Tasks[0].Outputs["drifted"], err)
	}
	if lin := e.must(0, "lineage", watched.ID+"/drift").stdout; !strings.Contains(lin, "predictions  sha256:") || !strings.Contains(lin, "application/jsonl") {
		t.Errorf("the prediction log is not in the retrain's lineage:\n%s", lin)
	}

	// No production version: the retrain says which model and what to do.
	fresh := newEnv(t)
	r = fresh.must(1, "run", wf, "--progress", "none")
	for _, w := range []string{`model "drift-demo" has no version in production`, "deploy a first version with a deploy task", "cairn models promote drift-demo VERSION"} {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("run without a production version lacks %q:\n%s", w, r)
		}
	}
}

// processesWith lists the processes whose command line mentions arg
// (their pid and command line), killing each so that the test's folder can
// be removed.
func processesWith(t *testing.T, arg string) []string {
	t.Helper()
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(arg)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		out = append(out, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return out
}
