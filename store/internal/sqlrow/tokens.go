package sqlrow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
)

// The server's API tokens: only the sha256 of a token's secret is stored.

// TouchEvery is how often a token's last_used_at is written at most: a
// request that finds it more recent writes nothing.
const TouchEvery = time.Minute

// Token decodes TokenCols, then the hash when hash is not nil.
func Token(sc Scanner, hash *string) (auth.Token, error) {
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
	t.ExpiresAt, t.RevokedAt, t.LastUsedAt = Time(expires), Time(revoked), Time(used)
	return t, nil
}

// CheckNewToken refuses a token CreateToken cannot store.
func CheckNewToken(t auth.Token, hash string) error {
	if t.ID == "" || len(hash) != 64 || !t.Role.Known() || t.CreatedAt.IsZero() {
		return fmt.Errorf("create token %q: incomplete (id, role, creation time and a sha256 are needed)", t.ID)
	}
	return nil
}

// TokenDetail is the audit entry's detail of a token change.
func TokenDetail(t auth.Token) []byte {
	d := map[string]any{"token": t.ID, "role": t.Role, "name": t.Name}
	if !t.ExpiresAt.IsZero() {
		d["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(d)
	return b
}

// NoSuchToken is RevokeToken's error for an unknown id.
func NoSuchToken(id string) error {
	return fmt.Errorf("no token %q (cairn tokens list shows them): %w", id, cairn.ErrNotFound)
}

// Revoke checks that t may be revoked and marks it revoked now; the store
// then writes it with its audit entry. Errors: cairn.ErrTerminal.
func Revoke(t *auth.Token) error {
	if !t.RevokedAt.IsZero() {
		return fmt.Errorf("revoked already, on %s: %w", t.RevokedAt.Format(time.DateTime+" UTC"), cairn.ErrTerminal)
	}
	t.RevokedAt = time.Now().UTC()
	return nil
}

// TokenIO is what authenticating a token needs of a store: Read reads a
// token with its hash (cairn.ErrNotFound when there is none), Touch sets
// its last_used_at to now unless another request did within TouchEvery.
type TokenIO struct {
	Read  func(ctx context.Context, id string) (auth.Token, string, error)
	Touch func(ctx context.Context, id string, now time.Time) error
}

// Authenticate returns the token whose text (cairn_ID_SECRET) was
// presented, if it is valid now. The token is found by its public id and
// its secret compared with the stored hash in constant time. Errors wrap
// auth.ErrInvalid: malformed, unknown, a wrong secret (these three say
// nothing more), expired or revoked (auth.ErrExpired, auth.ErrRevoked:
// said only to whoever holds the secret). A valid token's last_used_at is
// written when it is older than TouchEvery.
func (io TokenIO) Authenticate(ctx context.Context, text string) (auth.Token, error) {
	id, secret, err := auth.Parse(text)
	if err != nil {
		return auth.Token{}, err
	}
	t, hash, err := io.Read(ctx, id)
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
	return io.valid(ctx, t)
}

// Valid returns token id if it is valid now. Errors: auth.ErrInvalid
// (unknown), auth.ErrExpired, auth.ErrRevoked. It touches last_used_at
// as Authenticate does.
func (io TokenIO) Valid(ctx context.Context, id string) (auth.Token, error) {
	t, _, err := io.Read(ctx, id)
	if errors.Is(err, cairn.ErrNotFound) {
		return auth.Token{}, fmt.Errorf("%w: token %s is unknown", auth.ErrInvalid, id)
	}
	if err != nil {
		return auth.Token{}, err
	}
	return io.valid(ctx, t)
}

func (io TokenIO) valid(ctx context.Context, t auth.Token) (auth.Token, error) {
	now := time.Now()
	if err := t.Valid(now); err != nil {
		return auth.Token{}, err
	}
	if now.Sub(t.LastUsedAt) >= TouchEvery {
		if err := io.Touch(ctx, t.ID, now); err == nil {
			t.LastUsedAt = now.UTC()
		} // else: a read-only or busy database; the request goes on
	}
	return t, nil
}
