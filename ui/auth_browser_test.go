package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn/auth"
)

// TestBrowserSignIn: in a real browser, a page asked for without a
// session shows the sign-in page; pasting a token signs in and shows the
// runs; the session cookie is out of the page script's reach; an admin
// revokes a token with the tokens page's form (its CSRF token is sent);
// signing out leads back to the sign-in page.
func TestBrowserSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t, withTokens)
	runs := f.queuedRuns(t, "signed", 2, time.Now().Add(-time.Minute))
	adminTok, admin := f.token(t, auth.Admin, "ada", 0)
	other, _ := f.token(t, auth.Viewer, "ci", 0)
	url := f.srv.URL

	b.do(t, "open the runs page", chromedp.Navigate(url+"/runs"), chromedp.WaitVisible(chromedp.CSS("input#token")))
	b.shot(t, "signin")
	if got := eval[string](t, b, `document.querySelector('input[name="next"]').value`); got != "/runs" {
		t.Errorf("the sign-in form goes back to %q", got)
	}
	b.do(t, "sign in", chromedp.SendKeys(chromedp.CSS("input#token"), admin), chromedp.Click(chromedp.CSS("form.signin button")),
		chromedp.WaitVisible(chromedp.CSS("table.runs")))
	b.shot(t, "signed-in-runs")
	if n := eval[int](t, b, `document.querySelectorAll("table.runs tbody tr").length`); n != len(runs) {
		t.Errorf("the runs page shows %d runs, want %d", n, len(runs))
	}
	if who := eval[string](t, b, `document.getElementById("signed-in-as").textContent`); who != "ada · admin" {
		t.Errorf("signed in as %q", who)
	}
	if ck := eval[string](t, b, `document.cookie`); strings.Contains(ck, "cairn_session") {
		t.Errorf("the page script sees the session cookie: %q", ck)
	}

	// The tokens page's Revoke form.
	b.do(t, "open the tokens page", chromedp.Click(chromedp.CSS(`nav a[href="/tokens"]`)), chromedp.WaitVisible(chromedp.CSS("table.tokens")))
	b.do(t, "revoke a token", chromedp.Click(chromedp.CSS(`tr[data-token="`+other.ID+`"] button`)), chromedp.WaitVisible(chromedp.CSS("#revoked-notice")))
	b.shot(t, "tokens-revoked")
	if got := eval[string](t, b, `document.querySelector('tr[data-token="`+other.ID+`"]').children[3].textContent`); got != "revoked" {
		t.Errorf("the revoked token shows %q", got)
	}
	b.do(t, "open the audit log", chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	if got := eval[string](t, b, `document.querySelector("table.audit tbody tr").children[2].textContent`); got != adminTok.ID {
		t.Errorf("the newest audit entry is by %q, want the admin's token %s", got, adminTok.ID)
	}

	b.do(t, "sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.CSS("input#token")))
	b.do(t, "open the runs page again", chromedp.Navigate(url+"/runs"), chromedp.WaitVisible(chromedp.CSS("input#token")))
	if n := eval[int](t, b, `document.querySelectorAll("table.runs").length`); n != 0 {
		t.Error("signed out, the runs page still shows runs")
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
