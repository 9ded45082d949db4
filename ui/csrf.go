package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// browserSession is what the request of a browser signed in on /signin
// carries beside its caller (core.Caller): its session, whose CSRF token
// its forms carry.
type browserSession struct {
	id   string // the session id of a signed-in browser
	csrf string // the session's CSRF token
}

type sessionKey struct{}

// withSession returns ctx carrying s, the session of its caller.
func withSession(ctx context.Context, s browserSession) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// sessionFrom returns the session a request's context carries: none (the
// zero one) for a caller without (a bearer token, no authentication).
func sessionFrom(ctx context.Context) browserSession {
	s, _ := ctx.Value(sessionKey{}).(browserSession)
	return s
}

// CSRFField is the name of the form field (and CSRFHeader the request
// header) carrying the CSRF token of a state-changing request that does
// not come with a bearer token.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ui: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfMarker is what csrfField writes into a page in place of the
// request's CSRF token; render puts the token there. It is random per
// process, so nothing a page shows can spell it.
type csrfMarker string

func newCSRFMarker() csrfMarker { return csrfMarker("cairn-csrf-" + randomToken(18)) }

// field is the hidden input csrfField writes ({{ csrfField }} inside
// every <form method="post">).
func (m csrfMarker) field() template.HTML {
	return template.HTML(`<input type="hidden" name="` + CSRFField + `" value="` + string(m) + `">`)
}

// fill puts the CSRF token of the request in place of the marker.
func (m csrfMarker) fill(page []byte, token string) []byte {
	if !bytes.Contains(page, []byte(m)) {
		return page
	}
	return bytes.ReplaceAll(page, []byte(m), []byte(template.HTMLEscapeString(token)))
}

// csrfToken is the CSRF token the request's forms carry: its session's,
// or for an authenticated caller without a session (no authentication, a
// bearer token) the handler's own; none for a caller not authenticated.
func (h *handler) csrfToken(r *http.Request) string {
	if _, ok := core.CallerFrom(r.Context()); !ok {
		return ""
	}
	if s := sessionFrom(r.Context()); s.csrf != "" {
		return s.csrf
	}
	return h.csrf
}

// safeMethod: a request that changes nothing, which needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// errCSRF is a state-changing request that did not prove it comes from
// one of the server's own pages.
func errCSRF(why string) error {
	return fmt.Errorf("%s; reload the page and try again: %w", why, ErrForbidden)
}

// sameOrigin refuses a request a browser says comes from another site:
// its Sec-Fetch-Site is cross-site or same-site, or its Origin is not
// this server. A request without these headers (not from a browser, or an
// old one) passes: the CSRF token is the check that does not depend on them.
func sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCSRF("the request comes from another site")
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return errCSRF(fmt.Sprintf("the request comes from %s, not from this server", o))
	}
	return nil
}

// checkCSRF is asked of every request that may change something, after
// the caller was authenticated: it must come from this server's origin
// (as far as the browser says) and, unless it came with a bearer token,
// carry the CSRF token of its session in the form field csrf or the
// header X-CSRF-Token. A JSON API call of a server without authentication
// is only checked for its origin, so that scripts and the CLI can call it.
func (h *handler) checkCSRF(c *gin.Context) error {
	r := c.Request
	if safeMethod(r.Method) {
		return nil
	}
	caller, _ := core.CallerFrom(r.Context())
	if caller.Bearer {
		return nil
	}
	if err := sameOrigin(r); err != nil {
		return err
	}
	if sessionFrom(r.Context()).csrf == "" && caller.Actor == core.NoAuthActor && isAPI(c) {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			got = c.PostForm(CSRFField)
		}
	}
	if got == "" {
		if isAPI(c) {
			return fmt.Errorf("the request comes with a session cookie and no CSRF token: a script sends its token as "+
				"'Authorization: Bearer TOKEN' instead (then it needs none), a page of this server sends its X-CSRF-Token header: %w", ErrForbidden)
		}
		return errCSRF("the form carries no CSRF token (a form of this server's pages always does)")
	}
	want := h.csrfToken(r)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errCSRF("the CSRF token is not this session's (it was signed out or the server restarted)")
	}
	return nil
}

// loopbackHost reports whether a request's Host names this machine's
// loopback: localhost, 127.0.0.0/8 or ::1, with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
