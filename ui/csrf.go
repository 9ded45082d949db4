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
)

// Caller is who makes a request, as authentication found them. The write
// actions record Caller.Actor in the audit log (CallerFrom).
type Caller struct {
	// Actor is what the audit log records: the token's id, or NoAuthActor.
	Actor string
	// Name and Role are the token's ("" when there is none).
	Name, Role string
	// Access is the most the caller may do.
	Access Access
	// Bearer: the credentials came in an Authorization header, which a
	// browser never adds on its own, so no CSRF token is asked for.
	Bearer bool

	session string // the session id of a signed-in browser
	csrf    string // the session's CSRF token
}

// NoAuthActor is the audit log's actor for what a server without
// authentication (cairn server --insecure-no-auth) was asked to do.
const NoAuthActor = "insecure-no-auth"

type callerKey struct{}

// WithCaller returns ctx carrying c, for an Options.Authorize to say who
// the caller is.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller a request's context carries (set by the
// authentication before every route above Open access).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
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
	c, ok := CallerFrom(r.Context())
	switch {
	case !ok:
		return ""
	case c.csrf != "":
		return c.csrf
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
	caller, _ := CallerFrom(r.Context())
	if caller.Bearer {
		return nil
	}
	if err := sameOrigin(r); err != nil {
		return err
	}
	if caller.csrf == "" && caller.Actor == NoAuthActor && isAPI(c) {
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
