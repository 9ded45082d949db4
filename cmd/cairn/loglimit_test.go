package main

import (
	"strings"
	"testing"
)

// A task printing 5 MiB under --log-limit 1MiB leaves a log of about 1 MiB:
// its first bytes, a line counting what was dropped, its last MiB… here
// its last 512 KiB (half the limit), and the failure.
func TestLogLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(1, "run", testdata(t, "flood.yaml"), "--log-limit", "1MiB", "--progress", "none")
	id := runIDOf(t, r.stderr)
	logs := e.must(0, "logs", id, "flood").stdout
	const printed = 5<<20 + len("last line\n")
	if !strings.Contains(logs, "[cairn: 4194314 bytes dropped: the log keeps the first 512 KiB and the last 512 KiB") {
		t.Errorf("no marker counting %d bytes dropped in the log", printed-1<<20)
	}
	if !strings.HasPrefix(logs, "some output\nsome output\n") || !strings.Contains(logs, "some outlast line\n\ncairn: attempt 1 failed") {
		t.Errorf("the log does not keep the output's beginning and end: %q … %q", logs[:min(len(logs), 40)], logs[max(0, len(logs)-200):])
	}
	if len(logs) > 1<<20+400 {
		t.Errorf("the log holds %d bytes, want about the 1 MiB limit", len(logs))
	}
	// Bad sizes are refused with the expected form.
	bad := e.must(2, "run", testdata(t, "flood.yaml"), "--log-limit", "lots")
	if !strings.Contains(bad.stderr, "want a size such as 64MiB") {
		t.Errorf("--log-limit lots:\n%s", bad)
	}
	if bad := e.must(2, "run", testdata(t, "flood.yaml"), "--stop-grace", "0"); !strings.Contains(bad.stderr, "want a positive duration") {
		t.Errorf("--stop-grace 0:\n%s", bad)
	}
	for _, n := range []string{"0", "-1"} {
		if bad := e.must(2, "run", testdata(t, "flood.yaml"), "--workers", n); !strings.Contains(bad.stderr, "--workers "+n+": want 1 or more") {
			t.Errorf("--workers %s:\n%s", n, bad)
		}
	}
	if runs := e.runs(); len(runs) != 1 {
		t.Errorf("%d runs after two refused commands, want the first one only", len(runs))
	}
}
