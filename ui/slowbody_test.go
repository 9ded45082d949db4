package ui

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that sends a body slowly, or never, does not hold its
// connection for long: the body has Options.BodyTimeout to arrive, then
// the server answers or closes the connection. The route here refuses
// the request before it reads the body; Go's server still reads what is
// left of it before answering, which is what held the connection.
func TestSlowBodyLetGo(t *testing.T) {
	for _, path := range []string{"/api/v1/runs", "/api/v1/workflows/validate", "/signin"} {
		t.Run(strings.Trim(path, "/"), func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.BodyTimeout = 300 * time.Millisecond })
			conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
				"Content-Length: 100000\r\n\r\n{"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			conn.SetReadDeadline(start.Add(10 * time.Second))
			if _, err := io.ReadAll(conn); err != nil { // an answer or none, then the connection closes
				t.Fatalf("the server held the connection of a body that never came for %s: %v", time.Since(start).Round(time.Millisecond), err)
			}
		})
	}
}
