package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := clip("short", 10, "r1"); got != "short" {
		t.Errorf("a short value changed: %q", got)
	}
	long := strings.Repeat("é", 20) // 40 bytes
	got := clip(long, 9, "r1")
	if !utf8.ValidString(got) || !strings.HasPrefix(got, "éééé…") || !strings.Contains(got, "(40 bytes in all: cairn show r1 --json)") {
		t.Errorf("clip = %q", got)
	}
}
