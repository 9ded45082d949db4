package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// alertWait bounds how long a foreground run waits, once it has ended,
// for its alerts' webhooks: never longer, whatever they do (a server
// delivers what is left).
const alertWait = 10 * time.Second

// envPublicURL is the URL of the server the alerts' links point to, for
// a process that does not serve it (cairn run); cairn server takes
// --public-url.
const envPublicURL = "CAIRN_PUBLIC_URL"

// envTestAlertTimeout (test only) sets a delivery's timeout and an
// alert's claim to this duration, and the first retry's wait to a tenth:
// the crash test's restarted server takes a killed run's alert over
// within seconds. Never set it otherwise.
const envTestAlertTimeout = "CAIRN_TEST_ALERT_TIMEOUT"

// envTestDriftEvery (test only) sets how often the leader measures a
// watched model version's drift again (rollouts.DefaultDriftEvery
// otherwise): the drift test's server alerts within a second or two.
// Never set it otherwise.
const envTestDriftEvery = "CAIRN_TEST_DRIFT_EVERY"

// testDriftEvery reads envTestDriftEvery (0 when it is not set).
func testDriftEvery() (time.Duration, error) {
	v := os.Getenv(envTestDriftEvery)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a duration", envTestDriftEvery, v)
	}
	return d, nil
}

// alertOptions are the sender's options from the environment.
func alertOptions(o alerts.Options) (alerts.Options, error) {
	o.UserAgent = userAgent()
	if v := os.Getenv(envTestAlertTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("%s=%q: want a duration", envTestAlertTimeout, v)
		}
		o.Timeout, o.ClaimTTL, o.Backoff = d, d, d/10
	}
	return o, nil
}

// sendAlerts delivers run id's alerts before a foreground run exits, for
// at most alertWait; it never changes the run's outcome, only says what
// it could not deliver.
func (a *app) sendAlerts(ctx context.Context, st alerts.Store, id, owner string) {
	if ctx.Err() != nil {
		return // interrupted: the user wants out; a server sends them
	}
	o, err := alertOptions(alerts.Options{Store: st, Owner: owner, PublicURL: os.Getenv(envPublicURL)})
	if err != nil {
		fmt.Fprintf(a.stderr, "cairn: alerts: %v\n", err)
		return
	}
	s, err := alerts.New(o)
	if err != nil {
		fmt.Fprintf(a.stderr, "cairn: alerts: %v\n", err)
		return
	}
	left, err := s.DrainRun(ctx, id, time.Now().Add(alertWait))
	if err != nil {
		fmt.Fprintf(a.stderr, "cairn: alerts of run %s: %v\n", id, err)
	}
	if left > 0 {
		fmt.Fprintf(a.stderr, "%s of run %s not delivered yet: a cairn server on this database sends %s (see 'cairn alerts list --run %s')\n",
			plural(left, "alert"), id, map[bool]string{true: "it", false: "them"}[left == 1], id)
	}
}

func cmdAlerts(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("alerts", "list [flags]", "List the alerts of workflows' notify: — what was sent, what failed and what waits for\n"+
		"a retry — newest first, with the attempts made and the last error. A webhook is shown by its\n"+
		"scheme, host and first path segment only (its URL is often its credential). With --server,\n"+
		"a cairn server's.")
	var (
		run, state string
		limit      int
		before     int64
		asJSON     bool
	)
	fs.StringVar(&run, "run", "", "only the alerts of this run (an id or a unique prefix)")
	fs.StringVar(&state, "state", "", "only alerts in this state: pending, sent, failed")
	fs.IntVar(&limit, "limit", 20, "alerts per page")
	fs.Int64Var(&before, "before", 0, "the page after this alert `ID` (the cursor the previous page printed)")
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"alerts": [...], "next": id or null}`)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) == 0 || pos[0] != "list" {
		return usageError{"want: cairn alerts list [flags]"}
	}
	if len(pos) > 1 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[1])}
	}
	switch cairn.AlertState(state) {
	case "", cairn.AlertPending, cairn.AlertSent, cairn.AlertFailed:
	default:
		return usageError{fmt.Sprintf("--state %q: want pending, sent or failed", state)}
	}
	if limit <= 0 || limit > maxAPIPage {
		return usageError{fmt.Sprintf("--limit must be between 1 and %d", maxAPIPage)}
	}
	var page *runjson.AlertPage
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return err
		}
		page, err = c.Alerts(ctx, client.AlertsQuery{Run: run, State: state, Limit: limit, Before: before})
		if err != nil {
			if errors.Is(err, client.ErrBadInput) {
				return usageError{strings.TrimPrefix(err.Error(), "bad input: ")}
			}
			return remoteErr(err)
		}
	} else {
		l, err := a.openLocal(ctx, true)
		if err != nil {
			return err
		}
		defer l.close()
		if l.st == nil {
			page = &runjson.AlertPage{Alerts: []runjson.Alert{}}
		} else {
			f := cairn.AlertFilter{State: cairn.AlertState(state), Limit: limit, Before: before}
			if run != "" {
				if f.RunID, err = resolveRun(ctx, l.st, run); err != nil {
					return err
				}
			}
			if page, err = core.AlertList(ctx, l.st, f); err != nil {
				return err
			}
		}
	}
	if asJSON {
		return writeJSON(a.stdout, page)
	}
	if len(page.Alerts) == 0 {
		fmt.Fprintln(a.stderr, "no alerts")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRUN\tWORKFLOW\tEVENT\tSTATE\tATTEMPTS\tCREATED\tWEBHOOK\tLAST ERROR")
	for _, al := range page.Alerts {
		ev := al.Event
		if al.Task != "" {
			ev += " (" + al.Task + ")"
		}
		st := al.State
		if al.State == string(cairn.AlertPending) && al.NextAt != nil {
			st += ", next " + al.NextAt.Local().Format("15:04:05")
		}
		last := al.LastError
		switch {
		case last == "":
			last = "-"
		case al.State == string(cairn.AlertSent):
			// An earlier attempt's error: the alert went out after it.
			last = "before: " + last
		}
		run, wf := al.RunID, al.Workflow
		if al.Model != "" { // a per-model alert: its model version in the run's columns
			run, wf = fmt.Sprintf("model %s v%d", al.Model, al.Version), "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", al.ID, run, wf, ev, st, al.Attempts,
			localTime(al.CreatedAt), printable(al.Webhook), cell(last))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != nil {
		cmd := append(append([]string{"cairn"}, a.globalArgs()...), "alerts", "list")
		if run != "" {
			cmd = append(cmd, "--run", shellQuote(run))
		}
		if state != "" {
			cmd = append(cmd, "--state", state)
		}
		fmt.Fprintf(a.stderr, "more: %s --limit %d --before %d%s\n", strings.Join(cmd, " "), limit, *page.Next, rf.serverArg())
	}
	return nil
}
