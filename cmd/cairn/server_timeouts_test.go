package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The server closes a kept-alive connection once it is idle: a client
// that makes one request and then holds the connection open, sending
// nothing, would otherwise keep it (and a file descriptor) for good, and
// enough such clients take every descriptor the server has.
func TestServerClosesIdleConnections(t *testing.T) {
	t.Parallel()
	if idleTimeout <= 0 || idleTimeout > 10*time.Minute {
		t.Errorf("idleTimeout %s: want a few minutes", idleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := newHTTPServer(ok, context.Background(), slog.New(slog.DiscardHandler), 300*time.Millisecond)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(start.Add(10 * time.Second))
	b, err := io.ReadAll(conn) // the answer, then EOF once the connection idled
	if err != nil {
		t.Fatalf("the server kept an idle connection for %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
		t.Errorf("answer %q", b)
	}
	if srv.ReadHeaderTimeout <= 0 {
		t.Error("no ReadHeaderTimeout: a client that never ends its headers holds its connection")
	}
}
