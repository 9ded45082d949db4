package workflows_test

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn/workflows"
)

// Every webhook: value of a workflow file — notify:, a deploy's alerts:,
// flow or block style, quoted, through an anchor — is cut as the CLI and
// the API cut it; the rest of the text stays as written.
func TestRedactWebhooks(t *testing.T) {
	src := `name: w
x-hook: &hook https://hooks.example.com/services/T0/B0/ANCHORED
notify:
  - {on: failure, webhook: "http://127.0.0.1:18610/ok/secret-part?tok=abc"}
  - on: success
    webhook: "https://hooks.slack.com/services/T000/B000/QUOTED"
  - on: drift
    webhook: *hook
tasks:
  - id: ship
    type: deploy
    with:
      name: churn
      alerts: [{on: p99_latency_above, bound: 50ms, webhook: 'https://hooks.example.com/services/T0/B0/SINGLE'}]
`
	got := string(workflows.RedactWebhooks([]byte(src)))
	for _, secret := range []string{"secret-part", "tok=abc", "QUOTED", "ANCHORED", "SINGLE", "B000", "T0/"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q shown:\n%s", secret, got)
		}
	}
	for _, kept := range []string{"name: w\n", "http://127.0.0.1:18610/ok/…", "https://hooks.slack.com/services/…", "bound: 50ms", "- id: ship\n"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q not kept:\n%s", kept, got)
		}
	}
	// A file that does not parse: the lines are cut.
	bad := "notify: [{webhook: https://h.example.com/a/SECRET\n"
	if got := string(workflows.RedactWebhooks([]byte(bad))); strings.Contains(got, "SECRET") {
		t.Errorf("an unparsable file shows its webhook: %q", got)
	}
	// No webhook: the text itself.
	if plain := "name: w\ntasks: []\n"; string(workflows.RedactWebhooks([]byte(plain))) != plain {
		t.Error("a file without webhooks changed")
	}
}
