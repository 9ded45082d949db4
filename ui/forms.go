package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
)

// The buttons of the run and task pages: each a form that posts here and
// is sent back (303) to the run's page, with a flash message saying what
// happened.

// flashCookie carries the message of the page a form sends the browser
// back to, once.
const flashCookie = "cairn_flash"

// Kinds of flash messages.
const (
	flashOK    = "ok"
	flashError = "error"
)

// flash is a message a page shows once, after a form's action.
type flash struct {
	Kind, Msg string
}

// maxFlash bounds a flash message (a cookie holds 4 KiB).
const maxFlash = 1500

func (h *handler) setFlash(c *gin.Context, kind, msg string) {
	if len(msg) > maxFlash {
		cut := maxFlash
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + msg))
	v += "." + h.flashMAC(v)
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: v, Path: "/", MaxAge: 60, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.Request.TLS != nil})
}

// takeFlash returns the request's flash message, if any, and clears it.
func (h *handler) takeFlash(c *gin.Context) *flash {
	ck, err := c.Request.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.Request.TLS != nil})
	v, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(h.flashMAC(v))) {
		return nil // not set by this server: a cookie another site (a sibling domain) planted
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	kind, msg, ok := strings.Cut(string(b), "\x00")
	if !ok || (kind != flashOK && kind != flashError) || !utf8.ValidString(msg) {
		return nil
	}
	return &flash{Kind: kind, Msg: msg}
}

// flashMAC authenticates a flash cookie's value with the handler's key,
// so that a page shows only messages this server set: a cookie can be
// planted by a sibling domain or over plain HTTP, and its text would be
// shown as the server's own ("sign in again at ...").
func (h *handler) flashMAC(v string) string {
	m := hmac.New(sha256.New, h.flashKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// runForm does a run's action for a form and sends the browser back to
// the run's page, with done's message or the error's.
func (h *handler) runForm(c *gin.Context, do func(a core.Actions, id string) error, done func(id string) string) {
	a, ok := h.actions(c)
	if !ok {
		return
	}
	id, err := h.resolve(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := do(a, id); err != nil {
		status, _ := Status(err)
		msg := err.Error()
		if status == http.StatusInternalServerError {
			h.o.Logger.Error("ui: run action", "path", c.Request.URL.Path, "run", id, "err", err)
			msg = "internal error: the server's log has the cause"
		}
		h.setFlash(c, flashError, msg)
	} else {
		h.setFlash(c, flashOK, done(id))
	}
	c.Redirect(http.StatusSeeOther, "/runs/"+url.PathEscape(id))
}

// POST /runs/{id}/cancel: the Cancel button.
func (h *handler) formCancel(c *gin.Context) {
	h.runForm(c, func(a core.Actions, id string) error { return a.Cancel(c.Request.Context(), id) },
		func(id string) string {
			return fmt.Sprintf("Cancel of run %s requested: its running tasks are being stopped.", id)
		})
}

// POST /runs/{id}/retry (field task: one task; none: every failed one):
// the Retry buttons.
func (h *handler) formRetry(c *gin.Context) {
	task := c.PostForm("task")
	h.runForm(c, func(a core.Actions, id string) error { return a.Retry(c.Request.Context(), id, task) },
		func(id string) string {
			if task != "" {
				return fmt.Sprintf("Retrying task %s of run %s (and what it held back), with new attempts.", task, id)
			}
			return fmt.Sprintf("Retrying the failed tasks of run %s, with new attempts.", id)
		})
}

// POST /runs/{id}/resume: the Resume button of an orphaned run.
func (h *handler) formResume(c *gin.Context) {
	h.runForm(c, func(a core.Actions, id string) error { return a.Resume(c.Request.Context(), id) },
		func(id string) string { return fmt.Sprintf("Run %s resumed: this server drives it now.", id) })
}

// runButtons says which buttons a run's page shows.
type runButtons struct {
	Cancel, Retry, Resume bool
	// RetryTask holds the tasks with a Retry button of their own.
	RetryTask map[string]bool
}

// buttons are the actions the caller may take on a run as it is.
func (h *handler) buttons(c *gin.Context, v *runView) runButtons {
	var b runButtons
	if !h.canOperate(c) {
		return b
	}
	r := v.Run
	b.Cancel = !r.State.Terminal()
	b.Resume = v.Orphaned || (r.State == cairn.RunRunning && r.Owner == "")
	if r.State.CanRetry() {
		b.RetryTask = map[string]bool{}
		for _, tr := range v.Tasks {
			if tr.State.CanRetry() {
				b.Retry = true
			}
			if tr.State == cairn.TaskFailed || tr.State == cairn.TaskCancelled {
				b.RetryTask[tr.TaskID] = true
			}
		}
	}
	return b
}
