package cairn_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cairnml/cairn"

// homes says which packages may import a third-party library directly:
// each library has one home (docs/architecture.md). A package named
// covers the packages under it too, unless it ends in "$" (see covers).
var homes = map[string][]string{
	"github.com/jmoiron/sqlx":        {module + "/store/sqlite"},
	"github.com/mattn/go-sqlite3":    {module + "/store/sqlite", module + "/store/sqlsource", module + "/bench/internal/runfloor"}, // runfloor: the floor of a one-task run, the driver alone
	"github.com/jackc/pgx/v5":        {module + "/store/postgres", module + "/store/sqlsource"},
	"gopkg.in/yaml.v3":               {module + "/workflows", module + "/deploy"}, // deploy: its test parses the manifests
	"github.com/robfig/cron/v3":      {module + "/workflows"},
	"golang.org/x/term":              {module + "/cmd/cairn"},
	"golang.org/x/sys/unix":          {module + "/tasks/shell", module + "/cmd/cairn", module + "/store/sqlite"}, // store/sqlite: a new database's image in one pwritev
	"github.com/hashicorp/go-plugin": {module + "/plugins"},
	"github.com/hashicorp/go-hclog":  {module + "/plugins"},
	"google.golang.org/grpc":         {module + "/plugins"},
	"google.golang.org/protobuf":     {module + "/plugins"},
	"github.com/gin-gonic/gin":       {module + "/ui$"}, // not ui/core, ui/runjson, ui/draw: the command line links those
	"github.com/chromedp/chromedp":   {module + "/ui"},  // its browser tests; nothing else drives a browser
	"github.com/chromedp/cdproto":    {module + "/ui"},  // chromedp's protocol: the browser tests answer dialogs
	"gonum.org/v1/gonum":             {module + "/tasks"},
	// The OpenLineage events' schema checks, in lineage's tests only.
	"github.com/santhosh-tekuri/jsonschema/v6": {module + "/lineage"},
}

// inner packages must not reach outwards: the scheduler, executor and task
// types know the vocabulary and their own small interfaces, not the store
// or the command. A package named covers the packages under it too,
// unless it ends in "$" (see covers).
var forbidden = map[string][]string{
	module + "/scheduler": {module + "/store", module + "/executor", module + "/cmd", module + "/workflows", module + "/metrics"},
	// metrics counts what the scheduler reports through its hooks; the
	// server hands it the store's counts as functions.
	module + "/metrics":  {module + "/store", module + "/executor", module + "/cmd", module + "/ui", module + "/workflows"},
	module + "/executor": {module + "/store", module + "/scheduler", module + "/cmd", module + "/workflows"},
	// The worker API knows the lease API and the stores only through its
	// own interfaces.
	module + "/remote":    {module + "/store", module + "/scheduler", module + "/executor", module + "/cmd", module + "/ui", module + "/workflows"},
	module + "/tasks":     {module + "/store", module + "/scheduler", module + "/executor", module + "/cmd"},
	module + "/workflows": {module + "/store", module + "/executor", module + "/cmd"},
	module + "/auth":      {module + "/store", module + "/scheduler", module + "/executor", module + "/cmd", module + "/ui", module + "/workflows"},
	// The API's client: the vocabulary and the JSON shapes (ui/runjson),
	// none of the server's parts.
	module + "/client": {module + "/store", module + "/scheduler", module + "/executor", module + "/cmd", module + "/workflows",
		module + "/plugins", module + "/tasks", module + "/artifacts"},
	// What the API and the command line share, and the server's write
	// side, which the command line links too: not ui itself (gin), though
	// ui/core and ui/runjson are theirs to use.
	module + "/ui/core": {module + "/ui$", module + "/cmd"},
	module + "/actions": {module + "/ui$", module + "/cmd"},
}

// TestImportBoundaries keeps the package layout honest: it lists every
// package's direct imports (tests excluded) and checks them against the
// rules above and that the root package uses the standard library only.
func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, msg := range importViolations(fields[0], fields[1:]) {
			t.Error(msg)
		}
	}
}

// importViolations checks package pkg's direct imports against the rules.
func importViolations(pkg string, imports []string) []string {
	var out []string
	for _, imp := range imports {
		std := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
		if pkg == module && !std {
			out = append(out, fmt.Sprintf("the root package imports %s: it must use the standard library only", imp))
		}
		for lib, allowed := range homes {
			if covers(lib, imp) && !coversAny(allowed, pkg) {
				out = append(out, fmt.Sprintf("%s imports %s, whose home is %v", pkg, imp, allowed))
			}
		}
		for inner, bad := range forbidden {
			if covers(inner, pkg) && coversAny(bad, imp) {
				out = append(out, fmt.Sprintf("%s imports %s: it must not reach outwards", pkg, imp))
			}
		}
	}
	return out
}

// covers reports whether a rule's package covers package p: the package
// itself and those under it ("x/ui": x/ui, x/ui/core), or, written with a
// trailing "$", the package alone ("x/ui$": x/ui, not x/ui/core).
func covers(rule, p string) bool {
	if exact, ok := strings.CutSuffix(rule, "$"); ok {
		return p == exact
	}
	return p == rule || strings.HasPrefix(p, rule+"/")
}

func coversAny(rules []string, p string) bool {
	for _, r := range rules {
		if covers(r, p) {
			return true
		}
	}
	return false
}

// leanLeavesOut is what the lean build of cmd/cairn (go build -tags lean;
// make build's bin/cairn) must not link: the web server's and the plugin
// host's libraries, whose package inits and code are most of a start's
// work (cmd/cairn/handoff.go, docs/architecture.md "Two builds"). What
// needs them, the lean build hands to cairn-full.
var leanLeavesOut = []string{
	"github.com/gin-gonic/gin",
	"github.com/go-playground/validator",
	"github.com/gabriel-vasile/mimetype",
	"github.com/quic-go/quic-go",
	"go.mongodb.org/mongo-driver",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
	"github.com/hashicorp/go-plugin",
	"net/rpc",
	"encoding/gob",
	module + "/ui$", // ui/core and ui/runjson are the command line's too
	module + "/plugins",
}

// TestLeanBuildLinks lists every package the lean build links and checks
// none is the server's or the plugin host's (the full build, a plain go
// build, links them all).
func TestLeanBuildLinks(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "lean", "-deps", module+"/cmd/cairn").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps printed %d packages: %q", len(deps), out)
	}
	for _, pkg := range deps {
		if coversAny(leanLeavesOut, pkg) {
			t.Errorf("the lean build links %s", pkg)
		}
	}
	full, err := exec.Command("go", "list", "-deps", module+"/cmd/cairn").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, must := range []string{"github.com/gin-gonic/gin", "github.com/hashicorp/go-plugin", module + "/ui", module + "/plugins"} {
		if !strings.Contains("\n"+string(full), "\n"+must+"\n") {
			t.Errorf("the full build does not link %s: the rule above checks nothing", must)
		}
	}
}

// TestImportRules checks the rules' matching on imports made up for it:
// "ui$" forbids ui and only ui, and gin's home is ui alone.
func TestImportRules(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		bad      bool
	}{
		{module + "/ui/core", module + "/ui", true},
		{module + "/actions", module + "/ui", true},
		{module + "/ui/core", module + "/ui/runjson", false},
		{module + "/actions", module + "/ui/core", false},
		{module + "/actions", module + "/ui/runjson", false},
		{module + "/ui/core", module + "/cmd/cairn", true},
		{module + "/ui/core", "github.com/gin-gonic/gin", true},
		{module + "/ui/runjson", "github.com/gin-gonic/gin", true},
		{module + "/ui", "github.com/gin-gonic/gin", false},
		{module + "/ui", "github.com/gin-gonic/gin/binding", false},
		{module + "/ui", module + "/ui/core", false},
		// A rule without "$" still covers the packages under the one named.
		{module + "/metrics", module + "/ui/runjson", true},
		{module + "/remote/x", module + "/ui", true},
	} {
		got := importViolations(c.pkg, []string{c.imp})
		if bad := len(got) > 0; bad != c.bad {
			t.Errorf("%s importing %s: violations %q, want bad=%v", c.pkg, c.imp, got, c.bad)
		}
	}
}
