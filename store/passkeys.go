package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// Passkey is a WebAuthn credential of an admin, as stored: its public part only.
type Passkey struct {
	ID           int64
	AdminID      int64
	CredentialID []byte
	Name         string
	Credential   []byte // the library's credential record as JSON
	CreatedAt    time.Time
	LastUsedAt   time.Time
}

const passkeyColumns = "id, admin_id, credential_id, name, credential, created_at, last_used_at"

func scanPasskey(row interface{ Scan(...any) error }) (Passkey, error) {
	var p Passkey
	var created, used sql.NullInt64
	err := row.Scan(&p.ID, &p.AdminID, &p.CredentialID, &p.Name, &p.Credential, &created, &used)
	p.CreatedAt, p.LastUsedAt = fromMS(created), fromMS(used)
	return p, err
}

// AddPasskey stores a new passkey; a field error on "name" when the credential is registered
// already.
func (db *DB) AddPasskey(ctx context.Context, p Passkey) (Passkey, error) {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO passkeys (admin_id, credential_id, name, credential, created_at) VALUES (?, ?, ?, ?, ?)",
			p.AdminID, p.CredentialID, p.Name, string(p.Credential), db.now())
		if isUniqueViolation(err) {
			return &domain.ValidationError{Fields: map[string]string{"name": "this passkey is registered already"}, Conflict: true}
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		p, err = scanPasskey(tx.QueryRowContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE id = ?", id))
		return err
	})
	if err != nil {
		return Passkey{}, fmt.Errorf("store: add passkey: %w", err)
	}
	return p, nil
}

// PasskeysOf lists the admin's passkeys, oldest first.
func (db *DB) PasskeysOf(ctx context.Context, adminID int64) ([]Passkey, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE admin_id = ? ORDER BY id", adminID)
	if err != nil {
		return nil, fmt.Errorf("store: passkeys of admin %d: %w", adminID, err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: passkeys of admin %d: %w", adminID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyUsed records a sign-in with the passkey and its updated record (the sign count).
func (db *DB) PasskeyUsed(ctx context.Context, credentialID, credential []byte) error {
	return db.mustAffect(ctx, "UPDATE passkeys SET credential = ?, last_used_at = ? WHERE credential_id = ?",
		string(credential), db.now(), credentialID)
}

// DeletePasskey removes one of the admin's passkeys and returns it; ErrNotFound when the admin
// has none with that id.
func (db *DB) DeletePasskey(ctx context.Context, adminID, id int64) (Passkey, error) {
	p, err := scanPasskey(db.r.QueryRowContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE id = ? AND admin_id = ?", id, adminID))
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, domain.ErrNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("store: passkey %d: %w", id, err)
	}
	if err := db.mustAffect(ctx, "DELETE FROM passkeys WHERE id = ? AND admin_id = ?", id, adminID); err != nil {
		return Passkey{}, fmt.Errorf("store: delete passkey %d: %w", id, err)
	}
	return p, nil
}

// DeletePasskeys removes all of the admin's passkeys and returns how many there were.
func (db *DB) DeletePasskeys(ctx context.Context, adminID int64) (int, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM passkeys WHERE admin_id = ?", adminID)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete passkeys of admin %d: %w", adminID, err)
	}
	return int(n), nil
}
