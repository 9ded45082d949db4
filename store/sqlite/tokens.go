package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The server's API tokens (migrations/sqlite/0005): only the sha256 of a
// token's secret is stored. Creating and revoking one writes its audit
// entry in the same transaction.

// TouchEvery is how often a token's last_used_at is written at most: a
// request that finds it more recent writes nothing.
const TouchEvery = sqlrow.TouchEvery

// CreateToken stores t, whose secret hashes to hash (auth.New), and the
// audit entry of its creation by actor, in one transaction. An id or hash
// already stored wraps cairn.ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t auth.Token, hash, actor string) error {
	if err := sqlrow.CheckNewToken(t, hash); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		st, err := s.txStmt(ctx, tx, `INSERT INTO tokens (id, hash, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if _, err := st.ExecContext(ctx, t.ID, hash, string(t.Role), t.Name, t.CreatedAt.UnixNano(), nanos(t.ExpiresAt)); err != nil {
			return translate(err)
		}
		_, err = s.addAudit(ctx, tx, scheduler.Audit{At: t.CreatedAt, Actor: actor, Action: scheduler.AuditTokenCreate, Detail: sqlrow.TokenDetail(t)})
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
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.TokenCols+` FROM tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	rs, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	defer rs.Close()
	out, err := sqlrow.Collect(rs, func(sc sqlrow.Scanner) (auth.Token, error) { return sqlrow.Token(sc, nil) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeToken revokes token id and records it, by actor, in the audit
// log, in one transaction; it returns the token as revoked. Errors:
// cairn.ErrNotFound (no such token), cairn.ErrTerminal (revoked already).
func (s *Store) RevokeToken(ctx context.Context, id, actor string) (auth.Token, error) {
	var t auth.Token
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		st, err := s.txStmt(ctx, tx, `SELECT `+sqlrow.TokenCols+` FROM tokens WHERE id = ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if t, err = sqlrow.Token(st.QueryRowContext(ctx, id), nil); errors.Is(err, sql.ErrNoRows) {
			return sqlrow.NoSuchToken(id)
		} else if err != nil {
			return translate(err)
		}
		if err := sqlrow.Revoke(&t); err != nil {
			return err
		}
		up, err := s.txStmt(ctx, tx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if _, err := up.ExecContext(ctx, t.RevokedAt.UnixNano(), id); err != nil {
			return translate(err)
		}
		_, err = s.addAudit(ctx, tx, scheduler.Audit{At: t.RevokedAt, Actor: actor, Action: scheduler.AuditTokenRevoke, Detail: sqlrow.TokenDetail(t)})
		return err
	})
	if err != nil {
		return auth.Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return t, nil
}

// AuthenticateToken returns the token whose text (cairn_ID_SECRET) was
// presented, if it is valid now: see sqlrow.TokenIO.Authenticate (by id,
// then the secret's hash compared in constant time; last_used_at written
// at most once per TouchEvery).
func (s *Store) AuthenticateToken(ctx context.Context, text string) (auth.Token, error) {
	return s.tokenIO().Authenticate(ctx, text)
}

// ValidToken returns token id if it is valid now (a signed-in session
// asks on each request, so that revoking a token ends its sessions at
// once). Errors: auth.ErrInvalid (unknown), auth.ErrExpired,
// auth.ErrRevoked. It touches last_used_at as AuthenticateToken does.
func (s *Store) ValidToken(ctx context.Context, id string) (auth.Token, error) {
	return s.tokenIO().Valid(ctx, id)
}

func (s *Store) tokenIO() sqlrow.TokenIO { return sqlrow.TokenIO{Read: s.token, Touch: s.touchToken} }

// token reads token id with its hash. Errors: cairn.ErrNotFound.
func (s *Store) token(ctx context.Context, id string) (auth.Token, string, error) {
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.TokenCols+`, hash FROM tokens WHERE id = ?`)
	if err != nil {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, err)
	}
	var hash string
	t, err := sqlrow.Token(st.QueryRowContext(ctx, id), &hash)
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
	return s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
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
