package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

func TestStyleColourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	for _, c := range []struct {
		tty           bool
		noColor, term string
		want          bool
	}{
		{true, "", "xterm", true},
		{true, "1", "xterm", false},
		{true, "", "dumb", false},
		{false, "", "xterm", false},
	} {
		if got := styleOf(c.tty, c.noColor, c.term).color; got != c.want {
			t.Errorf("styleOf(tty %v, NO_COLOR %q, TERM %q).color = %v, want %v", c.tty, c.noColor, c.term, got, c.want)
		}
	}
	var buf bytes.Buffer // not a terminal
	if newStyle(&buf).color {
		t.Error("a buffer got colour")
	}
	on := style{color: true}
	if got := on.state("failed"); got != "\x1b[31mfailed\x1b[0m" {
		t.Errorf("failed = %q, want red", got)
	}
	if got := on.state("succeeded"); got != "\x1b[32msucceeded\x1b[0m" {
		t.Errorf("succeeded = %q, want green", got)
	}
	if got := (style{}).state("failed"); got != "failed" {
		t.Errorf("without colour: %q", got)
	}
	// Every painted cell carries the same escape bytes, so that a
	// tabwriter column of painted cells stays aligned.
	overhead := func(s, plain string) int { return len(s) - len(plain) }
	for _, s := range []string{"failed", "succeeded", "running", "orphaned", "STATE"} {
		if got := overhead(on.state(s), s); got != 9 {
			t.Errorf("%s: %d escape bytes, want 9", s, got)
		}
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 tasks", 1: "1 task", 2: "2 tasks"} {
		if got := plural(n, "task"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
	if got := pluralOf(3, "entry", "entries"); got != "3 entries" {
		t.Errorf("pluralOf = %q", got)
	}
}

func TestTimeFormats(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 5, 123, time.FixedZone("CET", 3600))
	if got := localTime(time.Time{}); got != "-" {
		t.Errorf("zero: %q", got)
	}
	text := localTime(at)
	zone, _ := at.Local().Zone()
	if !strings.HasSuffix(text, " "+zone) || !strings.HasPrefix(text, at.Local().Format("2006-01-02 15:04:05")) {
		t.Errorf("localTime = %q, want local time with zone %s", text, zone)
	}
	if runjson.Time(time.Time{}) != nil {
		t.Error("zero time should be null in JSON")
	}
	b, err := json.Marshal(runjson.Time(at))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-03-01T11:30:05.000000123Z"` {
		t.Errorf("JSON time = %s, want RFC 3339 UTC", b)
	}
}

func TestPrintableEscapesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\twith a tab, ünïcode": "plain text\twith a tab, ünïcode",
		"\x1b]0;pwned\a\x1b[2J boom":      `\x1b]0;pwned\x07\x1b[2J boom`,
		"c1 \u009b31m":                    `c1 \x9b31m`,
		"bidi \u202eevil":                 `bidi \u202eevil`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := oneLine("  first \x1b[31mline\nsecond"); got != `first \x1b[31mline …` {
		t.Errorf("oneLine = %q", got)
	}
}

// A run is orphaned when it is unfinished and its owner's claim expired
// (any host), or its owner was a process of this host that is gone, or it
// is running and its owner let it go.
func TestOrphaned(t *testing.T) {
	now := time.Now()
	host, _ := os.Hostname()
	self := fmt.Sprintf("%s:%d:abcd", host, os.Getpid())
	for _, c := range []struct {
		name string
		r    cairn.Run
		want bool
	}{
		{"live claim of another host", cairn.Run{State: cairn.RunRunning, Owner: "elsewhere:1:x", OwnerExpiresAt: now.Add(5 * time.Second)}, false},
		{"expired claim of another host", cairn.Run{State: cairn.RunRunning, Owner: "elsewhere:1:x", OwnerExpiresAt: now.Add(-time.Second)}, true},
		{"live claim of this process", cairn.Run{State: cairn.RunRunning, Owner: self, OwnerExpiresAt: now.Add(5 * time.Second)}, false},
		{"finished", cairn.Run{State: cairn.RunFailed, Owner: "elsewhere:1:x", OwnerExpiresAt: now.Add(-time.Second)}, false},
		{"never claimed", cairn.Run{State: cairn.RunQueued}, false},
		{"let go while running (a server stopped)", cairn.Run{State: cairn.RunRunning}, true},
	} {
		if got := orphaned(&c.r, now); got != c.want {
			t.Errorf("%s: orphaned = %v, want %v", c.name, got, c.want)
		}
	}
	// Its duration stops at the last claim renewal, ownerTTL before expiry.
	r := cairn.Run{State: cairn.RunRunning, Owner: "elsewhere:1:x", StartedAt: now.Add(-time.Hour),
		OwnerExpiresAt: now.Add(-50*time.Minute + ownerTTL)}
	if got := runDuration(localItem(&r, now), now); got != "10m0s" {
		t.Errorf("duration of an orphaned run = %s, want 10m0s", got)
	}
	// A server's orphaned run: when its owner was last seen is not known.
	if got := runDuration(runItem{Run: &r, orphaned: true}, now); got != "?" {
		t.Errorf("duration of a server's orphaned run = %s, want ?", got)
	}
}
