package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cairnml/cairn/auth"
)

// TestCSRFField: {{ csrfField }} in a form writes a hidden input whose
// value render replaces with the request's CSRF token; the marker never
// reaches a browser.
func TestCSRFField(t *testing.T) {
	m := newCSRFMarker()
	tmpl := template.Must(template.New("f").Funcs(funcs(m)).Parse(`<form method="post">{{ csrfField }}<button>Go</button></form>`))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		t.Fatal(err)
	}
	got := string(m.fill(b.Bytes(), "tok&en"))
	if want := `<form method="post"><input type="hidden" name="csrf" value="tok&amp;en"><button>Go</button></form>`; got != want {
		t.Errorf("csrfField renders\n%s\nwant\n%s", got, want)
	}

	// A page of a server without authentication carries the handler's
	// token in its meta tag, and no marker.
	f := newFixture(t)
	_, body := f.get(t, "/runs")
	if strings.Contains(body, string(f.h.h.marker)) {
		t.Error("the page shows the CSRF marker")
	}
	if !strings.Contains(body, `<meta name="csrf-token" content="`+f.h.h.csrf+`">`) {
		t.Errorf("the page has no CSRF meta tag with the token:\n%s", body[:min(len(body), 800)])
	}
}

// TestNoAuthRefusesOtherSitesAndHosts: a server without authentication
// answers only through a loopback Host (DNS rebinding), and a request that
// may change something is refused when the browser says it comes from
// another site; a script's call (no such headers) goes through.
func TestNoAuthRefusesOtherSitesAndHosts(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"script", nil, http.StatusNotImplemented}, // reaches the route: no Actions here
		{"same origin", []string{"Origin", f.srv.URL, "Sec-Fetch-Site", "same-origin"}, http.StatusNotImplemented},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"other origin", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"null origin", []string{"Origin", "null"}, http.StatusForbidden},
	} {
		resp, body := f.do(t, http.MethodPost, "/api/v1/runs/x/cancel", nil, c.hdr...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: POST answered %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
		}
	}
	// DNS rebinding: the browser sends the attacker's name as Host.
	for host, status := range map[string]int{"evil.example:80": http.StatusForbidden, "localhost:1": http.StatusOK, "[::1]:8080": http.StatusOK, "127.0.0.2": http.StatusOK} {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/runs", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, status)
		}
	}
}

// A script that calls the API with a session cookie and no CSRF token is
// told what a script does (a bearer token), not about a form it never had;
// a page's form without its token is still told about its form.
func TestCSRFRefusalSaysWhatToDo(t *testing.T) {
	f := newFixture(t, withTokens)
	_, operator := f.token(t, auth.Operator, "olga", 0)
	b := f.browser(t)
	b.signIn(operator, "")
	resp, body := b.do(http.MethodPost, "/api/v1/runs/abcd/cancel", nil, "Content-Type", "application/json")
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != 403 ||
		!strings.Contains(e.Message, "'Authorization: Bearer TOKEN'") || strings.Contains(e.Message, "form") {
		t.Errorf("an API post with a cookie and no CSRF token: %d %v\n%s", resp.StatusCode, err, body)
	}
	resp, body = b.do(http.MethodPost, "/runs/abcd/cancel", url.Values{})
	if resp.StatusCode != 403 || !strings.Contains(body, "the form carries no CSRF token") {
		t.Errorf("a form without its CSRF token: %d\n%s", resp.StatusCode, body)
	}
}
