// Package auth is the model of cairn server's API tokens: their roles,
// the text a token is handed out as (cairn_<id>_<secret>), the hash that
// is stored in its place, and lifetimes such as 30d. Standard library
// only; the store keeps tokens (store/sqlite), the server checks them (ui).
//
// A token's id is public (lists, the audit log); its secret is shown once,
// when the token is made, and never stored: the store keeps its sha256,
// which Match compares in constant time.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Role is what a token may do. The user roles (viewer, operator, admin)
// each include the ones before them; Worker stands apart.
type Role string

// The roles.
const (
	// Viewer reads: runs, tasks, logs, the audit log.
	Viewer Role = "viewer"
	// Operator also triggers, cancels, retries and resumes runs.
	Operator Role = "operator"
	// Admin also manages tokens.
	Admin Role = "admin"
	// Worker is a remote worker's (cairn worker): it may call the worker
	// API only — register, lease, heartbeat and complete its own leases,
	// move artifacts and logs — and nothing a user token may; no user
	// token may call the worker API. It has no Level.
	Worker Role = "worker"
)

// Roles lists the user roles, least first (Worker is not one).
var Roles = []Role{Viewer, Operator, Admin}

// Known reports whether r is a role a token may have: a user role or
// Worker.
func (r Role) Known() bool { return r.Level() > 0 || r == Worker }

// Level is a user role's rank: 1 for viewer, 2 for operator, 3 for admin,
// 0 for Worker and an unknown role.
func (r Role) Level() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Known() {
		return "", fmt.Errorf("role %q: want viewer, operator or admin (or worker, for a cairn worker)", s)
	}
	return r, nil
}

// Token is a token as it is stored and listed: never its secret.
type Token struct {
	ID         string
	Name       string
	Role       Role
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
	LastUsedAt time.Time // zero: never used
}

// Errors of a token that is not (or no longer) accepted; each wraps
// ErrInvalid.
var (
	ErrInvalid = errors.New("invalid token")
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalid)
)

// Valid says why t is not accepted at now (expired, revoked), or nil.
func (t Token) Valid(now time.Time) error {
	switch {
	case !t.RevokedAt.IsZero():
		return fmt.Errorf("token %s was revoked on %s: %w", t.ID, t.RevokedAt.UTC().Format(time.DateTime+" UTC"), ErrRevoked)
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return fmt.Errorf("token %s expired on %s: %w", t.ID, t.ExpiresAt.UTC().Format(time.DateTime+" UTC"), ErrExpired)
	}
	return nil
}

// Prefix starts every token's text.
const Prefix = "cairn_"

const (
	idBytes     = 8  // 16 hex digits
	secretBytes = 32 // 52 base32 digits
)

var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New makes a token: its record (created at now, expiring after life, or
// never when life is 0), the text to hand out once (cairn_<id>_<secret>),
// and the hash of its secret to store.
func New(role Role, name string, now time.Time, life time.Duration) (t Token, text, hash string, err error) {
	if !role.Known() {
		return Token{}, "", "", fmt.Errorf("role %q: want viewer, operator, admin or worker", role)
	}
	if life < 0 {
		return Token{}, "", "", fmt.Errorf("lifetime %s: want a positive duration, or 0 for never", life)
	}
	id := make([]byte, idBytes)
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(id); err != nil {
		return Token{}, "", "", fmt.Errorf("make a token: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return Token{}, "", "", fmt.Errorf("make a token: %w", err)
	}
	t = Token{ID: hex.EncodeToString(id), Name: name, Role: role, CreatedAt: now}
	if life > 0 {
		t.ExpiresAt = now.Add(life)
	}
	s := secretEncoding.EncodeToString(secret)
	return t, Prefix + t.ID + "_" + s, Hash(s), nil
}

// Parse splits a token's text into its id and secret; surrounding space
// (a paste) is ignored. A text not of the shape New makes wraps ErrInvalid.
func Parse(text string) (id, secret string, err error) {
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, Prefix)
	if ok {
		id, secret, ok = strings.Cut(rest, "_")
	}
	if !ok || len(id) != 2*idBytes || !isLowerHex(id) || len(secret) != secretEncoding.EncodedLen(secretBytes) {
		return "", "", fmt.Errorf("%w: not a cairn token (cairn_ID_SECRET, as cairn tokens create prints it)", ErrInvalid)
	}
	if _, err := secretEncoding.DecodeString(secret); err != nil {
		return "", "", fmt.Errorf("%w: not a cairn token (cairn_ID_SECRET, as cairn tokens create prints it)", ErrInvalid)
	}
	return id, secret, nil
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Hash is the hex sha256 of a token's secret, what the store keeps.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Match reports whether secret hashes to hash, in time that does not
// depend on where they differ.
func Match(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(Hash(secret))) == 1
}

// ParseLifetime reads a token's lifetime: a number of days (30d), weeks
// (2w), or a Go duration (12h, 90m); "never" (or 0) for no expiry.
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "never" || s == "0" {
		return 0, nil
	}
	bad := fmt.Errorf("lifetime %q: want a duration such as 30d, 2w or 12h, or never", s)
	const maxDays = 100 * 366
	if s == "" {
		return 0, bad
	}
	var d time.Duration
	if n, unit := s[:max(len(s)-1, 0)], s[len(s)-1:]; unit == "d" || unit == "w" {
		v, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			return 0, bad
		}
		if unit == "w" {
			v *= 7
		}
		if v > maxDays {
			v = maxDays + 1 // refused below, without overflowing
		}
		d = time.Duration(v) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > maxDays*24*time.Hour {
		return 0, fmt.Errorf("lifetime %q: want more than 0 and at most 100 years (or never)", s)
	}
	return d, nil
}
