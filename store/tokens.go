package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

const tokenColumns = "id, name, prefix, hash, role, created_at, created_by, last_used_at, revoked_at"

func scanToken(row interface{ Scan(...any) error }) (domain.Token, error) {
	var t domain.Token
	var created, used, revoked sql.NullInt64
	err := row.Scan(&t.ID, &t.Name, &t.Prefix, &t.Hash, &t.Role, &created, &t.CreatedBy, &used, &revoked)
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMS(created), fromMS(used), fromMS(revoked)
	return t, err
}

// CreateToken stores a new token's prefix, hash and role. read_only is kept equal to "not
// admin" for older binaries (see migration 00040); the role is what this one reads.
func (db *DB) CreateToken(ctx context.Context, t domain.Token) (domain.Token, error) {
	if !t.Role.Valid() {
		return domain.Token{}, domain.Invalid("role", "choose viewer, editor or admin")
	}
	var out domain.Token
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"INSERT INTO api_tokens (name, prefix, hash, role, read_only, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
			t.Name, t.Prefix, t.Hash, string(t.Role), t.Role != domain.RoleAdmin, db.now(), t.CreatedBy)
		if isUniqueViolation(err) {
			return domain.ErrConflict
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		out, err = scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE id = ?", id))
		return err
	})
	if err != nil {
		return domain.Token{}, fmt.Errorf("store: create token: %w", err)
	}
	return out, nil
}

// TokenByPrefix finds a token that has not been revoked.
func (db *DB) TokenByPrefix(ctx context.Context, prefix string) (domain.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx,
		"SELECT "+tokenColumns+" FROM api_tokens WHERE prefix = ? AND revoked_at IS NULL", prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Token{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Token{}, fmt.Errorf("store: token: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, revoked ones included, newest first.
func (db *DB) ListTokens(ctx context.Context) ([]domain.Token, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []domain.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken stops a token from working; ErrNotFound if there is no such live token.
func (db *DB) RevokeToken(ctx context.Context, id int64) error {
	err := db.mustAffect(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", db.now(), id)
	if err != nil {
		return fmt.Errorf("store: revoke token %d: %w", id, err)
	}
	return nil
}

// TouchToken records a token's use, at most as often as the caller asks.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", ms(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: touch token %d: %w", id, err)
	}
	return nil
}
