package main

// End-to-end tests of how runs, show and the run summary look and what
// they say: colour, time formats, plurals, orphaned runs, pagination and
// the shape of --json.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair; the test skips where the system
// has none.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// onTTY runs cairn with its stdout on a terminal and returns what it
// printed there; extra is added to its environment.
func (e *env) onTTY(extra []string, args ...string) string {
	e.t.Helper()
	master, tty := openPTY(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Env = append(cmd.Env, extra...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	tty.Close() // the child holds its copy; the master sees EOF (EIO) when it exits
	var out bytes.Buffer
	_, _ = io.Copy(&out, master)
	if err := cmd.Wait(); err != nil {
		e.t.Fatalf("cairn %s on a terminal: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// States are coloured on a terminal (failed red, succeeded green), and not
// with NO_COLOR or in a pipe.
func TestColourOnATerminalOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := testdata(t, "alpha.yaml")
	ok := runIDOf(t, e.must(0, "run", alpha).stderr)
	bad := runIDOf(t, e.must(1, "run", alpha, "-p", "code=3").stderr)

	const red, green = "\x1b[31mfailed\x1b[0m", "\x1b[32msucceeded\x1b[0m"
	tty := e.onTTY(nil, "runs")
	if !strings.Contains(tty, red) || !strings.Contains(tty, green) {
		t.Errorf("runs on a terminal: no red failed or green succeeded:\n%q", tty)
	}
	// The colour codes do not shift the columns: CREATED starts at the
	// same place on the header line and on each run's line.
	unpaint := strings.NewReplacer("\x1b[31m", "", "\x1b[32m", "", "\x1b[39m", "", "\x1b[0m", "")
	lines := strings.Split(unpaint.Replace(strings.TrimSpace(strings.ReplaceAll(tty, "\r", ""))), "\n")
	col := strings.Index(lines[0], "CREATED")
	if col < 2 || len(lines) != 3 {
		t.Fatalf("runs on a terminal:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("column CREATED at %d of the header is not where it is in %q", col, l)
		}
	}
	for _, id := range []string{ok, bad} {
		if s := e.onTTY(nil, "show", id); !strings.Contains(s, "\x1b[3") {
			t.Errorf("show %s on a terminal has no colour:\n%q", id, s)
		}
	}
	if s := e.onTTY([]string{"NO_COLOR=1"}, "runs"); strings.Contains(s, "\x1b[") {
		t.Errorf("runs with NO_COLOR has colour:\n%q", s)
	}
	for _, args := range [][]string{{"runs"}, {"show", bad}, {"run", alpha, "-p", "code=3"}} {
		r := e.cairn(args...)
		if strings.Contains(r.stdout, "\x1b[") || strings.Contains(r.stderr, "\x1b[") {
			t.Errorf("cairn %s in a pipe has colour:\n%s", strings.Join(args, " "), r)
		}
	}
}
