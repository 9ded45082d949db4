package main

// Who gets into cairn server: the route × role test through the server's
// own handler (the UI's options as cmd_server.go makes them, the health
// routes beside them, a real SQLite store), and the binary's flags for
// TLS and --insecure-no-auth.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
)

// serverHandler is what cmdServer serves: the health routes and the UI
// with the options the flags f give, over a new home's store.
func serverHandler(t *testing.T, f serverFlags) (*sqlite.Store, *ui.Handler, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs, err := artifacts.OpenLogs(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	web, err := ui.New(serverUIOptions(st, logs, f, log, serverMetrics(st, "test:1:x", time.Now(), log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var draining atomic.Bool
	mux := healthMux(st, &draining, slog.New(slog.DiscardHandler))
	mux.Handle("/", web)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return st, web, srv
}

// makeToken stores a token of role; life < 0 makes it expired already.
func makeToken(t *testing.T, st *sqlite.Store, role auth.Role, life time.Duration) (auth.Token, string) {
	t.Helper()
	now := time.Now()
	tok, text, hash, err := auth.New(role, string(role), now, max(life, 0))
	if err != nil {
		t.Fatal(err)
	}
	if life < 0 {
		tok.ExpiresAt = now.Add(life)
	}
	if err := st.CreateToken(context.Background(), tok, hash, cliActor()); err != nil {
		t.Fatal(err)
	}
	return tok, text
}

func request(t *testing.T, c *http.Client, method, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerRoutesByRole walks every route the server's UI lists: a
// route above Open answers 401 without a token and with an expired or a
// revoked one, 403 with a token whose role is below the route's access,
// and neither with a role that has it. The health routes and the open
// ones answer without a token. Before any token exists, everything but
// them is 401.
func TestServerRoutesByRole(t *testing.T) {
	t.Parallel()
	st, web, srv := serverHandler(t, serverFlags{})
	ctx := context.Background()

	routes := web.Routes()
	if len(routes) < 15 || !slices.ContainsFunc(routes, func(r ui.Route) bool { return r.Path == ui.MetricsPath }) {
		t.Fatalf("the UI lists %d routes (/metrics among them?); the test reads them wrong: %v", len(routes), routes)
	}
	// A real run, so that the routes of a run answer as they would.
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	wf, err := workflows.Parse("wf.yaml", []byte("name: roles\ntasks:\n  - id: t\n    type: noop\n"), workflows.Options{Types: reg})
	if err != nil {
		t.Fatal(err)
	}
	run, trs := wf.NewRun(nil, time.Now())
	if err := st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	path := func(r ui.Route) string {
		return strings.NewReplacer(":id", run.ID, ":task", "t", ":name", "roles").Replace(r.Path)
	}
	c := srv.Client()

	// No token in the database: all but the open routes are 401.
	for _, r := range routes {
		status, body := request(t, c, r.Method, srv.URL+path(r))
		if r.Access == core.Open {
			// (A post to an open route, the sign-in form, is a 403 without
			// its form's key: TestSignInRefused in ui.)
			if status == 401 || status == 403 && r.Method == http.MethodGet {
				t.Errorf("%s %s is open but answered %d", r.Method, r.Path, status)
			}
			continue
		}
		if status != 401 {
			t.Errorf("no token exists: %s %s answered %d, want 401", r.Method, r.Path, status)
		}
		if strings.HasPrefix(r.Path, core.APIPrefix) && !strings.Contains(body, "cairn tokens create --role admin") {
			t.Errorf("no token exists: %s %s does not say how to make one: %s", r.Method, r.Path, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := request(t, c, http.MethodGet, srv.URL+p); status != 200 {
			t.Errorf("%s: %d without a token", p, status)
		}
	}

	tokens := map[auth.Role]string{}
	for _, role := range auth.Roles {
		_, tokens[role] = makeToken(t, st, role, 0)
	}
	_, expired := makeToken(t, st, auth.Admin, -time.Second)
	revokedTok, revoked := makeToken(t, st, auth.Admin, 0)
	if _, err := st.RevokeToken(ctx, revokedTok.ID, cliActor()); err != nil {
		t.Fatal(err)
	}
	need := map[core.Access]int{core.Read: auth.Viewer.Level(), core.Operate: auth.Operator.Level(), core.Admin: auth.Admin.Level()}
	checked := map[core.Access]int{}
	for _, r := range routes {
		if r.Access == core.Open {
			continue
		}
		url := srv.URL + path(r)
		for name, text := range map[string]string{"no": "", "an expired": expired, "a revoked": revoked} {
			var hdr []string
			if text != "" {
				hdr = []string{"Authorization", "Bearer " + text}
			}
			if status, body := request(t, c, r.Method, url, hdr...); status != 401 {
				t.Errorf("%s %s with %s token: %d, want 401: %s", r.Method, r.Path, name, status, body)
			}
		}
		for _, role := range auth.Roles {
			status, body := request(t, c, r.Method, url, "Authorization", "Bearer "+tokens[role])
			switch {
			case role.Level() < need[r.Access] && status != 403:
				t.Errorf("%s %s needs %s: a %s token got %d, want 403: %s", r.Method, r.Path, r.Access, role, status, body)
			case role.Level() >= need[r.Access] && (status == 401 || status == 403):
				t.Errorf("%s %s needs %s: a %s token got %d: %s", r.Method, r.Path, r.Access, role, status, body)
			}
		}
		checked[r.Access]++
	}
	if checked[core.Read] < 5 || checked[core.Operate] < 3 || checked[core.Admin] < 2 {
		t.Errorf("routes checked by access: %v; the test reads the routes wrong", checked)
	}
}

// TestServerNoAuthOnlyOnLoopback: --insecure-no-auth is refused with an
// address that is not loopback, before anything listens; --tls-cert and
// --tls-key go together.
func TestServerNoAuthOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:8080"} {
		r := e.must(2, "server", "--insecure-no-auth", "--addr", addr)
		if !strings.Contains(r.stderr, "--insecure-no-auth lets anyone in, so it binds only to a loopback address") || !strings.Contains(r.stderr, addr) {
			t.Errorf("--insecure-no-auth --addr %s:\n%s", addr, r)
		}
	}
	for _, args := range [][]string{{"--tls-cert", "c.pem"}, {"--tls-key", "k.pem"}} {
		if r := e.must(2, append([]string{"server"}, args...)...); !strings.Contains(r.stderr, "--tls-cert and --tls-key go together") {
			t.Errorf("%v:\n%s", args, r)
		}
	}
	if r := e.must(1, "server", "--tls-cert", "missing.pem", "--tls-key", "missing.pem"); !strings.Contains(r.stderr, "--tls-cert missing.pem") {
		t.Errorf("missing certificate files:\n%s", r)
	}
	for addr, ok := range map[string]bool{"127.0.0.1:0": true, "[::1]:8080": true, "localhost:1": true, "127.9.9.9:80": true, ":80": false, "10.0.0.1:80": false, "localhost.evil.example:80": false} {
		if loopbackAddr(addr) != ok {
			t.Errorf("loopbackAddr(%q) = %v", addr, !ok)
		}
	}
}

// TestServerInsecureNoAuth: the binary with --insecure-no-auth on
// loopback lets anyone in through a loopback Host only, says so loudly at
// start and on every page.
func TestServerInsecureNoAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.startServer(nil, "--insecure-no-auth")
	s.waitLog(10*time.Second, "no authentication: --insecure-no-auth lets anyone who can reach this address read and change every run; it serves on loopback only", nil)
	status, body := s.get("/runs")
	if status != 200 || !strings.Contains(body, `id="noauth-banner"`) {
		t.Errorf("/runs without a token: %d\n%s", status, body)
	}
	if status, _ := s.get("/api/v1/runs"); status != 200 {
		t.Errorf("the API without a token: %d", status)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+"/api/v1/runs", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example" // DNS rebinding: the browser sends the page's own name
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("Host attacker.example: %d, want 403", resp.StatusCode)
	}
	s.term()
}

// TestServerTLS serves HTTPS with a certificate made here: the health
// route and the API (with a token the CLI made) answer over TLS with
// HSTS, and plain HTTP on the same port gets nothing it can use. With no
// token yet the server warns at start.
func TestServerTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	certFile, keyFile, pool := selfSignedCert(t)
	p := e.startWith(nil, "server", "--addr", "127.0.0.1:0", "--log-format", "json", "--tls-cert", certFile, "--tls-key", keyFile)
	s := &server{proc: p}
	ready := s.waitLog(30*time.Second, "cairn server ready", nil)
	addr, ok := strings.CutPrefix(ready.str("addr"), "https://")
	if !ok {
		t.Fatalf("the ready line's addr %q is not https", ready.str("addr"))
	}
	s.waitLog(time.Second, "no valid token yet: every page and API route answers 401 until one exists; create the first on this machine: cairn tokens create --role admin", nil)
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if status, body := request(t, c, http.MethodGet, "https://"+addr+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("GET /healthz over TLS: %d %q", status, body)
	}
	if status, _ := request(t, c, http.MethodGet, "https://"+addr+"/api/v1/runs"); status != 401 {
		t.Errorf("the API over TLS without a token: %d", status)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("the API over TLS with a token: %d, TLS %v, HSTS %q", resp.StatusCode, resp.TLS != nil, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port: Go's server answers 400, never a page.
	if status, body := request(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, "http://"+addr+"/api/v1/runs", "Authorization", "Bearer "+token); status != 400 || strings.Contains(body, "runs") {
		t.Errorf("plain HTTP to the TLS port: %d %q", status, body)
	}
	s.term()
	s.waitLog(30*time.Second, "stopped", nil)
	// Go's own complaint (the TLS handshake that was plain HTTP) is a
	// line of --log-format json too, as the server's own lines.
	handshake := false
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil && strings.Contains(line, "TLS handshake") {
			t.Errorf("a log line that is not JSON: %q", line)
		}
		handshake = handshake || strings.Contains(fmt.Sprint(l["msg"]), "TLS handshake error")
	}
	if !handshake {
		t.Errorf("no line logs the plain-HTTP handshake:\n%s", s.stderr.String())
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and
// returns the pool that trusts it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
