package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// SSOIdentity links an OpenID provider's account, (Issuer, Subject), to an admin, with the
// role single sign-on computed for it at its last sign-in.
type SSOIdentity struct {
	Issuer, Subject string
	AdminID         int64
	Email           string
	Role            domain.Role
	CreatedAt       time.Time
	LastLoginAt     time.Time
}

// SSOIdentity finds the identity (issuer, subject); ErrNotFound when none is linked.
func (db *DB) SSOIdentity(ctx context.Context, issuer, subject string) (SSOIdentity, error) {
	var id SSOIdentity
	var role string
	var created, last sql.NullInt64
	err := db.r.QueryRowContext(ctx,
		"SELECT issuer, subject, admin_id, email, role, created_at, last_login_at FROM sso_identities WHERE issuer = ? AND subject = ?",
		issuer, subject).Scan(&id.Issuer, &id.Subject, &id.AdminID, &id.Email, &role, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return SSOIdentity{}, domain.ErrNotFound
	}
	if err != nil {
		return SSOIdentity{}, fmt.Errorf("store: sso identity: %w", err)
	}
	id.Role, id.CreatedAt, id.LastLoginAt = domain.Role(role), fromMS(created), fromMS(last)
	return id, nil
}

// SaveSSOIdentity links id to its admin, or records a later sign-in of a linked one (its
// email and role as the provider now says, and the time).
func (db *DB) SaveSSOIdentity(ctx context.Context, id SSOIdentity) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		now := db.now()
		_, err := tx.ExecContext(ctx, `INSERT INTO sso_identities (issuer, subject, admin_id, email, role, created_at, last_login_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, role = excluded.role, last_login_at = excluded.last_login_at`,
			id.Issuer, id.Subject, id.AdminID, id.Email, string(id.Role), now, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save sso identity of admin %d: %w", id.AdminID, err)
	}
	return nil
}

// CreateSSOAdmin creates an admin who signs in only through single sign-on (no password:
// the empty hash matches none) and links id to them, in one transaction; a field error
// (Conflict) when the email is taken.
func (db *DB) CreateSSOAdmin(ctx context.Context, id SSOIdentity) (domain.Admin, error) {
	var a domain.Admin
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = db.insertAdmin(ctx, tx, id.Email, "", id.Role); err != nil {
			return err
		}
		now := db.now()
		_, err = tx.ExecContext(ctx, `INSERT INTO sso_identities (issuer, subject, admin_id, email, role, created_at, last_login_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id.Issuer, id.Subject, a.ID, id.Email, string(id.Role), now, now)
		return err
	})
	if err != nil {
		return domain.Admin{}, fmt.Errorf("store: create sso admin: %w", err)
	}
	return a, nil
}
