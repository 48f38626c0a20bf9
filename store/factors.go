package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// TOTP is an admin's authenticator-app enrolment as stored: the secret sealed, never in clear.
type TOTP struct {
	AdminID     int64
	Sealed      []byte
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while the enrolment awaits its confirmation code
	LastStep    int64     // the last accepted time step; codes at or before it are refused
}

// Confirmed reports whether the enrolment was completed and so guards the login.
func (t TOTP) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// SettingRequire2FA is "1" when every admin must have a second factor.
const SettingRequire2FA = "require_2fa"

// BeginTOTP stores a new, unconfirmed TOTP secret for the admin, replacing an earlier
// unconfirmed one; ErrConflict when a confirmed one exists (it must be removed first).
func (db *DB) BeginTOTP(ctx context.Context, adminID int64, sealed []byte) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT confirmed_at FROM totp WHERE admin_id = ?", adminID).Scan(&confirmed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case confirmed.Valid:
			return domain.ErrConflict
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO totp (admin_id, secret_sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (admin_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, last_step = 0",
			adminID, sealed, db.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: begin totp of admin %d: %w", adminID, err)
	}
	return nil
}

// TOTPOf returns the admin's TOTP enrolment, confirmed or not; ErrNotFound when none.
func (db *DB) TOTPOf(ctx context.Context, adminID int64) (TOTP, error) {
	t := TOTP{AdminID: adminID}
	var created, confirmed sql.NullInt64
	err := db.r.QueryRowContext(ctx, "SELECT secret_sealed, created_at, confirmed_at, last_step FROM totp WHERE admin_id = ?", adminID).
		Scan(&t.Sealed, &created, &confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTP{}, domain.ErrNotFound
	}
	if err != nil {
		return TOTP{}, fmt.Errorf("store: totp of admin %d: %w", adminID, err)
	}
	t.CreatedAt, t.ConfirmedAt = fromMS(created), fromMS(confirmed)
	return t, nil
}

// ConfirmTOTP completes the admin's enrolment at the accepted step and replaces their recovery
// codes with codeHashes, in one transaction; ErrNotFound when no unconfirmed enrolment exists.
func (db *DB) ConfirmTOTP(ctx context.Context, adminID, step int64, codeHashes [][]byte) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE totp SET confirmed_at = ?, last_step = ? WHERE admin_id = ? AND confirmed_at IS NULL",
			db.now(), step, adminID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrNotFound
		}
		return replaceRecoveryCodes(ctx, tx, adminID, codeHashes)
	})
	if err != nil {
		return fmt.Errorf("store: confirm totp of admin %d: %w", adminID, err)
	}
	return nil
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, adminID int64, codeHashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE admin_id = ?", adminID); err != nil {
		return err
	}
	for _, h := range codeHashes {
		if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_codes (admin_id, code_hash) VALUES (?, ?)", adminID, h); err != nil {
			return err
		}
	}
	return nil
}

// AcceptTOTPStep records step as the admin's last accepted one if it is later than the last,
// atomically, and reports whether it was: two requests with the same code cannot both win.
func (db *DB) AcceptTOTPStep(ctx context.Context, adminID, step int64) (bool, error) {
	var ok bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE totp SET last_step = ? WHERE admin_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", step, adminID, step)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: accept totp step of admin %d: %w", adminID, err)
	}
	return ok, nil
}

// UseRecoveryCode marks the admin's unused code with this hash used and reports whether there
// was one: each code opens one login.
func (db *DB) UseRecoveryCode(ctx context.Context, adminID int64, codeHash []byte) (bool, error) {
	var ok bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE recovery_codes SET used_at = ? WHERE admin_id = ? AND code_hash = ? AND used_at IS NULL", db.now(), adminID, codeHash)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: use recovery code of admin %d: %w", adminID, err)
	}
	return ok, nil
}

// RecoveryCodesLeft counts the admin's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, adminID int64) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM recovery_codes WHERE admin_id = ? AND used_at IS NULL", adminID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: recovery codes of admin %d: %w", adminID, err)
	}
	return n, nil
}

// DeleteTOTP removes the admin's TOTP enrolment and recovery codes; it reports whether a
// confirmed enrolment was removed.
func (db *DB) DeleteTOTP(ctx context.Context, adminID int64) (bool, error) {
	var removed bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM totp WHERE admin_id = ? AND confirmed_at IS NOT NULL", adminID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		removed = n > 0
		if _, err := tx.ExecContext(ctx, "DELETE FROM totp WHERE admin_id = ?", adminID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE admin_id = ?", adminID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: delete totp of admin %d: %w", adminID, err)
	}
	return removed, nil
}

// HasSecondFactor reports whether the admin has a confirmed second factor.
func (db *DB) HasSecondFactor(ctx context.Context, adminID int64) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM totp WHERE admin_id = ?1 AND confirmed_at IS NOT NULL) + (SELECT count(*) FROM passkeys WHERE admin_id = ?1)", adminID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: second factor of admin %d: %w", adminID, err)
	}
	return n > 0, nil
}

// FactorSummary is what second factors one admin has, for the admins page.
type FactorSummary struct {
	TOTP     bool
	Passkeys int
}

// FactorSummaries returns every admin's second factors, by admin id (admins with none are
// absent).
func (db *DB) FactorSummaries(ctx context.Context) (map[int64]FactorSummary, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT a.id,
		EXISTS (SELECT 1 FROM totp t WHERE t.admin_id = a.id AND t.confirmed_at IS NOT NULL),
		(SELECT count(*) FROM passkeys p WHERE p.admin_id = a.id)
		FROM admins a`)
	if err != nil {
		return nil, fmt.Errorf("store: factor summaries: %w", err)
	}
	defer rows.Close()
	out := map[int64]FactorSummary{}
	for rows.Next() {
		var id int64
		var f FactorSummary
		if err := rows.Scan(&id, &f.TOTP, &f.Passkeys); err != nil {
			return nil, fmt.Errorf("store: factor summaries: %w", err)
		}
		if f.TOTP || f.Passkeys > 0 {
			out[id] = f
		}
	}
	return out, rows.Err()
}
