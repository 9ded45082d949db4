package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// TestModelsAlertsCLI: cairn models alerts NAME set|list|clear on the
// home's database and against a server (an admin token sets, an operator's clears, a
// viewer's lists and may not set): an ALERT's webhook keeps its commas,
// a latency bound is a duration, the webhook is shown redacted; bad
// alerts are usage errors (exit 2) and an unknown model exit 1, both
// changing nothing.
func TestModelsAlertsCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	viewer := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	admin := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "admin", "--name", "ci").stdout)
	reg := openModelReg(t, e.home)
	reg.deploy("churn", cairn.StageProduction, fitModel(t, 1))

	r := e.must(0, "models", "alerts", "churn")
	if !strings.Contains(r.stdout, "model churn has no alerts of its own") {
		t.Fatalf("list of none: %s", r)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"models", "alerts", "churn", "set", "on=p99_latency_above,bound=0.05,webhook=https://h.example.com/x"}, 2, "a p99_latency_above's bound is a duration such as 50ms"},
		{[]string{"models", "alerts", "churn", "set", "on=live_metric_below,bound=0.9,webhook=ftp://h/x"}, 2, "is not an http or https URL"},
		{[]string{"models", "alerts", "churn", "set", "bound=0.9"}, 2, `on: want live_metric_below, p99_latency_above or drift_above`},
		{[]string{"models", "alerts", "churn", "set", "on=drift_above,bound=0,webhook=https://h.example.com/x"}, 2, "a drift_above's bound is a PSI above 0 and at most 10, such as 0.2"},
		{[]string{"models", "alerts", "churn", "set", "junk"}, 2, "want KEY=VALUE,..."},
		{[]string{"models", "alerts", "churn", "set"}, 2, "wants one alert or more"},
		{[]string{"models", "alerts", "churn", "mute"}, 2, `models alerts action "mute": want list, set or clear`},
		{[]string{"models", "alerts", "nope", "set", "on=p99_latency_above,bound=50ms,webhook=https://h.example.com/x"}, 1, `no model is named "nope"`},
	} {
		r := e.cairn(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("cairn %s: want exit %d saying %q, got %s", strings.Join(c.args, " "), c.code, c.says, r)
		}
	}
	r = e.must(0, "models", "alerts", "churn", "set", "on=p99_latency_above,bound=50ms,webhook=https://h.example.com/hook/s3cret?a=1,2,window=1h,min=30",
		"on=live_metric_below,bound=0.8,webhook=https://h.example.com/m,format=slack")
	for _, want := range []string{"model churn: 2 alerts watched on production version 1", "p99_latency_above  50ms", "1h0m0s", "30", "live_metric_below  0.8", "10m0s (default)", "slack", "https://h.example.com/hook/…"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("set's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("the webhook is shown:\n%s", r.stdout)
	}
	m, err := reg.st.ModelAlerts(t.Context(), "churn")
	if err != nil || m.Gen != 1 || len(m.Alerts) != 2 || m.Alerts[0].Webhook != "https://h.example.com/hook/s3cret?a=1,2" || m.Alerts[0].Min != 30 {
		t.Fatalf("stored: %+v %v", m, err)
	}

	srv := e.startServer(nil)
	api := "http://" + srv.addr
	if r := e.cairnEnv([]string{"CAIRN_TOKEN=" + viewer}, "models", "alerts", "churn", "clear", "--server", api); r.code == 0 {
		t.Fatalf("a viewer cleared the alerts: %s", r)
	}
	r = e.cairnEnv([]string{"CAIRN_TOKEN=" + viewer}, "models", "alerts", "churn", "list", "--json", "--server", api)
	var got runjson.ModelAlerts
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got.Gen != 1 || len(got.Alerts) != 2 || strings.Contains(r.stdout, "s3cret") {
		t.Fatalf("list --json with a viewer's token: %s", r)
	}
	// A webhook is an admin's to set (the server POSTs to it), an
	// operator may clear.
	if r := e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "models", "alerts", "churn", "set", "on=p99_latency_above,bound=1s,webhook=https://h.example.com/y", "--server", api); r.code == 0 || !strings.Contains(r.stderr, "needs an admin token") {
		t.Fatalf("an operator set a webhook: %s", r)
	}
	r = e.cairnEnv([]string{"CAIRN_TOKEN=" + admin}, "models", "alerts", "churn", "set", "on=p99_latency_above,bound=1s,webhook=https://h.example.com/y", "--server", api)
	if r.code != 0 || !strings.Contains(r.stdout, "1 alert watched") {
		t.Fatalf("set with --server: %s", r)
	}
	if r := e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "models", "alerts", "churn", "clear", "--server", api); r.code != 0 || !strings.Contains(r.stdout, "cleared the alerts of churn") {
		t.Fatalf("clear with --server: %s", r)
	}
	if m, err := reg.st.ModelAlerts(t.Context(), "churn"); err != nil || m.Gen != 3 || len(m.Alerts) != 0 {
		t.Fatalf("after clear: %+v %v", m, err)
	}
	r = e.must(0, "audit")
	if strings.Count(r.stdout, "model.alerts") != 3 {
		t.Errorf("the audit log has not the three changes:\n%s", r.stdout)
	}
}
