package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
)

// The server's API tokens (migrations/sqlite/0005): only the sha256 of a
// token's secret is stored. Creating and revoking one writes its audit
// entry in the same transaction.

// TouchEvery is how often a token's last_used_at is written at most: a
// request that finds it more recent writes nothing.
const TouchEvery = time.Minute

const tokenCols = `id, name, role, created_at, expires_at, revoked_at, last_used_at`

func scanToken(sc interface{ Scan(...any) error }, hash *string) (auth.Token, error) {
	var (
		t                      auth.Token
		role                   string
		created                int64
		expires, revoked, used sql.NullInt64
		dest                   = []any{&t.ID, &t.Name, &role, &created, &expires, &revoked, &used}
	)
	if hash != nil {
		dest = append(dest, hash)
	}
	if err := sc.Scan(dest...); err != nil {
		return auth.Token{}, err
	}
	t.Role = auth.Role(role)
	t.CreatedAt = time.Unix(0, created).UTC()
	t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return t, nil
}

// tokenDetail is the audit entry's detail of a token change.
func tokenDetail(t auth.Token) []byte {
	d := map[string]any{"token": t.ID, "role": t.Role, "name": t.Name}
	if !t.ExpiresAt.IsZero() {
		d["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(d)
	return b
}

// CreateToken stores t, whose secret hashes to hash (auth.New), and the
// audit entry of its creation by actor, in one transaction. An id or hash
// already stored wraps cairn.ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t auth.Token, hash, actor string) error {
	if t.ID == "" || len(hash) != 64 || !t.Role.Known() || t.CreatedAt.IsZero() {
		return fmt.Errorf("create token %q: incomplete (id, role, creation time and a sha256 are needed)", t.ID)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `INSERT INTO tokens (id, hash, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if _, err := st.ExecContext(ctx, t.ID, hash, string(t.Role), t.Name, t.CreatedAt.UnixNano(), nanos(t.ExpiresAt)); err != nil {
			return translate(err)
		}
		_, err = s.addAudit(ctx, tx, scheduler.Audit{At: t.CreatedAt, Actor: actor, Action: scheduler.AuditTokenCreate, Detail: tokenDetail(t)})
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// ListTokens returns every token, revoked and expired ones included,
// newest first.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	st, err := s.readStmt(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	defer rows.Close()
	out := []auth.Token{}
	for rows.Next() {
		t, err := scanToken(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", translate(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeToken revokes token id and records it, by actor, in the audit
// log, in one transaction; it returns the token as revoked. Errors:
// cairn.ErrNotFound (no such token), cairn.ErrTerminal (revoked already).
func (s *Store) RevokeToken(ctx context.Context, id, actor string) (auth.Token, error) {
	var t auth.Token
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if t, err = scanToken(st.QueryRowContext(ctx, id), nil); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no token %q (cairn tokens list shows them): %w", id, cairn.ErrNotFound)
		} else if err != nil {
			return translate(err)
		}
		if !t.RevokedAt.IsZero() {
			return fmt.Errorf("revoked already, on %s: %w", t.RevokedAt.Format(time.DateTime+" UTC"), cairn.ErrTerminal)
		}
		t.RevokedAt = time.Now().UTC()
		up, err := s.txStmt(ctx, tx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if _, err := up.ExecContext(ctx, t.RevokedAt.UnixNano(), id); err != nil {
			return translate(err)
		}
		_, err = s.addAudit(ctx, tx, scheduler.Audit{At: t.RevokedAt, Actor: actor, Action: scheduler.AuditTokenRevoke, Detail: tokenDetail(t)})
		return err
	})
	if err != nil {
		return auth.Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return t, nil
}

// AuthenticateToken returns the token whose text (cairn_ID_SECRET) was
// presented, if it is valid now. The token is found by its public id and
// its secret compared with the stored hash in constant time. Errors wrap
// auth.ErrInvalid: malformed, unknown, a wrong secret (these three say
// nothing more), expired or revoked (auth.ErrExpired, auth.ErrRevoked:
// said only to whoever holds the secret). A valid token's last_used_at is
// written when it is older than TouchEvery.
func (s *Store) AuthenticateToken(ctx context.Context, text string) (auth.Token, error) {
	id, secret, err := auth.Parse(text)
	if err != nil {
		return auth.Token{}, err
	}
	t, hash, err := s.token(ctx, id)
	if errors.Is(err, cairn.ErrNotFound) {
		auth.Match(auth.Hash(""), secret) // the same work as a wrong secret
		return auth.Token{}, fmt.Errorf("%w: unknown, or not this secret", auth.ErrInvalid)
	}
	if err != nil {
		return auth.Token{}, err
	}
	if !auth.Match(hash, secret) {
		return auth.Token{}, fmt.Errorf("%w: unknown, or not this secret", auth.ErrInvalid)
	}
	return s.validToken(ctx, t)
}

// ValidToken returns token id if it is valid now (a signed-in session
// asks on each request, so that revoking a token ends its sessions at
// once). Errors: auth.ErrInvalid (unknown), auth.ErrExpired,
// auth.ErrRevoked. It touches last_used_at as AuthenticateToken does.
func (s *Store) ValidToken(ctx context.Context, id string) (auth.Token, error) {
	t, _, err := s.token(ctx, id)
	if errors.Is(err, cairn.ErrNotFound) {
		return auth.Token{}, fmt.Errorf("%w: token %s is unknown", auth.ErrInvalid, id)
	}
	if err != nil {
		return auth.Token{}, err
	}
	return s.validToken(ctx, t)
}

func (s *Store) validToken(ctx context.Context, t auth.Token) (auth.Token, error) {
	now := time.Now()
	if err := t.Valid(now); err != nil {
		return auth.Token{}, err
	}
	if now.Sub(t.LastUsedAt) >= TouchEvery {
		if err := s.touchToken(ctx, t.ID, now); err == nil {
			t.LastUsedAt = now.UTC()
		} // else: a read-only or busy database; the request goes on
	}
	return t, nil
}

// token reads token id with its hash. Errors: cairn.ErrNotFound.
func (s *Store) token(ctx context.Context, id string) (auth.Token, string, error) {
	st, err := s.readStmt(ctx, `SELECT `+tokenCols+`, hash FROM tokens WHERE id = ?`)
	if err != nil {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, err)
	}
	var hash string
	t, err := scanToken(st.QueryRowContext(ctx, id), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, translate(err))
	}
	return t, hash, nil
}

// touchToken sets last_used_at unless another request did within
// TouchEvery.
func (s *Store) touchToken(ctx context.Context, id string, now time.Time) error {
	return s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		_, err = st.ExecContext(ctx, now.UnixNano(), id, now.Add(-TouchEvery).UnixNano())
		return translate(err)
	})
}

// CountValidTokens counts the tokens neither revoked nor expired: with
// none, a server lets nobody in (and says how to make the first one).
func (s *Store) CountValidTokens(ctx context.Context) (int, error) {
	st, err := s.readStmt(ctx, `SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`)
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	var n int
	if err := st.QueryRowContext(ctx, time.Now().UnixNano()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tokens: %w", translate(err))
	}
	return n, nil
}
