package ui

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser is the browser of the browser tests, for those of package
// ui_test, which drive the UI over the real write side (package actions,
// which imports this one).
type Browser struct{ b *browser }

// StartBrowser starts chromium for the test (see newBrowser).
func StartBrowser(t *testing.T) *Browser { return &Browser{b: newBrowser(t)} }

// Do runs steps, bounded in time.
func (tb *Browser) Do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tb.b.do(t, what, steps...)
}

// WaitFor waits until a JavaScript expression is true in the page.
func (tb *Browser) WaitFor(t *testing.T, what, expr string) {
	t.Helper()
	tb.b.waitFor(t, what, expr)
}

// Shot saves a screenshot of the page as name.png.
func (tb *Browser) Shot(t *testing.T, name string) {
	t.Helper()
	tb.b.shot(t, name)
}

// Dialogs returns the messages of the dialogs the pages opened; with
// dismiss, the next ones are answered Cancel (else OK).
func (tb *Browser) Dialogs() []string {
	tb.b.mu.Lock()
	defer tb.b.mu.Unlock()
	return append([]string(nil), tb.b.dialogs...)
}

// Dismiss says how the next dialogs are answered: Cancel (true) or OK.
func (tb *Browser) Dismiss(dismiss bool) {
	tb.b.mu.Lock()
	tb.b.dismiss = dismiss
	tb.b.mu.Unlock()
}

// Blocked returns what the pages' console says was refused.
func (tb *Browser) Blocked() []string { return tb.b.blocked() }

// String, Bool and Int evaluate a JavaScript expression in the page.
func (tb *Browser) String(t *testing.T, expr string) string {
	t.Helper()
	return eval[string](t, tb.b, expr)
}

func (tb *Browser) Bool(t *testing.T, expr string) bool {
	t.Helper()
	return eval[bool](t, tb.b, expr)
}

func (tb *Browser) Int(t *testing.T, expr string) int {
	t.Helper()
	return eval[int](t, tb.b, expr)
}

// RGB is the "rgb(r, g, b)" getComputedStyle gives for "#rrggbb".
func RGB(hex string) string { return rgb(hex) }

// ClickLive clicks the element sel names on a page that htmx may swap
// under it (a live run page, polled): see clickLive.
func ClickLive(sel string) chromedp.Action[chromedp.Void] { return clickLive(sel) }
