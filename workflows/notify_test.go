package workflows

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

func TestNotifyParse(t *testing.T) {
	src := `name: wf
notify:
  - {on: failure, webhook: "https://hooks.example.com/a?x=1"}
  - on: [gate_failed, drift]
    webhook: http://127.0.0.1:9/b
    format: slack
tasks:
  - {id: a, type: noop}
`
	w, err := Parse("wf.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	want := []cairn.NotifyTarget{
		{On: []cairn.AlertEvent{cairn.AlertFailure}, Webhook: "https://hooks.example.com/a?x=1", Format: "json"},
		{On: []cairn.AlertEvent{cairn.AlertGateFailed, cairn.AlertDrift}, Webhook: "http://127.0.0.1:9/b", Format: "slack"},
	}
	if !reflect.DeepEqual(w.Notify, want) {
		t.Errorf("notify = %+v", w.Notify)
	}
	if run, _ := w.NewRun(nil, time.Now()); !reflect.DeepEqual(run.Notify, want) {
		t.Errorf("the run's targets = %+v", run.Notify)
	}
	// In the canonical form (and so the digest), which parses back.
	c := string(w.Canonical())
	if !strings.Contains(c, `"notify":[{"format":"json","on":["failure"],"webhook":"https://hooks.example.com/a?x=1"},`) {
		t.Errorf("canonical form: %s", c)
	}
	w2, err := Parse("c.yaml", w.Canonical(), opts())
	if err != nil || w2.Digest != w.Digest || !reflect.DeepEqual(w2.Notify, want) {
		t.Errorf("the canonical form parses to %+v, %v", w2, err)
	}
	plain, err := Parse("wf.yaml", []byte("name: wf\ntasks:\n  - {id: a, type: noop}\n"), opts())
	if err != nil || strings.Contains(string(plain.Canonical()), "notify") || plain.Digest == w.Digest {
		t.Errorf("without notify: %s %v", plain.Canonical(), err)
	}
}

func TestNotifyParseErrors(t *testing.T) {
	cases := []struct {
		notify string
		want   string // FILE:LINE:COL: message, and the hint
	}{
		{`[{on: failur, webhook: "https://h.example/x"}]`, `wf.yaml:2:15: unknown notify event "failur"` + "\n\thint: did you mean \"failure\"?"},
		{`[{on: [failure, failure], webhook: "https://h.example/x"}]`, `wf.yaml:2:25: event "failure" is named twice`},
		{`[{on: [], webhook: "https://h.example/x"}]`, `wf.yaml:2:15: on is an empty list`},
		{`[{on: failure, webhook: "ftp://h.example/x"}]`, `wf.yaml:2:33: webhook "ftp://h.example/x" is not an http or https URL` + "\n\thint: write an http or https URL"},
		{`[{on: failure, webhook: "hooks.example.com/x"}]`, `wf.yaml:2:33: webhook "hooks.example.com/x" is not an http or https URL`},
		{`[{on: failure, webhook: "https:///x"}]`, `wf.yaml:2:33: webhook "https:///x" has no host`},
		{`[{on: failure, webhook: "https://u:pa55w0rd@h.example/x"}]`, `has a user or password in it`},
		{`[{on: failure, webhook: "${{ params.hook }}"}]`, `wf.yaml:2:33: webhook cannot hold a reference`},
		{`[{on: failure, webhook: "https://h.example/x", format: slak}]`, `wf.yaml:2:64: unknown notify format "slak"` + "\n\thint: did you mean \"slack\"?"},
		{`[{on: failure, webhok: "https://h.example/x"}]`, `wf.yaml:2:24: unknown key "webhok"`},
		{`[{webhook: "https://h.example/x"}]`, `wf.yaml:2:10: notify entry is missing "on"`},
		{`[{on: success}]`, `wf.yaml:2:10: notify entry is missing "webhook"`},
		{`{on: failure}`, `wf.yaml:2:9: notify must be a list, not a mapping`},
	}
	for _, c := range cases {
		src := "name: wf\nnotify: " + c.notify + "\ntasks:\n  - {id: a, type: noop}\n"
		_, err := Parse("wf.yaml", []byte(src), opts())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.notify, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pa55w0rd") {
			t.Errorf("%s: the error shows the password: %v", c.notify, err)
		}
	}
}
