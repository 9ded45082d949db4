package ui

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A page shows a flash message only if this server set it: a flash
// cookie planted by another site (a sibling domain, or over plain HTTP)
// would otherwise put its text on the server's page as the server's own.
func TestFlashOnlyFromThisServer(t *testing.T) {
	f := newFixture(t)
	get := func(cookie string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/runs", nil)
		req.AddCookie(&http.Cookie{Name: flashCookie, Value: cookie})
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v := base64.RawURLEncoding.EncodeToString([]byte("ok\x00Your session ended: sign in again at evil.example"))
	for name, cookie := range map[string]string{
		"no MAC":        v,
		"another's MAC": v + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"empty MAC":     v + ".",
	} {
		if page := get(cookie); strings.Contains(page, "evil.example") || strings.Contains(page, `id="flash"`) {
			t.Errorf("a planted flash cookie (%s) is shown", name)
		}
	}
	if page := get(v + "." + f.h.h.flashMAC(v)); !strings.Contains(page, "sign in again at evil.example") {
		t.Error("a flash this server set is not shown")
	}
}
