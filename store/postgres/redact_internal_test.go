package postgres

import (
	"errors"
	"testing"
)

// TestConnectErrorSaidOnceAndRedacted: the errors of a connection's
// attempts, the same, are said once; the password is kept out of the
// text, but a short one only where a DSN would hold it (a password "x"
// made "role does not exist" read "does not exxxxxist").
func TestConnectErrorSaidOnceAndRedacted(t *testing.T) {
	same := "127.0.0.1:5432 (127.0.0.1): server error: FATAL: role \"u\" does not exist (SQLSTATE 28000)"
	joined := errors.Join(errors.New(same), errors.New(same))
	if got := onceEach(joined); got.Error() != same || !errors.Is(got, joined) {
		t.Errorf("onceEach = %q", got)
	}
	two := errors.Join(errors.New("a"), errors.New("b"))
	if got := onceEach(two); got.Error() != "a\nb" {
		t.Errorf("onceEach of two errors = %q", got)
	}
	for _, tc := range []struct{ dsn, msg, want string }{
		{"postgres://u:x@h/db", same, same},
		{"postgres://u:x@h/db", "cannot parse `postgres://u:x@h/db`", "cannot parse `postgres://u:xxxxx@h/db`"},
		{"postgres://u:hunter2@h/db", "bad: hunter2 was sent", "bad: xxxxx was sent"},
		{"host=h password=ab", "cannot parse `host=h password=ab`", "cannot parse `host=h password=xxxxx`"},
	} {
		if got := redactErr(errors.New(tc.msg), tc.dsn).Error(); got != tc.want {
			t.Errorf("redactErr(%q, %q) = %q, want %q", tc.msg, tc.dsn, got, tc.want)
		}
	}
}
