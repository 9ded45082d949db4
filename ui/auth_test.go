package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// The SQLite store is what token authentication and the audit log read.
var (
	_ core.Tokens      = (*sqlite.Store)(nil)
	_ core.AuditReader = (*sqlite.Store)(nil)
)

// withTokens authenticates with the fixture's store's tokens.
func withTokens(o *Options) {
	o.Tokens = o.Store.(*sqlite.Store)
	o.Audit = o.Store.(*sqlite.Store)
}

// token makes a token of role in the fixture's store; life < 0: expired.
func (f *fixture) token(t *testing.T, role auth.Role, name string, life time.Duration) (auth.Token, string) {
	t.Helper()
	now := time.Now()
	tok, text, hash, err := auth.New(role, name, now, max(life, 0))
	if err != nil {
		t.Fatal(err)
	}
	if life < 0 {
		tok.ExpiresAt = now.Add(life)
	}
	if err := f.st.CreateToken(context.Background(), tok, hash, "cli:test@host"); err != nil {
		t.Fatal(err)
	}
	return tok, text
}

// browserClient keeps cookies and does not follow redirects, as a test
// of what each answer says.
type browserClient struct {
	t   *testing.T
	f   *fixture
	c   *http.Client
	jar *cookiejar.Jar
}

func (f *fixture) browser(t *testing.T) *browserClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browserClient{t: t, f: f, c: &c, jar: jar}
}

func (b *browserClient) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(out)
}

var (
	signinKeyRE = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)
	metaCSRFRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)
)

// signIn signs the browser in with token text, as a person does: the
// sign-in page, then its form.
func (b *browserClient) signIn(text, next string) *http.Response {
	b.t.Helper()
	_, page := b.do(http.MethodGet, "/signin", nil)
	m := signinKeyRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the sign-in page has no form key:\n%s", page)
	}
	resp, body := b.do(http.MethodPost, "/signin", url.Values{"csrf": {m[1]}, "token": {text}, "next": {next}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in: %d\n%s", resp.StatusCode, body)
	}
	return resp
}

// csrf is the CSRF token of the page at path.
func (b *browserClient) csrf(path string) string {
	b.t.Helper()
	_, page := b.do(http.MethodGet, path, nil)
	m := metaCSRFRE.FindStringSubmatch(page)
	if m == nil || m[1] == "" {
		b.t.Fatalf("%s has no CSRF token:\n%s", path, page)
	}
	return m[1]
}

// TestNoTokenYet: a server with no token lets nobody in: every route
// but the open ones answers 401, and the sign-in page (which is what a
// page answers) says how to make the first token.
func TestNoTokenYet(t *testing.T) {
	f := newFixture(t, withTokens)
	resp, body := f.get(t, "/api/v1/runs")
	if resp.StatusCode != 401 || !strings.Contains(body, "cairn tokens create --role admin") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("API without a token: %d %q\n%s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, body = f.get(t, "/runs?state=failed")
	if resp.StatusCode != 401 || !strings.Contains(body, `id="no-tokens"`) || !strings.Contains(body, `name="next" value="/runs?state=failed"`) {
		t.Errorf("a page without a token: %d\n%s", resp.StatusCode, body)
	}
	for _, open := range []string{"/signin", "/static/app.css"} {
		if resp, _ := f.get(t, open); resp.StatusCode != 200 {
			t.Errorf("%s: %d", open, resp.StatusCode)
		}
	}
	// Once a token exists the hint goes.
	f.token(t, auth.Viewer, "", 0)
	if _, body := f.get(t, "/signin"); strings.Contains(body, `id="no-tokens"`) {
		t.Error("the sign-in page still says there is no token")
	}
	if _, body := f.get(t, "/api/v1/runs"); strings.Contains(body, "cairn tokens create") {
		t.Errorf("the 401 still says there is no token: %s", body)
	}
}

// TestBearerTokens: the API with Authorization: Bearer; expired, revoked,
// unknown and malformed tokens are 401; a role below the route's access 403.
func TestBearerTokens(t *testing.T) {
	f := newFixture(t, withTokens)
	_, viewer := f.token(t, auth.Viewer, "v", 0)
	_, operator := f.token(t, auth.Operator, "o", 0)
	_, expired := f.token(t, auth.Admin, "old", -time.Minute)
	_, worker := f.token(t, auth.Worker, "gpu-box", 0)
	revokedTok, revoked := f.token(t, auth.Admin, "gone", 0)
	if _, err := f.st.RevokeToken(context.Background(), revokedTok.ID, "cli:test@host"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, hdr, method, path string
		status                  int
		want                    string
	}{
		{"viewer reads", "Bearer " + viewer, "GET", "/api/v1/runs", 200, ""},
		{"lower-case scheme", "bearer " + viewer, "GET", "/api/v1/runs", 200, ""},
		{"viewer may not cancel", "Bearer " + viewer, "POST", "/api/v1/runs/x/cancel", 403, "needs an operator token"},
		{"operator cancels (no CSRF token with a bearer)", "Bearer " + operator, "POST", "/api/v1/runs/x/cancel", 501, ""},
		{"operator may not list tokens", "Bearer " + operator, "GET", "/api/v1/tokens", 403, "is an operator token; this needs an admin token: forbidden"},
		{"viewer may not list tokens", "Bearer " + viewer, "GET", "/api/v1/tokens", 403, "is a viewer token; this needs an admin token: forbidden"},
		{"viewer may not trigger", "Bearer " + viewer, "POST", "/api/v1/workflows/w/runs", 403, "is a viewer token; this needs an operator token (or admin): forbidden"},
		{"a worker token reads nothing", "Bearer " + worker, "GET", "/api/v1/runs", 403, "is a worker token: it may call only the worker API"},
		{"a worker token changes nothing", "Bearer " + worker, "POST", "/api/v1/runs/x/cancel", 403, "is a worker token"},
		{"a worker token lists no token", "Bearer " + worker, "GET", "/api/v1/tokens", 403, "is a worker token"},
		{"expired", "Bearer " + expired, "GET", "/api/v1/runs", 401, "expired"},
		{"revoked", "Bearer " + revoked, "GET", "/api/v1/runs", 401, "revoked"},
		{"unknown", "Bearer cairn_0123456789abcdef_" + strings.Repeat("a", 52), "GET", "/api/v1/runs", 401, "not this secret"},
		{"wrong secret", "Bearer " + viewer[:len(viewer)-2] + "zz", "GET", "/api/v1/runs", 401, "not this secret"},
		{"malformed", "Bearer hunter2", "GET", "/api/v1/runs", 401, "not a cairn token"},
		{"basic", "Basic dXNlcjpwYXNz", "GET", "/api/v1/runs", 401, "Bearer"},
	} {
		resp, body := f.do(t, c.method, c.path, nil, "Authorization", c.hdr)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q: %s", c.name, resp.StatusCode, c.status, c.want, body)
		}
	}
}

// TestSignInSessionAndCSRF: a person signs in with a token on the
// sign-in page; the session cookie's attributes; the CSRF token of the
// session is asked on every post (none or another: 403; its own: on);
// signing out ends the session; revoking the token ends it too.
func TestSignInSessionAndCSRF(t *testing.T) {
	f := newFixture(t, withTokens)
	opTok, operator := f.token(t, auth.Operator, "olga", 0)
	b := f.browser(t)

	resp := b.signIn(operator, "/runs?state=failed")
	if loc := resp.Header.Get("Location"); loc != "/runs?state=failed" {
		t.Errorf("signed in, sent to %q", loc)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cairn_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" || ck.MaxAge <= 0 || len(ck.Value) < 40 {
		t.Fatalf("session cookie: %+v", ck)
	}
	if strings.Contains(ck.Value, operator[20:]) {
		t.Error("the cookie holds the token")
	}
	resp, page := b.do(http.MethodGet, "/runs", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `<span id="signed-in-as" title="token `+opTok.ID+`">olga · operator</span>`) {
		t.Fatalf("signed in, /runs: %d\n%s", resp.StatusCode, page)
	}
	token := b.csrf("/runs")
	if token == f.h.h.csrf {
		t.Error("the session's CSRF token is the server's own")
	}

	// A post with the cookie: 403 without the session's CSRF token or
	// with another, on with it (501: this fixture has no Actions).
	for _, c := range []struct {
		name   string
		form   url.Values
		hdr    []string
		status int
	}{
		{"no token", url.Values{}, nil, 403},
		{"wrong token", url.Values{"csrf": {"x" + token}}, nil, 403},
		{"the server's own token", url.Values{"csrf": {f.h.h.csrf}}, nil, 403},
		{"form field", url.Values{"csrf": {token}}, nil, 501},
		{"header", nil, []string{CSRFHeader, token}, 501},
		{"right token from another site", url.Values{"csrf": {token}}, []string{"Origin", "https://evil.example"}, 403},
	} {
		resp, body := b.do(http.MethodPost, "/api/v1/runs/x/cancel", c.form, c.hdr...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
		}
	}

	// Sign out: a post like any other.
	if resp, _ := b.do(http.MethodPost, "/signout", url.Values{}); resp.StatusCode != 403 {
		t.Errorf("sign-out without a CSRF token: %d", resp.StatusCode)
	}
	resp, _ = b.do(http.MethodPost, "/signout", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.do(http.MethodGet, "/runs", nil); resp.StatusCode != 401 {
		t.Errorf("signed out, /runs: %d", resp.StatusCode)
	}
	// The old cookie, replayed, is dead too.
	replay := f.browser(t)
	replay.jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: "cairn_session", Value: ck.Value}})
	if resp, _ := replay.do(http.MethodGet, "/runs", nil); resp.StatusCode != 401 {
		t.Errorf("a signed-out session's cookie: %d", resp.StatusCode)
	}

	// Revoking the token ends its sessions at once.
	b.signIn(operator, "")
	if resp, _ := b.do(http.MethodGet, "/runs", nil); resp.StatusCode != 200 {
		t.Fatal("signed in again")
	}
	if _, err := f.st.RevokeToken(context.Background(), opTok.ID, "cli:test@host"); err != nil {
		t.Fatal(err)
	}
	if resp, body := b.do(http.MethodGet, "/runs", nil); resp.StatusCode != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("the token revoked, /runs: %d\n%s", resp.StatusCode, body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSignInRefused: the sign-in form needs its own key (cookie and
// field: another site cannot sign a browser in), a valid token, and
// sends the browser nowhere but this server.
func TestSignInRefused(t *testing.T) {
	f := newFixture(t, withTokens)
	_, viewer := f.token(t, auth.Viewer, "", 0)
	_, expired := f.token(t, auth.Viewer, "", -time.Second)
	b := f.browser(t)
	if resp, _ := b.do(http.MethodPost, "/signin", url.Values{"token": {viewer}}); resp.StatusCode != 403 {
		t.Errorf("a sign-in without the form's key: %d", resp.StatusCode)
	}
	_, page := b.do(http.MethodGet, "/signin", nil)
	key := signinKeyRE.FindStringSubmatch(page)[1]
	if resp, _ := b.do(http.MethodPost, "/signin", url.Values{"token": {viewer}, "csrf": {key + "x"}}); resp.StatusCode != 403 {
		t.Errorf("a sign-in with another key: %d", resp.StatusCode)
	}
	other := f.browser(t) // no cookie: a form posted from elsewhere
	if resp, _ := other.do(http.MethodPost, "/signin", url.Values{"token": {viewer}, "csrf": {key}}); resp.StatusCode != 403 {
		t.Errorf("a sign-in without the cookie: %d", resp.StatusCode)
	}
	for text, want := range map[string]string{expired: "expired", "nonsense": "not a cairn token", "": "Paste a token"} {
		_, page := b.do(http.MethodGet, "/signin", nil)
		key := signinKeyRE.FindStringSubmatch(page)[1]
		resp, body := b.do(http.MethodPost, "/signin", url.Values{"token": {text}, "csrf": {key}})
		if resp.StatusCode != 401 || !strings.Contains(body, want) || strings.Contains(body, "cairn_session") {
			t.Errorf("sign in with %q: %d, want 401 saying %q\n%s", text, resp.StatusCode, want, body)
		}
	}
	_, worker := f.token(t, auth.Worker, "", 0)
	_, page = b.do(http.MethodGet, "/signin", nil)
	key = signinKeyRE.FindStringSubmatch(page)[1]
	if resp, body := b.do(http.MethodPost, "/signin", url.Values{"token": {worker}, "csrf": {key}}); resp.StatusCode != 403 ||
		!strings.Contains(body, "That is a worker token") || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), "cairn_session=") {
		t.Errorf("sign in with a worker token: %d\n%s", resp.StatusCode, body)
	}
	for next, want := range map[string]string{"//evil.example/x": "/runs", "https://evil.example": "/runs", "/\\evil.example": "/runs", "/runs/abc?x=1": "/runs/abc?x=1", "": "/runs"} {
		if loc := b.signIn(viewer, next).Header.Get("Location"); loc != want {
			t.Errorf("next=%q sent the browser to %q, want %q", next, loc, want)
		}
	}
}

// TestTLSCookiesAndHSTS: over TLS the session cookie is Secure with the
// __Host- prefix, and pages say Strict-Transport-Security.
func TestTLSCookiesAndHSTS(t *testing.T) {
	f := newFixture(t, withTokens)
	_, admin := f.token(t, auth.Admin, "", 0)
	tls := httptest.NewTLSServer(f.h)
	t.Cleanup(tls.Close)
	f.srv = tls
	b := f.browser(t)
	resp := b.signIn(admin, "")
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-cairn_session" {
			ck = c
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.Path != "/" {
		t.Fatalf("the session cookie over TLS: %+v", resp.Cookies())
	}
	resp, _ = b.do(http.MethodGet, "/runs", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("over TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
		if resp.Header.Get(k) != v {
			t.Errorf("%s: %q", k, resp.Header.Get(k))
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	// Plain HTTP says no HSTS (it would be ignored, and is wrong there).
	if resp, _ := newFixture(t).get(t, "/runs"); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
}

// TestTokensPageAndAudit: an admin lists tokens (never a secret, names
// escaped) and revokes one with the page's form; the revocation is in
// the audit log by the admin's token, on the audit page and the API,
// newest first and paged.
func TestTokensPageAndAudit(t *testing.T) {
	f := newFixture(t, withTokens)
	adminTok, admin := f.token(t, auth.Admin, "ada", 0)
	victim, victimText := f.token(t, auth.Viewer, `<script>alert("name")</script>`, 0)
	b := f.browser(t)
	b.signIn(admin, "")
	resp, page := b.do(http.MethodGet, "/tokens", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `data-token="`+victim.ID+`"`) || strings.Contains(page, `<script>alert("name")`) ||
		!strings.Contains(page, `&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`) {
		t.Fatalf("tokens page: %d\n%s", resp.StatusCode, page)
	}
	if _, secret, _ := auth.Parse(victimText); strings.Contains(page, secret) || strings.Contains(page, auth.Hash(secret)) {
		t.Error("the tokens page shows a secret or hash")
	}
	form := regexp.MustCompile(`<form method="post" action="/tokens/` + victim.ID + `/revoke"><input type="hidden" name="csrf" value="([^"]+)">`).FindStringSubmatch(page)
	if form == nil {
		t.Fatalf("no revoke form with a CSRF token for %s", victim.ID)
	}
	if resp, _ := b.do(http.MethodPost, "/tokens/"+victim.ID+"/revoke", url.Values{}); resp.StatusCode != 403 {
		t.Errorf("revoke without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ = b.do(http.MethodPost, "/tokens/"+victim.ID+"/revoke", url.Values{"csrf": {form[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := f.st.AuthenticateToken(context.Background(), victimText); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("the token after the page revoked it: %v", err)
	}

	// The audit log: the page and the API, by the admin's token.
	var p runjson.AuditPage
	f.getJSONAuth(t, "/api/v1/audit?limit=2", admin, &p)
	if len(p.Entries) != 2 || p.Entries[0].Action != scheduler.AuditTokenRevoke || p.Entries[0].Actor != adminTok.ID || p.Next == nil {
		t.Fatalf("audit API: %+v", p)
	}
	var p2 runjson.AuditPage
	f.getJSONAuth(t, "/api/v1/audit?limit=2&before="+itoa(*p.Next), admin, &p2)
	if len(p2.Entries) != 1 || p2.Entries[0].Action != scheduler.AuditTokenCreate || p2.Next != nil {
		t.Errorf("audit API, second page: %+v", p2)
	}
	resp, page = b.do(http.MethodGet, "/audit?limit=2", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `title="admin token ada">`+adminTok.ID) || !strings.Contains(page, `id="audit-older"`) ||
		strings.Index(page, "token.revoke") > strings.Index(page, "token.create") {
		t.Errorf("audit page: %d\n%s", resp.StatusCode, page)
	}
	if resp, body := b.do(http.MethodGet, "/audit?limit=0", nil); resp.StatusCode != 400 {
		t.Errorf("audit?limit=0: %d %s", resp.StatusCode, body)
	}
	var list runjson.TokenList
	f.getJSONAuth(t, "/api/v1/tokens", admin, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].ID != victim.ID || list.Tokens[0].State != "revoked" || list.Tokens[1].LastUsedAt == nil {
		t.Errorf("tokens API: %+v", list)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// getJSONAuth is getJSON with a bearer token, wanting 200.
func (f *fixture) getJSONAuth(t *testing.T, path, token string, v any) {
	t.Helper()
	resp, body := f.get(t, path, "Authorization", "Bearer "+token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// The audit log's run filter takes a unique prefix of a run's id, as
// every other run filter does (a prefix listed nothing, without a word);
// one that names no run is a 400.
func TestAuditRunPrefix(t *testing.T) {
	f := newFixture(t, withTokens)
	_, viewer := f.token(t, auth.Viewer, "vera", 0)
	run := f.run(t, pipelineWF, map[string]string{"greeting": "hi"})
	if err := f.st.Batch(context.Background(), func(tx scheduler.Tx) error {
		_, err := tx.AddAudit(scheduler.Audit{Actor: "someone", Action: scheduler.AuditCancel, RunID: run.ID})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Entries []struct {
			RunID *string `json:"run_id"`
		}
	}
	f.getJSONAuth(t, "/api/v1/audit?run="+run.ID[:8], viewer, &p)
	if len(p.Entries) != 1 || p.Entries[0].RunID == nil || *p.Entries[0].RunID != run.ID {
		t.Errorf("audit of run %s by the prefix %s: %+v", run.ID, run.ID[:8], p)
	}
	resp, body := f.get(t, "/api/v1/audit?run=zzzzzzzz", "Authorization", "Bearer "+viewer)
	if resp.StatusCode != 400 || !strings.Contains(body, `names no run`) {
		t.Errorf("audit of no run: %d %s", resp.StatusCode, body)
	}
}

// A token in a query string is never taken, and the 401 says where a
// token goes instead, on the API, a page and /metrics alike.
func TestTokenInURLRefused(t *testing.T) {
	f := newFixture(t, withTokens)
	_, viewer := f.token(t, auth.Viewer, "vera", 0)
	for _, path := range []string{"/api/v1/runs?token=", "/api/v1/runs?limit=5&access_token=", "/runs?token=", "/api/v1/workflows?t="} {
		resp, body := f.get(t, path+url.QueryEscape(viewer))
		if resp.StatusCode != 401 || !strings.Contains(body, "is not accepted, since logs and browser history keep URLs") ||
			strings.Contains(body, viewer) {
			t.Errorf("GET %s…: %d\n%s", path, resp.StatusCode, body)
		}
	}
}

// The tokens page says a token was revoked only when it is: ?revoked= is
// a link anyone can write, and it told an admin that any id, a valid
// token's or none, "is revoked: it is refused from now on".
func TestTokensRevokedNoticeIsTrue(t *testing.T) {
	f := newFixture(t, withTokens)
	_, admin := f.token(t, auth.Admin, "ada", 0)
	gone, _ := f.token(t, auth.Viewer, "gone", 0)
	kept, _ := f.token(t, auth.Viewer, "kept", 0)
	if _, err := f.st.RevokeToken(context.Background(), gone.ID, "cli:test@host"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{gone.ID: true, kept.ID: false, "0123456789abcdef": false, "<b>x</b>": false} {
		resp, page := f.get(t, "/tokens?revoked="+url.QueryEscape(id), "Authorization", "Bearer "+admin)
		if resp.StatusCode != 200 || strings.Contains(page, `id="revoked-notice"`) != want {
			t.Errorf("tokens?revoked=%s: %d, notice shown %v, want %v", id, resp.StatusCode, !want, want)
		}
	}
}

// A form posted after its session ended (a restart, an expired token)
// gets a 401 page with a link to sign in again and come back to the page
// the form was on (it linked to the runs list only).
func TestEndedSessionFormSaysSignIn(t *testing.T) {
	f := newFixture(t, withTokens)
	f.token(t, auth.Operator, "olga", 0)
	b := f.browser(t)
	b.jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: "cairn_session", Value: "ended"}})
	resp, page := b.do(http.MethodPost, "/runs/abcd1234/cancel", url.Values{"csrf": {"x"}}, "Referer", f.srv.URL+"/runs/abcd1234?x=1")
	if resp.StatusCode != 401 || !strings.Contains(page, `<a id="signin-again" href="/signin?next=%2fruns%2fabcd1234%3fx%3d1">Sign in again</a>`) {
		t.Errorf("a form of an ended session: %d\n%s", resp.StatusCode, page)
	}
	resp, page = b.do(http.MethodPost, "/runs/abcd1234/cancel", url.Values{"csrf": {"x"}}, "Referer", "https://evil.example/runs/x")
	if resp.StatusCode != 401 || !strings.Contains(page, `href="/signin?next=%2fruns"`) {
		t.Errorf("with another site's Referer: %d\n%s", resp.StatusCode, page)
	}
}

// Submitting a file of the caller's own (POST /api/v1/runs, cairn run
// --server) needs an admin token: the file is code the server runs as its
// own user, and gets the secret params of its environment it declares. An
// operator, who triggers the workflows of the server's folder, ran any
// command that way, read the server's secrets (redaction does not stop a
// task that prints one reversed) and could write itself an admin token
// into the database.
func TestSubmitNeedsAdmin(t *testing.T) {
	f := newFixture(t, withTokens)
	_, operator := f.token(t, auth.Operator, "olga", 0)
	_, admin := f.token(t, auth.Admin, "ada", 0)
	body := `{"file": "x.yaml", "source": "name: x\ntasks:\n  - {id: a, type: shell, with: {argv: [id]}}\n"}`
	resp, got := f.do(t, "POST", "/api/v1/runs", strings.NewReader(body), "Authorization", "Bearer "+operator)
	if resp.StatusCode != 403 || !strings.Contains(got, "this needs an admin token") {
		t.Errorf("an operator submits a file: %d\n%s", resp.StatusCode, got)
	}
	resp, got = f.do(t, "POST", "/api/v1/runs", strings.NewReader(body), "Authorization", "Bearer "+admin)
	if resp.StatusCode != 501 { // past authorization: this fixture has no Actions
		t.Errorf("an admin submits a file: %d\n%s", resp.StatusCode, got)
	}
	resp, got = f.do(t, "POST", "/api/v1/workflows/w/runs", strings.NewReader(`{}`), "Authorization", "Bearer "+operator)
	if resp.StatusCode != 501 {
		t.Errorf("an operator triggers: %d\n%s", resp.StatusCode, got)
	}
}

// One token signing in again and again ends only its own oldest sessions,
// never another token's: 10,050 sign-ins with a viewer's token no longer
// sign an operator's browser out (trial finding 15).
func TestSessionsBoundedPerToken(t *testing.T) {
	s := newSessions()
	far := time.Now().Add(time.Hour)
	op, _ := s.start("operator", far)
	var first, last []string
	for i := range maxSessions + 50 {
		id, _ := s.start("viewer", far)
		if i < 2 {
			first = append(first, id)
		}
		last = append(last, id)
	}
	last = last[len(last)-maxTokenSessions:]
	now := time.Now()
	if _, ok := s.get(op, now); !ok {
		t.Fatal("another token's sign-ins ended the operator's session")
	}
	for _, id := range first {
		if _, ok := s.get(id, now); ok {
			t.Errorf("the viewer's oldest session lives on past %d", maxTokenSessions)
		}
	}
	for _, id := range last {
		if _, ok := s.get(id, now); !ok {
			t.Errorf("one of the viewer's %d newest sessions ended", maxTokenSessions)
		}
	}
	if len(s.byID) != maxTokenSessions+1 || len(s.byToken["viewer"]) != maxTokenSessions {
		t.Errorf("sessions held: %d, the viewer's %d", len(s.byID), len(s.byToken["viewer"]))
	}
	// Ended sessions leave the token's list.
	for _, id := range last {
		s.end(id)
	}
	s.end(op)
	if len(s.byID) != 0 || len(s.byToken) != 0 {
		t.Errorf("after every sign-out: %d sessions, %d tokens listed", len(s.byID), len(s.byToken))
	}
}
