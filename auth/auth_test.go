package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewAndParse(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, text, hash, err := New(Operator, "ci", now, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" || tok.Role != Operator || tok.Name != "ci" || !tok.CreatedAt.Equal(now) || !tok.ExpiresAt.Equal(now.AddDate(0, 0, 30)) {
		t.Errorf("token %+v", tok)
	}
	if !strings.HasPrefix(text, "cairn_"+tok.ID+"_") || len(text) != len("cairn_")+16+1+52 {
		t.Errorf("text %q", text)
	}
	if strings.Contains(hash, text[len("cairn_")+17:]) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	id, secret, err := Parse(" " + text + "\n")
	if err != nil || id != tok.ID {
		t.Fatalf("Parse: %q %v", id, err)
	}
	if !Match(hash, secret) {
		t.Error("the secret does not match its hash")
	}
	if Match(hash, secret[:51]+"a") && secret[51] != 'a' {
		t.Error("another secret matches")
	}
	_, text2, hash2, _ := New(Operator, "ci", now, 0)
	if text2 == text || hash2 == hash {
		t.Error("two tokens are the same")
	}
	for _, bad := range []string{"", "cairn_", text[:len(text)-1], "cairn_" + strings.ToUpper(tok.ID) + text[22:], "bearer " + text, strings.Replace(text, "cairn_", "cairn-", 1), text + "x", text[:len(text)-1] + "1"} {
		if _, _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, _, err := New("root", "", now, 0); err == nil {
		t.Error("New made a token of role root")
	}
}

func TestValid(t *testing.T) {
	now := time.Now()
	tok := Token{ID: "abc", ExpiresAt: now.Add(time.Hour)}
	if err := tok.Valid(now); err != nil {
		t.Error(err)
	}
	if err := tok.Valid(now.Add(time.Hour)); !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalid) {
		t.Errorf("at its expiry: %v", err)
	}
	tok.RevokedAt = now
	if err := tok.Valid(now); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked: %v", err)
	}
	if err := (Token{ID: "x"}).Valid(now.AddDate(50, 0, 0)); err != nil {
		t.Errorf("a token that never expires: %v", err)
	}
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "never": 0, "0": 0, "36600d": 36600 * 24 * time.Hour} {
		if got, err := ParseLifetime(in); err != nil || got != want {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "1.5d", "30", "soon", "-5h", "0s", "36601d", "4294967295w", "99999999999h"} {
		if _, err := ParseLifetime(bad); err == nil {
			t.Errorf("ParseLifetime(%q) accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	if !(Viewer.Level() < Operator.Level() && Operator.Level() < Admin.Level()) || Role("x").Level() != 0 {
		t.Error("role levels")
	}
	if r, err := ParseRole(" Admin "); err != nil || r != Admin {
		t.Errorf("ParseRole: %v %v", r, err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root)")
	}
	// A worker token is a role apart: known, but of no user level, so
	// that no access check that compares levels ever lets it in.
	if r, err := ParseRole("worker"); err != nil || r != Worker || !r.Known() || r.Level() != 0 {
		t.Errorf("ParseRole(worker) = %v, %v; level %d", r, err, r.Level())
	}
	if Role("root").Known() {
		t.Error("root is known")
	}
}
