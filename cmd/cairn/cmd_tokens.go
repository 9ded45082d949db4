package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/runjson"
)

const tokensHelp = `API tokens let people and scripts use 'cairn server': its web pages (sign in by
pasting a token) and its API (Authorization: Bearer TOKEN). A server with no valid
token lets nobody in. Each token has a role:

  viewer     reads runs, tasks, logs and the audit log
  operator   also triggers the server's workflows, cancels, retries and resumes runs
  admin      also runs workflow files of its own ('cairn run --server': their commands
             run as the server's user) and manages tokens (the server's tokens page)
  worker     a role apart, for 'cairn worker': it may call only the worker API (lease,
             heartbeat and complete its own leases, send logs, move artifacts), and no
             page or API route of the others; no other token may call the worker API

  cairn tokens create --role ROLE [--name N] [--expires 90d]
                       prints the token once, on standard output: store it now, cairn
                       keeps only its sha256 (a lost token is revoked and made again)
  cairn tokens list [--json]
                       every token: id, name, role, created, expires, last used, revoked;
                       never a secret
  cairn tokens revoke ID
                       refuses the token from now on, signed-in pages included

--expires takes days (30d), weeks (2w) or hours and minutes (12h), or never;
tokens expire after 90 days unless told otherwise. Making and revoking a token is
recorded in the audit log (cairn audit) as cli:USER@HOST. Run these on the server's
machine, with its home (--home, CAIRN_HOME or --db).`

func cmdTokens(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("tokens", "create|list|revoke [flags]", tokensHelp)
	var role, name, expires string
	var asJSON bool
	fs.StringVar(&role, "role", "", "create: viewer, operator, admin, or worker for a cairn worker (required)")
	fs.StringVar(&name, "name", "", "create: a name to tell the token by (whose it is, what for)")
	fs.StringVar(&expires, "expires", "90d", "create: lifetime, such as 30d, 2w or 12h, or never")
	fs.BoolVar(&asJSON, "json", false, `list: print JSON for scripts: {"tokens": [...]}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"want a subcommand: create, list or revoke"}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	only := func(sub string, allowed ...string) error {
		for _, f := range []string{"role", "name", "expires", "json"} {
			if set[f] && !contains(allowed, f) {
				return usageError{fmt.Sprintf("--%s does not apply to tokens %s", f, sub)}
			}
		}
		return nil
	}
	switch sub := pos[0]; sub {
	case "create":
		if err := only(sub, "role", "name", "expires"); err != nil {
			return err
		}
		if len(pos) > 1 {
			return usageError{fmt.Sprintf("unexpected argument %q (the name goes with --name)", pos[1])}
		}
		if role == "" {
			return usageError{"--role is required: viewer, operator or admin (or worker, for a cairn worker)"}
		}
		r, err := auth.ParseRole(role)
		if err != nil {
			return usageError{"--" + err.Error()}
		}
		if strings.TrimSpace(expires) == "0" {
			// 0 reads as "expires at once" as easily as "never": ask.
			return usageError{`--expires 0: say "never" for a token that never expires, or give its lifetime (30d, 2w, 12h)`}
		}
		life, err := auth.ParseLifetime(expires)
		if err != nil {
			return usageError{"--expires: " + err.Error()}
		}
		if strings.ContainsFunc(name, isControl) || len(name) > 200 {
			return usageError{"--name: at most 200 characters, none of them control characters"}
		}
		return a.createToken(ctx, r, name, life)
	case "list":
		if err := only(sub, "json"); err != nil {
			return err
		}
		if len(pos) > 1 {
			return usageError{fmt.Sprintf("unexpected argument %q", pos[1])}
		}
		return a.listTokens(ctx, asJSON)
	case "revoke":
		if err := only(sub); err != nil {
			return err
		}
		if len(pos) != 2 {
			return usageError{"tokens revoke wants one token id (cairn tokens list shows them)"}
		}
		return a.revokeToken(ctx, pos[1])
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want create, list or revoke%s", sub, suggest(sub, []string{"create", "list", "revoke"}))}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cliActor is who a local command acts as in the audit log (tokens,
// models, retries, schedules, backfills): cli:USER@HOST, USER the name of
// the process's user in the user database, or its number where it has
// none (as ls -l shows such a user) — never $USER, which a process sets as
// it likes.
func cliActor() string {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "cli:" + name + "@" + host
}

func (a *app) createToken(ctx context.Context, role auth.Role, name string, life time.Duration) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	t, text, hash, err := auth.New(role, name, time.Now(), life)
	if err != nil {
		return err
	}
	if err := st.CreateToken(ctx, t, hash, cliActor()); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, text)
	expiry := "never expires"
	if !t.ExpiresAt.IsZero() {
		expiry = "expires " + localTime(t.ExpiresAt)
	}
	label := ""
	if name != "" {
		label = fmt.Sprintf(" %q", name)
	}
	use := "Use it as 'Authorization: Bearer TOKEN', or paste it into the server's sign-in page."
	if role == auth.Worker {
		use = "Give it to cairn worker in CAIRN_WORKER_TOKEN on the worker's machine (it opens no page nor user API)."
	}
	fmt.Fprintf(a.stderr, "created %s token %s%s; it %s.\n"+
		"This is the only time the token is shown: store it now (cairn keeps only its sha256).\n"+
		"%s Revoke it with: cairn tokens revoke %s\n",
		role, t.ID, label, expiry, use, t.ID)
	return nil
}

func (a *app) listTokens(ctx context.Context, asJSON bool) error {
	a.readOnly = true
	st, err := a.openStore(ctx)
	if err != nil && !errors.Is(err, errNoDatabase) {
		return err
	}
	toks := []auth.Token{}
	if st != nil {
		defer st.Close()
		if toks, err = st.ListTokens(ctx); err != nil {
			return err
		}
	}
	now := time.Now()
	if asJSON {
		out := runjson.TokenList{Tokens: []runjson.Token{}}
		for _, t := range toks {
			out.Tokens = append(out.Tokens, runjson.FromToken(t, now))
		}
		return writeJSON(a.stdout, out)
	}
	if len(toks) == 0 {
		fmt.Fprintln(a.stderr, "no tokens: a server lets nobody in until one exists (cairn tokens create --role admin)")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
	for _, t := range toks {
		expires := localTime(t.ExpiresAt)
		if t.ExpiresAt.IsZero() {
			expires = "never"
		}
		name := printable(t.Name)
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, name, t.Role, runjson.FromToken(t, now).State,
			localTime(t.CreatedAt), expires, localTime(t.LastUsedAt), localTime(t.RevokedAt))
	}
	return tw.Flush()
}

func (a *app) revokeToken(ctx context.Context, id string) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.RevokeToken(ctx, strings.TrimSpace(id), cliActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "revoked %s token %s: servers refuse it from now on, and end the sessions signed in with it\n", t.Role, t.ID)
	return nil
}

// maxAuditLimit bounds --limit of audit.
const maxAuditLimit = 10000

func cmdAudit(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("audit", "[--run RUN] [--limit N] [--before ID] [--json]",
		"Print the audit log, newest first: who (a token id, or cli:USER@HOST for a command on\n"+
			"the server's machine) triggered, cancelled, retried or resumed a run, and made or revoked a\n"+
			"token. Each entry is written in the transaction of the action itself.")
	var f scheduler.AuditFilter
	var run string
	var asJSON bool
	fs.StringVar(&run, "run", "", "only the entries of this run (an id or a unique prefix)")
	fs.IntVar(&f.Limit, "limit", 50, "entries per page")
	fs.Int64Var(&f.Before, "before", 0, "the page after this entry `ID` (the cursor the previous page printed)")
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"entries": [...], "next": cursor or null}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if f.Limit <= 0 || f.Limit > maxAuditLimit {
		return usageError{fmt.Sprintf("--limit must be between 1 and %d", maxAuditLimit)}
	}
	if f.Before < 0 {
		return usageError{"--before wants an entry id that a previous page printed"}
	}
	st, err := a.openStore(ctx)
	if err != nil && !errors.Is(err, errNoDatabase) {
		return err
	}
	var entries []scheduler.Audit
	if st != nil {
		defer st.Close()
		if f.RunID, err = auditRun(ctx, st, run); err != nil {
			return err
		}
		page := f
		page.Limit = f.Limit + 1
		if entries, err = st.ListAudit(ctx, page); err != nil {
			return err
		}
	}
	var next int64
	if len(entries) > f.Limit {
		entries = entries[:f.Limit]
		next = entries[len(entries)-1].ID
	}
	if asJSON {
		out := runjson.AuditPage{Entries: []runjson.Audit{}}
		for _, e := range entries {
			out.Entries = append(out.Entries, runjson.Audit{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, RunID: e.RunID, TaskID: e.TaskID, Detail: e.Detail})
		}
		if next != 0 {
			out.Next = &next
		}
		return writeJSON(a.stdout, out)
	}
	if len(entries) == 0 {
		fmt.Fprintln(a.stderr, "no audit entries")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tRUN\tTASK\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, localTime(e.At), printable(e.Actor), printable(e.Action),
			dash(e.RunID), dash(printable(e.TaskID)), dash(printable(string(e.Detail))))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != 0 {
		cmd := strings.Join(append(append([]string{"cairn"}, a.globalArgs()...), "audit"), " ")
		if run != "" {
			cmd += " --run " + shellQuote(f.RunID)
		}
		fmt.Fprintf(a.stderr, "more: %s --limit %d --before %d\n", cmd, f.Limit, next)
	}
	return nil
}

// auditRun resolves --run: a run id or a unique prefix; a run that no
// longer exists may still have entries, so a full id is kept as it is.
func auditRun(ctx context.Context, st database, run string) (string, error) {
	if run == "" {
		return "", nil
	}
	id, err := st.ResolveRunID(ctx, run)
	switch {
	case errors.Is(err, cairn.ErrAmbiguous):
		return "", usageError{fmt.Sprintf("--run %q matches several runs; give more characters of the run id", run)}
	case err != nil:
		return run, nil // the log outlives its runs: a full id of a run gone still filters
	}
	return id, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
