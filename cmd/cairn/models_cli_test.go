package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// shipWF deploys a model trained on a synthetic set; another seed is
// another model, so another version.
const shipWF = `name: ship
params:
  seed: {type: int, default: 1}
  stage: {type: string, default: production}
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 120, features: 3, seed: "${{ params.seed }}", label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: train
    type: train
    inputs: {train: "${{ tasks.split.outputs.train }}"}
    with: {model: logistic_regression, label: y}
  - id: evaluate
    type: evaluate
    inputs: {model: "${{ tasks.train.outputs.model }}", test: "${{ tasks.split.outputs.test }}"}
    with: {metrics: [accuracy, roc_auc]}
  - id: deploy
    type: deploy
    inputs: {model: "${{ tasks.train.outputs.model }}", report: "${{ tasks.evaluate.outputs.report }}"}
    with: {name: churn, stage: "${{ params.stage }}", metrics: "${{ tasks.evaluate.outputs.metrics }}"}
`

func writeShip(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ship.yaml")
	if err := os.WriteFile(path, []byte(shipWF), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return v
}

// cairn models on the home's database: a deploy's version with its
// output, list and show (text and JSON), promote, rollback, the refusals
// that change nothing, and the audit log.
func TestModelsCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.must(0, "models", "list"); r.stdout != "" || !strings.Contains(r.stderr, "no model is registered yet") {
		t.Errorf("models list on a new home:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(e.home, "cairn.db")); err == nil {
		t.Error("models list made a database")
	}
	wf := writeShip(t)
	r := e.must(0, "run", wf, "--progress", "none")
	if !strings.Contains(r.stdout, "\ndeployed: model:churn@1 as production (cairn models show churn)\n") {
		t.Errorf("the run's summary does not say what it deployed:\n%s", r.stdout)
	}
	id := runIDOf(t, r.stderr)
	if v := string(taskByID(t, e.show(id), "deploy").Outputs["version"]); v != "1" {
		t.Errorf("the deploy's version output: %s", v)
	}
	if r := e.must(0, "run", wf, "-p", "seed=2", "-p", "stage=candidate", "--progress", "none"); !strings.Contains(r.stdout, "deployed: model:churn@2 as candidate") {
		t.Errorf("the second run's summary:\n%s", r.stdout)
	}

	list := decodeJSON[runjson.ModelList](t, e.must(0, "models", "list", "--json"))
	if len(list.Models) != 1 || list.Models[0].Name != "churn" || *list.Models[0].Production != 1 || list.Models[0].Newest != 2 {
		t.Fatalf("models list --json: %+v", list)
	}
	text := e.must(0, "models", "list").stdout
	if !strings.Contains(text, "churn") || !strings.Contains(text, "2 (1 production, 1 candidate)") || !strings.Contains(text, "roc_auc ") {
		t.Errorf("models list:\n%s", text)
	}
	text = e.must(0, "models", "show", "churn").stdout
	for _, want := range []string{"model churn: version 1 in production, 2 versions", "VERSION  STAGE", "ACCURACY", "ROC_AUC",
		id + "/deploy", "registered as production  deploy", "history:"} {
		if !strings.Contains(text, want) {
			t.Errorf("models show lacks %q:\n%s", want, text)
		}
	}
	text = e.must(0, "models", "show", "model:churn@1").stdout
	if !strings.HasPrefix(text, "model:churn@1: production since ") || !strings.Contains(text, "application/vnd.cairn.model+json") ||
		!strings.Contains(text, "cairn show "+id) {
		t.Errorf("models show churn@1:\n%s", text)
	}

	// Refusals change nothing and say why.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"promote", "churn", "9"}, 1, "model churn has versions 1 to 2, not 9"},
		{[]string{"promote", "other", "1"}, 1, `no model is named "other"`},
		{[]string{"promote", "churn", "model:other@1"}, 1, "model:other@1 is a version of model other, not of churn: nothing changed"},
		{[]string{"promote", "churn", "two"}, 2, `version "two": want a number`},
		{[]string{"promote", "churn", "2", "--stage", "live"}, 2, `--stage "live": want production, candidate or archived`},
		{[]string{"rollback", "churn"}, 1, "version 1 is in production and no version before it can be put back"},
		{[]string{"show", "churn@3"}, 1, "model churn has versions 1 to 2, not 3"},
		{[]string{"show", "../x"}, 2, `model name "../x"`},
	} {
		r := e.must(c.code, append([]string{"models"}, c.args...)...)
		if !strings.Contains(r.stderr, c.says) || strings.HasSuffix(strings.TrimSpace(r.stderr), "not found") {
			t.Errorf("models %s: %s, want it to say %q", strings.Join(c.args, " "), r.stderr, c.says)
		}
	}
	if m := decodeJSON[runjson.Model](t, e.must(0, "models", "show", "churn", "--json")); len(m.History) != 2 || *m.Production != 1 {
		t.Fatalf("the refusals changed the registry: %+v", m)
	}

	if r := e.must(0, "models", "promote", "churn", "2"); r.stdout != "model churn: version 2 candidate → production; version 1, in production before, is archived\n" {
		t.Errorf("promote:\n%s", r)
	}
	ch := decodeJSON[runjson.ModelChange](t, e.must(0, "models", "promote", "churn", "2", "--json"))
	if ch.Changed || ch.Version.Stage != cairn.StageProduction {
		t.Errorf("promote again: %+v", ch)
	}
	if r := e.must(0, "models", "rollback", "churn"); r.stdout != "model churn: version 1 archived → production; version 2, in production before, is archived\n" {
		t.Errorf("rollback:\n%s", r)
	}
	audit := e.must(0, "audit", "--json").stdout
	if strings.Count(audit, `"action": "model.promote"`) != 1 || strings.Count(audit, `"action": "model.rollback"`) != 1 || !strings.Contains(audit, `"actor": "cli:`) {
		t.Errorf("the audit log:\n%s", audit)
	}
}

// cairn models --server: the same commands against a real cairn server
// with tokens; a viewer may list but not promote.
func TestModelsCommandOnServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeShip(t)
	e.must(0, "run", wf, "--progress", "none")
	e.must(0, "run", wf, "-p", "seed=2", "-p", "stage=candidate", "--progress", "none")
	viewer := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	operator := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	srv := e.startServer(nil)
	url := "http://" + srv.addr

	local := e.must(0, "models", "show", "churn", "--json").stdout
	remote := e.must(0, "models", "show", "churn", "--json", "--server", url, "--token", viewer).stdout
	if local != remote {
		t.Errorf("models show --json differs between the home and the server:\n%s\n---\n%s", local, remote)
	}
	if r := e.must(0, "models", "list", "--server", url, "--token", viewer); !strings.Contains(r.stdout, "churn") {
		t.Errorf("models list --server:\n%s", r)
	}
	r := e.must(1, "models", "promote", "churn", "2", "--server", url, "--token", viewer)
	if !strings.Contains(r.stderr, "operator") {
		t.Errorf("a viewer's promotion:\n%s", r)
	}
	r = e.must(1, "models", "promote", "churn", "7", "--server", url, "--token", operator)
	if !strings.Contains(r.stderr, "model churn has versions 1 to 2, not 7") {
		t.Errorf("promote a missing version on the server:\n%s", r)
	}
	r = e.must(0, "models", "promote", "churn", "2", "--server", url, "--token", operator)
	if !strings.Contains(r.stdout, "version 2 candidate → production") {
		t.Errorf("promote on the server:\n%s", r)
	}
	e.must(0, "models", "rollback", "churn", "--server", url, "--token", operator)
	m := decodeJSON[runjson.Model](t, e.must(0, "models", "show", "churn", "--json"))
	if *m.Production != 1 || len(m.History) != 6 || m.History[2].Reason != "promote" {
		t.Fatalf("after promote and rollback on the server: %+v", m)
	}
	tokID := strings.Split(operator, "_")[1]
	audit := e.must(0, "audit", "--json").stdout
	if !strings.Contains(audit, `"actor": "`+tokID+`"`) || !strings.Contains(audit, `"action": "model.rollback"`) {
		t.Errorf("the audit log does not name the operator's token %s:\n%s", tokID, audit)
	}
}
