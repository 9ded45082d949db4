package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The server's API tokens (migrations/postgres/0005, the worker role of
// 0010), as store/sqlite's: only the sha256 of a token's secret is
// stored; creating and revoking one writes its audit entry in the same
// transaction; last_used_at is written at most once per TouchEvery, by a
// compare-and-set that several servers on one database cannot double.

// TouchEvery is how often a token's last_used_at is written at most.
const TouchEvery = sqlrow.TouchEvery

// CreateToken stores t, whose secret hashes to hash (auth.New), and the
// audit entry of its creation by actor, in one transaction. An id or hash
// already stored wraps cairn.ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t auth.Token, hash, actor string) error {
	if err := sqlrow.CheckNewToken(t, hash); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO tokens (id, hash, role, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, hash, string(t.Role), t.Name, t.CreatedAt.UnixNano(), sqlrow.Nanos(t.ExpiresAt)); err != nil {
			return err
		}
		_, err := s.addAudit(ctx, tx, scheduler.Audit{At: t.CreatedAt, Actor: actor, Action: scheduler.AuditTokenCreate, Detail: sqlrow.TokenDetail(t)})
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
	rs, err := s.db.Query(ctx, `SELECT `+sqlrow.TokenCols+` FROM tokens ORDER BY created_at DESC, id`)
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
// cairn.ErrNotFound (no such token), cairn.ErrTerminal (revoked already,
// by this call's rival too: the row is locked while it is read).
func (s *Store) RevokeToken(ctx context.Context, id, actor string) (auth.Token, error) {
	var t auth.Token
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if t, err = sqlrow.Token(s.queryRow(ctx, tx, `SELECT `+sqlrow.TokenCols+` FROM tokens WHERE id = $1 FOR UPDATE`, id), nil); noRows(err) {
			return sqlrow.NoSuchToken(id)
		} else if err != nil {
			return translate(err)
		}
		if err := sqlrow.Revoke(&t); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, t.RevokedAt.UnixNano(), id); err != nil {
			return err
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
// asks on each request, so that revoking a token, on any server of the
// database, ends its sessions at once). Errors: auth.ErrInvalid
// (unknown), auth.ErrExpired, auth.ErrRevoked. It touches last_used_at as
// AuthenticateToken does.
func (s *Store) ValidToken(ctx context.Context, id string) (auth.Token, error) {
	return s.tokenIO().Valid(ctx, id)
}

func (s *Store) tokenIO() sqlrow.TokenIO { return sqlrow.TokenIO{Read: s.token, Touch: s.touchToken} }

// token reads token id with its hash. Errors: cairn.ErrNotFound.
func (s *Store) token(ctx context.Context, id string) (auth.Token, string, error) {
	var hash string
	t, err := sqlrow.Token(s.db.QueryRow(ctx, `SELECT `+sqlrow.TokenCols+`, hash FROM tokens WHERE id = $1`, id), &hash)
	if noRows(err) {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, "", fmt.Errorf("read token %s: %w", id, translate(err))
	}
	return t, hash, nil
}

// touchToken sets last_used_at unless another request (of any server)
// did within TouchEvery: one statement, its condition re-checked on the
// row's newest version when a concurrent touch holds it.
func (s *Store) touchToken(ctx context.Context, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.exec(context.WithoutCancel(ctx), s.pool, `UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
		now.UnixNano(), id, now.Add(-TouchEvery).UnixNano())
	return err
}

// CountValidTokens counts the tokens neither revoked nor expired: with
// none, a server lets nobody in (and says how to make the first one).
func (s *Store) CountValidTokens(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`,
		time.Now().UnixNano()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tokens: %w", translate(err))
	}
	return int(n), nil
}
