package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestPrometheusRules: the example alerting rules of deploy/prometheus
// name only series cairn server exposes (docs/cli.md's table of them),
// and promtool (make deps) finds them valid and passes their unit tests.
func TestPrometheusRules(t *testing.T) {
	rules, err := os.ReadFile("../../deploy/prometheus/cairn-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`cairn_[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) < 5 {
		t.Fatalf("the rules name %d series", len(names))
	}
	for _, n := range names {
		n = strings.TrimSuffix(n, "_bucket")
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("the rules name %s, which /metrics does not expose (docs/cli.md, Metrics)", n)
		}
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		path, err = exec.LookPath("../../bin/deps/promtool") // where make deps puts it
	}
	if err != nil {
		t.Skip("promtool is not installed (make deps takes it out of Debian's prometheus package into bin/deps): the rules are not checked")
	}
	for _, args := range [][]string{{"check", "rules", "cairn-alerts.yml"}, {"test", "rules", "cairn-alerts_test.yml"}} {
		cmd := exec.Command(path, args...)
		cmd.Dir = "../../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
