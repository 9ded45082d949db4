package ui

import (
	"strings"
	"testing"
	"time"
)

// Workflow files sent to validate are parsed a few at a time (one can
// take tens of MB to parse): one that waits past its turn gets a 503
// (busy) that says to try again, and is not read; once a place is free,
// it is parsed.
func TestValidateWaitsItsTurn(t *testing.T) {
	f := newFixture(t)
	defer func(w time.Duration) { parseWait = w }(parseWait)
	parseWait = 100 * time.Millisecond
	held := cap(f.h.h.parsing)
	for range held {
		f.h.h.parsing <- struct{}{} // every place taken
	}
	resp, body := f.do(t, "POST", "/api/v1/workflows/validate?file=a.yaml", strings.NewReader("name: x\ntasks:\n  - {id: a, type: noop}\n"))
	if resp.StatusCode != 503 || !strings.Contains(body, `"busy"`) || !strings.Contains(body, "try again") {
		t.Errorf("validate with every place taken: %d %s", resp.StatusCode, body)
	}
	<-f.h.h.parsing
	resp, body = f.do(t, "POST", "/api/v1/workflows/validate?file=a.yaml", strings.NewReader("name: x\ntasks:\n  - {id: a, type: noop}\n"))
	if resp.StatusCode != 200 || !strings.Contains(body, `"valid": true`) {
		t.Errorf("validate with a place free: %d %s", resp.StatusCode, body)
	}
	if n := len(f.h.h.parsing); n != held-1 {
		t.Errorf("%d places held after the request, want %d: its place was not given back", n, held-1)
	}
}
