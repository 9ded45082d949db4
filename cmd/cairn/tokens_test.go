package main

import (
	"context"
	"encoding/json"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/runjson"
)

var tokenText = regexp.MustCompile(`^cairn_([0-9a-f]{16})_[a-z2-7]{52}\n$`)

// TestTokensCommands: create prints the token once (stdout: the token
// alone, for scripts), the database keeps only its hash, list never shows
// a secret, revoke refuses it from then on; both are in the audit log.
func TestTokensCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "tokens", "list")
	if r.stdout != "" || !strings.Contains(r.stderr, "cairn tokens create --role admin") {
		t.Errorf("tokens list on a new home:\n%s", r)
	}
	r = e.must(0, "tokens", "create", "--role", "admin", "--name", "alice")
	m := tokenText.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("tokens create printed no token on stdout:\n%s", r)
	}
	admin, adminID := strings.TrimSpace(r.stdout), m[1]
	if !strings.Contains(r.stderr, "only time the token is shown") || strings.Contains(r.stderr, admin) || !strings.Contains(r.stderr, "expires") {
		t.Errorf("tokens create's message:\n%s", r.stderr)
	}
	r = e.must(0, "tokens", "create", "--role", "viewer", "--expires", "never")
	viewerID := tokenText.FindStringSubmatch(r.stdout)[1]
	_, secret, err := auth.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}

	// Never a secret or a hash in what list prints.
	text := e.must(0, "tokens", "list").stdout
	js := e.must(0, "tokens", "list", "--json").stdout
	for _, out := range []string{text, js} {
		if strings.Contains(out, secret) || strings.Contains(out, auth.Hash(secret)) {
			t.Errorf("tokens list shows a secret or its hash:\n%s", out)
		}
	}
	if !regexp.MustCompile(adminID + `\s+alice\s+admin\s+valid`).MatchString(text) {
		t.Errorf("tokens list:\n%s", text)
	}
	var list struct {
		Tokens []struct {
			ID, Name, Role, State string
			ExpiresAt             *string `json:"expires_at"`
		}
	}
	if err := json.Unmarshal([]byte(js), &list); err != nil || len(list.Tokens) != 2 {
		t.Fatalf("tokens list --json: %v\n%s", err, js)
	}
	if tk := list.Tokens[0]; tk.ID != viewerID || tk.Role != "viewer" || tk.ExpiresAt != nil || tk.State != "valid" {
		t.Errorf("the newest token: %+v", tk)
	}
	if tk := list.Tokens[1]; tk.ID != adminID || tk.Name != "alice" || tk.ExpiresAt == nil {
		t.Errorf("the admin token (expiring in 90 days by default): %+v", tk)
	}

	// The database holds the hash, and the token authenticates.
	st, err := sqlite.Open(context.Background(), filepath.Join(e.home, "cairn.db"), sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tk, err := st.AuthenticateToken(context.Background(), admin); err != nil || tk.ID != adminID || tk.Role != auth.Admin {
		t.Errorf("the printed token does not authenticate: %+v %v", tk, err)
	}

	r = e.must(0, "tokens", "revoke", viewerID)
	if !strings.Contains(r.stderr, "revoked viewer token "+viewerID) {
		t.Errorf("tokens revoke:\n%s", r)
	}
	if r = e.must(1, "tokens", "revoke", viewerID); !strings.Contains(r.stderr, "revoked already") {
		t.Errorf("revoking twice:\n%s", r)
	}
	if r = e.must(1, "tokens", "revoke", "0000000000000000"); !strings.Contains(r.stderr, "no token") {
		t.Errorf("revoking no token:\n%s", r)
	}
	if !regexp.MustCompile(viewerID + `\s+-\s+viewer\s+revoked`).MatchString(e.must(0, "tokens", "list").stdout) {
		t.Error("the revoked token is not listed as revoked")
	}

	// Bad usage: exit 2, the one problem.
	for _, c := range []struct{ args, want string }{
		{"tokens", "want a subcommand"},
		{"tokens create", "--role is required"},
		{"tokens create --role root", `--role "root"`},
		{"tokens create --role viewer --expires 5", "--expires"},
		{"tokens create --role viewer --expires -1d", "--expires"},
		{"tokens create --role viewer --expires 0", `say "never" for a token that never expires`},
		{"tokens create --role viewer bob", "--name"},
		{"tokens list --role admin", "--role does not apply to tokens list"},
		{"tokens revoke", "one token id"},
		{"tokens lsit", `did you mean "list"`},
		{"audit --limit 0", "--limit"},
	} {
		if r := e.must(2, strings.Fields(c.args)...); !strings.Contains(r.stderr, c.want) {
			t.Errorf("cairn %s: want %q in\n%s", c.args, c.want, r.stderr)
		}
	}

	// The audit log: newest first, by cli:USER@HOST, paged.
	var page runjson.AuditPage
	if err := json.Unmarshal([]byte(e.must(0, "audit", "--json").stdout), &page); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range page.Entries {
		var d struct{ Token string }
		json.Unmarshal(a.Detail, &d)
		got = append(got, a.Action+":"+d.Token)
		if !strings.HasPrefix(a.Actor, "cli:") || !strings.Contains(a.Actor, "@") {
			t.Errorf("actor %q", a.Actor)
		}
	}
	if want := []string{"token.revoke:" + viewerID, "token.create:" + viewerID, "token.create:" + adminID}; strings.Join(got, " ") != strings.Join(want, " ") || page.Next != nil {
		t.Errorf("audit: %v, want %v (next %v)", got, want, page.Next)
	}
	if u, err := user.Current(); err != nil || page.Entries[0].Actor != cliActor() || !strings.HasPrefix(page.Entries[0].Actor, "cli:"+u.Username+"@") {
		t.Errorf("actor %q, want %s (%v)", page.Entries[0].Actor, cliActor(), err)
	}
	r = e.must(0, "audit", "--limit", "2")
	if !strings.Contains(r.stderr, "more: cairn audit --limit 2 --before ") || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("audit --limit 2:\n%s", r)
	}
	if r := e.cairnEnv([]string{"CAIRN_HOME="}, "audit", "--limit", "2"); !strings.Contains(r.stderr, "more: cairn --home "+shellQuote(e.home)+" audit --limit 2 --before ") {
		t.Errorf("audit --limit 2 without CAIRN_HOME: the next page's command lost the home:\n%s", r)
	}
	before := regexp.MustCompile(`--before (\d+)`).FindStringSubmatch(r.stderr)[1]
	r = e.must(0, "audit", "--limit", "2", "--before", before)
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "token.create") || r.stderr != "" {
		t.Errorf("audit's second page:\n%s", r)
	}
}

// TestAuditWithoutDatabase: audit only reads; on a new home it prints
// nothing and makes no database.
func TestAuditWithoutDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.must(0, "audit", "--json"); !strings.Contains(r.stdout, `"entries": []`) {
		t.Errorf("audit --json on a new home:\n%s", r)
	}
	e.must(0, "tokens", "list")
	if _, err := filepath.Glob(filepath.Join(e.home, "cairn.db")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.home, "cairn.db*")); len(m) > 0 {
		t.Errorf("audit and tokens list made a database: %v", m)
	}
}
