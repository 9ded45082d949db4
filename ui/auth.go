package ui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/ui/core"
)

// Defaults of token authentication.
const (
	// DefaultSessionTTL is how long a browser stays signed in (unless
	// it signs out, its token expires or is revoked first, or the
	// server restarts: sessions live in its memory).
	DefaultSessionTTL = 7 * 24 * time.Hour
	// maxSessions bounds the sessions held; past it the oldest goes.
	maxSessions = 10000
	// maxTokenSessions bounds the sessions of one token: past it that
	// token's oldest goes, so that signing in again and again with one
	// token signs out only its own browsers, never everyone's.
	maxTokenSessions = 20
)

// accessOf is what a token's role may do.
func accessOf(r auth.Role) core.Access {
	switch r {
	case auth.Viewer:
		return core.Read
	case auth.Operator:
		return core.Operate
	case auth.Admin:
		return core.Admin
	}
	return core.Open
}

// roleFor names the least role with access a.
func roleFor(a core.Access) auth.Role {
	switch a {
	case core.Operate:
		return auth.Operator
	case core.Admin:
		return auth.Admin
	}
	return auth.Viewer
}

// aRole is a role with its article: "a viewer", "an operator", "an admin".
func aRole(role string) string {
	if strings.ContainsAny(role[:min(1, len(role))], "aeiou") {
		return "an " + role
	}
	return "a " + role
}

// session is a signed-in browser: a random id in its cookie, mapped here
// to the token it signed in with.
type session struct {
	tokenID string
	csrf    string
	expires time.Time
}

// sessions are held in memory: a restart signs everyone out.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	// byToken lists each token's session ids, oldest first.
	byToken  map[string][]string
	max      int
	perToken int
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, byToken: map[string][]string{}, max: maxSessions, perToken: maxTokenSessions}
}

// start makes a session for token t that ends at expires. Past perToken
// sessions of the token its oldest ends; past max in all, the one that
// ends first.
func (s *sessions) start(tokenID string, expires time.Time) (id string, ss *session) {
	id = randomToken(32)
	ss = &session{tokenID: tokenID, csrf: randomToken(32), expires: expires}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ids := s.byToken[tokenID]; len(ids) >= s.perToken {
		s.drop(ids[0])
	}
	if len(s.byID) >= s.max {
		now := time.Now()
		var oldest string
		for k, v := range s.byID {
			if !now.Before(v.expires) {
				s.drop(k)
			} else if oldest == "" || v.expires.Before(s.byID[oldest].expires) {
				oldest = k
			}
		}
		if len(s.byID) >= s.max {
			s.drop(oldest)
		}
	}
	s.byID[id] = ss
	s.byToken[tokenID] = append(s.byToken[tokenID], id)
	return id, ss
}

// drop ends session id; s.mu is held.
func (s *sessions) drop(id string) {
	ss, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	ids := slices.DeleteFunc(s.byToken[ss.tokenID], func(k string) bool { return k == id })
	if len(ids) == 0 {
		delete(s.byToken, ss.tokenID)
	} else {
		s.byToken[ss.tokenID] = ids
	}
}

// get returns session id unless it is unknown or over.
func (s *sessions) get(id string, now time.Time) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if ok && !now.Before(ss.expires) {
		s.drop(id)
		return nil, false
	}
	return ss, ok
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(id)
}

// Cookie names: with TLS the __Host- prefix makes the browser refuse the
// cookie unless it is Secure, for the whole host and path /.
const (
	sessionCookie    = "cairn_session"
	sessionCookieTLS = "__Host-cairn_session"
	signinCookie     = "cairn_signin"
	signinCookieTLS  = "__Host-cairn_signin"
)

func cookieName(r *http.Request, plain, secure string) string {
	if r.TLS != nil {
		return secure
	}
	return plain
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) a cookie: HttpOnly,
// SameSite=Lax, Secure over TLS, for the whole server.
//
// Lax rather than Strict: a link to a run page from a chat or a mail
// opens signed in (Strict would show the sign-in page to someone signed
// in). Lax still keeps the cookie off every cross-site request but a
// top-level GET, and no GET changes anything; every other request needs
// the session's CSRF token as well.
func setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.Request.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// tokenAuthorize is Options.Authorize with Options.Tokens: a bearer token
// (Authorization: Bearer cairn_...) or a signed-in session's cookie,
// whose token must have access need.
func (h *handler) tokenAuthorize(r *http.Request, need core.Access) (*http.Request, error) {
	ctx := r.Context()
	var caller core.Caller
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		scheme, text, _ := strings.Cut(hdr, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, fmt.Errorf("the Authorization header is not 'Bearer TOKEN': %w", ErrUnauthenticated)
		}
		t, err := h.o.Tokens.AuthenticateToken(ctx, text)
		if err != nil {
			return nil, h.unauthenticated(ctx, err)
		}
		caller = core.Caller{Actor: t.ID, Name: t.Name, Role: string(t.Role), Access: accessOf(t.Role), Bearer: true}
	} else {
		ck, err := r.Cookie(cookieName(r, sessionCookie, sessionCookieTLS))
		if err != nil || ck.Value == "" {
			if k, ok := tokenInURL(r.URL.Query()); ok {
				return nil, fmt.Errorf("%s: %w", errTokenInURL(k), ErrUnauthenticated)
			}
			return nil, h.unauthenticated(ctx, nil)
		}
		ss, ok := h.sessions.get(ck.Value, time.Now())
		if !ok {
			return nil, fmt.Errorf("your session ended (signed out, expired, or the server restarted); sign in again: %w", ErrUnauthenticated)
		}
		t, err := h.o.Tokens.ValidToken(ctx, ss.tokenID)
		if err != nil {
			if errors.Is(err, auth.ErrInvalid) {
				h.sessions.end(ck.Value)
			}
			return nil, h.unauthenticated(ctx, err)
		}
		caller = core.Caller{Actor: t.ID, Name: t.Name, Role: string(t.Role), Access: accessOf(t.Role)}
		ctx = withSession(ctx, browserSession{id: ck.Value, csrf: ss.csrf})
	}
	r = r.WithContext(core.WithCaller(ctx, caller))
	if caller.Role == string(auth.Worker) {
		return r, fmt.Errorf("token %s is a worker token: it may call only the worker API (/api/v1/worker/), which cairn worker uses; "+
			"people and scripts need a viewer, operator or admin token: %w", caller.Actor, ErrForbidden)
	}
	if caller.Access < need {
		orAdmin := " (or admin)"
		if need == core.Admin {
			orAdmin = ""
		}
		return r, fmt.Errorf("token %s is %s token; this needs %s token%s: %w", caller.Actor, aRole(caller.Role), aRole(string(roleFor(need))), orAdmin, ErrForbidden)
	}
	return r, nil
}

// tokenInURL says whether a query parameter (its key returned) holds a
// token: one is never taken from a URL, which logs, proxies and browser
// history keep.
func tokenInURL(q url.Values) (string, bool) {
	for k, vs := range q {
		for _, v := range vs {
			if strings.HasPrefix(v, auth.Prefix) {
				return k, true
			}
		}
	}
	return "", false
}

func errTokenInURL(key string) string {
	return fmt.Sprintf("a token in the URL (?%s=) is not accepted, since logs and browser history keep URLs: send it in the header "+
		"'Authorization: Bearer TOKEN' (and if this URL went through a proxy or a browser, revoke the token: cairn tokens revoke ID)", key)
}

// unauthenticated is the 401 of a request without (valid) credentials:
// what was wrong, and with no valid token in the database, how to make
// the first one.
func (h *handler) unauthenticated(ctx context.Context, cause error) error {
	msg := "sign in with a token (Authorization: Bearer TOKEN, or the sign-in page)"
	switch {
	case errors.Is(cause, auth.ErrInvalid):
		msg = cause.Error()
	case cause != nil:
		return cause // the database failed: a 500, logged
	}
	if n, err := h.o.Tokens.CountValidTokens(ctx); err == nil && n == 0 {
		msg += "; this server has no valid token yet: create the first on its machine with 'cairn tokens create --role admin'"
	}
	return fmt.Errorf("%s: %w", msg, ErrUnauthenticated)
}

// localPath is next if it is a path of this server (so that signing in
// cannot send the browser elsewhere), else /runs.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/runs"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/runs"
	}
	return next
}

// signinPage is what the sign-in page shows.
type signinPage struct {
	Next      string
	Message   string // why the visitor is here (401) or what went wrong
	NoTokens  bool   // no valid token exists: say how to make the first
	Mode      string // "tokens", "none" (no authentication), "custom"
	SigninKey string // the double-submit value of the form (the sign-in cookie's)
	SignedIn  *core.Caller
}

func (h *handler) mountSignin(e *gin.Engine) {
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/signin", core.Open, h.pageSignin)
	h.route(g, http.MethodPost, "/signin", core.Open, h.postSignin)
	h.route(g, http.MethodPost, "/signout", core.Read, h.postSignout)
}

func (h *handler) authMode() string {
	switch {
	case h.o.Tokens != nil:
		return "tokens"
	case h.o.Authorize == nil:
		return "none"
	}
	return "custom"
}

// renderSignin shows the sign-in page with status; its form carries a
// fresh double-submit key, also set as a short-lived cookie, which the
// post must bring back in both (a page of another site cannot set the
// cookie nor read the form, so it cannot sign a browser into its own
// session).
func (h *handler) renderSignin(c *gin.Context, status int, msg string) {
	p := signinPage{Next: localPath(c.Query("next")), Message: msg, Mode: h.authMode()}
	if c.Request.Method != http.MethodGet {
		p.Next = localPath(c.PostForm("next"))
	}
	if status == http.StatusUnauthorized && c.Request.Method == http.MethodGet && c.Request.URL.Path != "/signin" {
		u := *c.Request.URL
		if q := u.Query(); len(q) > 0 {
			for k, ok := tokenInURL(q); ok; k, ok = tokenInURL(q) {
				q.Del(k) // never carried on, nor written into the page
			}
			u.RawQuery = q.Encode()
		}
		p.Next = localPath(u.RequestURI())
	}
	if p.Mode == "tokens" {
		ctx := c.Request.Context()
		if n, err := h.o.Tokens.CountValidTokens(ctx); err == nil && n == 0 {
			p.NoTokens = true
		}
		if r, err := h.tokenAuthorize(c.Request, core.Read); err == nil {
			who, _ := core.CallerFrom(r.Context())
			p.SignedIn = &who
		}
		p.SigninKey = randomToken(24)
		setCookie(c, cookieName(c.Request, signinCookie, signinCookieTLS), p.SigninKey, 600)
	}
	h.render(c, status, "signin", "Sign in", p)
}

func (h *handler) pageSignin(c *gin.Context) { h.renderSignin(c, http.StatusOK, "") }

func (h *handler) postSignin(c *gin.Context) {
	if h.o.Tokens == nil {
		h.fail(c, fmt.Errorf("this server does not sign in with tokens: %w", core.ErrBadInput))
		return
	}
	key := c.PostForm(CSRFField)
	ck, err := c.Request.Cookie(cookieName(c.Request, signinCookie, signinCookieTLS))
	if err != nil || key == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(key)) != 1 {
		h.fail(c, errCSRF("the sign-in form is stale or did not come from this server"))
		return
	}
	setCookie(c, cookieName(c.Request, signinCookie, signinCookieTLS), "", -1)
	text := c.PostForm("token")
	if strings.TrimSpace(text) == "" {
		h.renderSignin(c, http.StatusUnauthorized, "Paste a token to sign in.")
		return
	}
	t, err := h.o.Tokens.AuthenticateToken(c.Request.Context(), text)
	if err != nil {
		if !errors.Is(err, auth.ErrInvalid) {
			h.fail(c, err)
			return
		}
		h.renderSignin(c, http.StatusUnauthorized, "That token was not accepted: "+err.Error()+".")
		return
	}
	if t.Role == auth.Worker {
		h.renderSignin(c, http.StatusForbidden, "That is a worker token: it lets a cairn worker lease tasks, and signs nobody in. Sign in with a viewer, operator or admin token.")
		return
	}
	expires := time.Now().Add(h.o.SessionTTL)
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(expires) {
		expires = t.ExpiresAt
	}
	if old, err := c.Request.Cookie(cookieName(c.Request, sessionCookie, sessionCookieTLS)); err == nil {
		h.sessions.end(old.Value) // a new session id at each sign-in
	}
	id, _ := h.sessions.start(t.ID, expires)
	setCookie(c, cookieName(c.Request, sessionCookie, sessionCookieTLS), id, max(1, int(time.Until(expires).Seconds())))
	c.Redirect(http.StatusSeeOther, localPath(c.PostForm("next")))
}

func (h *handler) postSignout(c *gin.Context) {
	if ss := sessionFrom(c.Request.Context()); ss.id != "" {
		h.sessions.end(ss.id)
	}
	setCookie(c, cookieName(c.Request, sessionCookie, sessionCookieTLS), "", -1)
	c.Redirect(http.StatusSeeOther, "/signin")
}
