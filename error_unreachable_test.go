package cairn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestUnreachable(t *testing.T) {
	// A port nothing listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	if refused == nil || !Unreachable(fmt.Errorf("get: %w", refused)) {
		t.Errorf("refused connection %v: not unreachable", refused)
	}
	dns := &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}
	if !Unreachable(fmt.Errorf("get: %w", dns)) {
		t.Error("a name that does not resolve is not unreachable")
	}
	for _, err := range []error{
		context.DeadlineExceeded,
		&net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true},
		errors.New("connection reset by peer"),
		nil,
	} {
		if Unreachable(err) {
			t.Errorf("%v counts as unreachable", err)
		}
	}
}
