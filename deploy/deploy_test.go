// Package deploy_test keeps the files under deploy/ true to the binary:
// every YAML file parses, every cairn command the systemd units and the
// Kubernetes manifests run exists and every flag they pass is one that
// command's help lists (a renamed or removed flag fails here, not in
// production), the CAIRN_* variables they set are ones its help names,
// the manifests hang together (the Service's port, the Secret's keys, the
// kustomization's files), and docs/deploy.md names every file.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var cairnBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cairnBin = filepath.Join(dir, "cairn")
	if out, err := exec.Command("go", "build", "-o", cairnBin, "../cmd/cairn").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cairn: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// invocation is one cairn command line a file runs.
type invocation struct {
	where string   // file and what in it
	args  []string // after the binary
	env   []string // CAIRN_* variables given to it
}

// help returns 'cairn help CMD', failing the test if there is no such
// command.
var helps = map[string]string{}

func help(t *testing.T, cmd string) string {
	t.Helper()
	if h, ok := helps[cmd]; ok {
		return h
	}
	out, err := exec.Command(cairnBin, "help", cmd).CombinedOutput()
	if err != nil {
		helps[cmd] = ""
		return ""
	}
	helps[cmd] = string(out)
	return string(out)
}

// check checks one invocation against the binary's help.
func check(t *testing.T, inv invocation) {
	t.Helper()
	if len(inv.args) == 0 || strings.HasPrefix(inv.args[0], "-") {
		t.Errorf("%s: runs cairn without a command first: %q", inv.where, inv.args)
		return
	}
	cmd := inv.args[0]
	h := help(t, cmd)
	if h == "" {
		t.Errorf("%s: runs 'cairn %s', which this binary does not have", inv.where, cmd)
		return
	}
	for _, a := range inv.args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value, or an argument
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !regexp.MustCompile(`(?m)^\s+--?` + regexp.QuoteMeta(name) + `\b`).MatchString(h) {
			t.Errorf("%s: 'cairn %s' has no flag --%s (cairn help %s lists its flags)", inv.where, cmd, name, cmd)
		}
	}
	for _, v := range inv.env {
		if !strings.Contains(h, v) {
			t.Errorf("%s: sets %s, which 'cairn help %s' does not name", inv.where, v, cmd)
		}
	}
}

// files lists deploy/'s files with one of exts.
func files(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(p)) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// docs reads every YAML document of path.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

// get walks a decoded YAML value by keys and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

func TestEveryYAMLParses(t *testing.T) {
	paths := files(t, ".yaml", ".yml")
	if len(paths) < 6 {
		t.Fatalf("found %d YAML files under deploy/: %v", len(paths), paths)
	}
	for _, p := range paths {
		if len(docs(t, p)) == 0 {
			t.Errorf("%s: no document", p)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	var objs []map[string]any
	where := map[int]string{}
	for _, p := range files(t, ".yaml") {
		if !strings.HasPrefix(p, "kubernetes/") {
			continue
		}
		for _, d := range docs(t, p) {
			if d["kind"] == nil || d["apiVersion"] == nil {
				t.Errorf("%s: a document without kind or apiVersion", p)
			}
			where[len(objs)] = fmt.Sprintf("%s (%v %v)", p, d["kind"], get(d, "metadata", "name"))
			objs = append(objs, d)
		}
	}
	secrets := map[string]map[string]any{}
	var kust map[string]any
	for _, o := range objs {
		switch o["kind"] {
		case "Secret":
			m, _ := get(o, "stringData").(map[string]any)
			secrets[fmt.Sprint(get(o, "metadata", "name"))] = m
		case "Kustomization":
			kust = o
		}
	}
	deployments := map[string]bool{}
	var ran []string
	for i, o := range objs {
		switch o["kind"] {
		case "Deployment":
			labels, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any)
			sel, _ := get(o, "spec", "selector", "matchLabels").(map[string]any)
			for k, v := range sel {
				if labels[k] != v {
					t.Errorf("%s: the selector's %s=%v is not on the pod template", where[i], k, v)
				}
			}
			for j, c := range asList(get(o, "spec", "template", "spec", "containers")) {
				argv := append(strs(get(c, "command")), strs(get(c, "args"))...)
				if len(argv) == 0 || filepath.Base(argv[0]) != "cairn" {
					continue
				}
				inv := invocation{where: fmt.Sprintf("%s container %d", where[i], j), args: argv[1:]}
				defined := map[string]bool{}
				for _, e := range asList(get(c, "env")) {
					name := fmt.Sprint(get(e, "name"))
					defined[name] = true
					if strings.HasPrefix(name, "CAIRN_") {
						inv.env = append(inv.env, name)
					}
					if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
						s, key := fmt.Sprint(get(ref, "name")), fmt.Sprint(get(ref, "key"))
						if _, ok := secrets[s][key]; !ok {
							t.Errorf("%s: env %s reads key %s of Secret %s, which has no such key", inv.where, name, key, s)
						}
					}
				}
				for _, a := range argv {
					for _, m := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(a, -1) {
						if !defined[m[1]] {
							t.Errorf("%s: %s uses $(%s), which the container's env does not define", inv.where, a, m[1])
						}
					}
				}
				check(t, inv)
				ran = append(ran, argv[1])
				deployments[fmt.Sprint(get(labels, "app.kubernetes.io/component"))] = true
			}
		case "Service":
			sel, _ := get(o, "spec", "selector").(map[string]any)
			matched := false
			for _, d := range objs {
				if d["kind"] != "Deployment" {
					continue
				}
				labels, _ := get(d, "spec", "template", "metadata", "labels").(map[string]any)
				ok := len(sel) > 0
				for k, v := range sel {
					ok = ok && labels[k] == v
				}
				if !ok {
					continue
				}
				matched = true
				var names []string
				for _, c := range asList(get(d, "spec", "template", "spec", "containers")) {
					for _, p := range asList(get(c, "ports")) {
						names = append(names, fmt.Sprint(get(p, "name")))
					}
				}
				for _, p := range asList(get(o, "spec", "ports")) {
					if tp := fmt.Sprint(get(p, "targetPort")); !slices.Contains(names, tp) {
						t.Errorf("%s: targetPort %s is none of the pods' ports %v", where[i], tp, names)
					}
				}
			}
			if !matched {
				t.Errorf("%s: its selector matches no Deployment's pods", where[i])
			}
		}
	}
	if !slices.Contains(ran, "server") || !slices.Contains(ran, "worker") {
		t.Errorf("the manifests run %v, want a server and a worker Deployment", ran)
	}
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	for _, r := range strs(kust["resources"]) {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
}

// execStart returns the command line of a unit's ExecStart=, its
// continuation lines joined, and checks every line is a section, a
// comment or a Key=Value.
func execStart(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var logical []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		logical = append(logical, cur+l)
		cur = ""
	}
	var argv []string
	keyValue := regexp.MustCompile(`^[A-Za-z]+=`)
	for _, l := range logical {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "#"), strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
		case !keyValue.MatchString(l):
			t.Errorf("%s: %q is not Key=Value", path, l)
		case strings.HasPrefix(l, "ExecStart="):
			argv = strings.Fields(strings.TrimPrefix(l, "ExecStart="))
		}
	}
	return argv
}

func TestSystemdUnits(t *testing.T) {
	units := files(t, ".service")
	var ran []string
	for _, u := range units {
		argv := execStart(t, u)
		if len(argv) < 2 || filepath.Base(argv[0]) != "cairn" {
			t.Errorf("%s: ExecStart runs %q, not cairn", u, argv)
			continue
		}
		b, _ := os.ReadFile(u)
		for _, want := range []string{"KillMode=mixed", "SuccessExitStatus=143", "EnvironmentFile="} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s: lacks %s", u, want)
			}
		}
		inv := invocation{where: u + " ExecStart", args: argv[1:]}
		check(t, inv)
		ran = append(ran, argv[1])
	}
	if !slices.Contains(ran, "server") || !slices.Contains(ran, "worker") {
		t.Errorf("the units run %v, want a server and a worker", ran)
	}
	// What the env file sets for cairn, some command's help names.
	b, err := os.ReadFile("systemd/cairn.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#?\s*(CAIRN_[A-Z_]+)=`).FindAllStringSubmatch(string(b), -1) {
		v := strings.TrimSuffix(m[1], "_")
		if strings.HasPrefix(v, "CAIRN_PARAM") {
			v = "CAIRN_PARAM_"
		}
		if !strings.Contains(help(t, "server")+help(t, "worker")+help(t, "run"), v) {
			t.Errorf("cairn.env.example sets %s, which no command's help names", m[1])
		}
	}
}

// prometheusConfig reports whether deploy file p is a Prometheus
// configuration, not a file of alerting rules (top-level groups:) or their
// unit test (top-level tests:), which cmd/cairn's TestPrometheusRules
// checks with promtool check rules and promtool test rules.
func prometheusConfig(t *testing.T, p string) bool {
	t.Helper()
	if !strings.HasPrefix(p, "prometheus/") {
		return false
	}
	d := docs(t, p)[0]
	return d["groups"] == nil && d["tests"] == nil
}

func TestPrometheusScrapesWithAToken(t *testing.T) {
	for _, p := range files(t, ".yml") {
		if !prometheusConfig(t, p) {
			continue
		}
		d := docs(t, p)[0]
		jobs := asList(d["scrape_configs"])
		if len(jobs) == 0 {
			t.Fatalf("%s: no scrape_configs", p)
		}
		for _, j := range jobs {
			name := get(j, "job_name")
			// /metrics on --addr wants a viewer token (docs/cli.md, Metrics).
			if get(j, "metrics_path") != "/metrics" || get(j, "authorization", "credentials_file") == nil || get(j, "scheme") != "https" {
				t.Errorf("%s job %v: want metrics_path /metrics, https and a bearer token file", p, name)
			}
		}
	}
	if !strings.Contains(help(t, "server"), "/metrics") {
		t.Error("cairn help server no longer mentions /metrics")
	}
}

// TestPromtoolChecksTheConfigs runs 'promtool check config' on each
// Prometheus file, the files it names (token, CA) made in a folder of the
// test's own. Debian's promtool, which make deps installs, is built
// without Kubernetes discovery: a file using it is then only parsed (by
// TestPrometheusScrapesWithAToken), and the test says so.
func TestPromtoolChecksTheConfigs(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		path, err = exec.LookPath("../bin/deps/promtool") // where make deps puts it
	}
	if err != nil {
		t.Skip("promtool is not installed (make deps takes it out of Debian's prometheus package into bin/deps)")
	}
	checked := 0
	for _, p := range files(t, ".yml") {
		if !prometheusConfig(t, p) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		text := string(b)
		for _, m := range regexp.MustCompile(`(?m)(?:credentials_file|ca_file): (\S+)`).FindAllStringSubmatch(text, -1) {
			local := filepath.Join(dir, filepath.Base(m[1]))
			if err := os.WriteFile(local, []byte("placeholder\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			text = strings.ReplaceAll(text, m[1], local)
		}
		conf := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(path, "check", "config", conf).CombinedOutput()
		switch {
		case err != nil && strings.Contains(string(out), "field kubernetes_sd_configs not found"):
			t.Logf("%s: this promtool has no Kubernetes discovery; the file is parsed, not checked", p)
		case err != nil:
			t.Errorf("promtool check config %s: %v\n%s", p, err, out)
		default:
			checked++
		}
	}
	if checked == 0 {
		t.Error("promtool checked no configuration")
	}
}

func TestDeployDocNamesEveryFile(t *testing.T) {
	b, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files(t, ".yaml", ".yml", ".service", ".example") {
		if !bytes.Contains(b, []byte("deploy/"+p)) {
			t.Errorf("docs/deploy.md does not name deploy/%s", p)
		}
	}
}
