package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/staxkeys/staxkeys/domain"
)

// ErrSetupDone means the first admin already exists, so the setup page is closed.
var ErrSetupDone = errors.New("store: an admin already exists")

// ErrLastAdmin means the change would leave nobody able to manage users: the last user with
// the admin role can be neither removed nor demoted.
var ErrLastAdmin = errors.New("store: the last admin cannot be removed or demoted")

const adminColumns = "id, email, password_hash, role, created_at, password_changed_at"

func scanAdmin(row interface{ Scan(...any) error }) (domain.Admin, error) {
	var a domain.Admin
	var created, changed sql.NullInt64
	err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.Role, &created, &changed)
	a.CreatedAt, a.PasswordChangedAt = fromMS(created), fromMS(changed)
	return a, err
}

// CountAdmins returns how many admins exist.
func (db *DB) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM admins").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count admins: %w", err)
	}
	return n, nil
}

// CreateFirstAdmin creates an admin only while none exists, atomically, so two setup forms
// submitted at once cannot both succeed.
func (db *DB) CreateFirstAdmin(ctx context.Context, email, passwordHash string) (domain.Admin, error) {
	var a domain.Admin
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM admins").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrSetupDone
		}
		var err error
		a, err = db.insertAdmin(ctx, tx, email, passwordHash, domain.RoleAdmin)
		return err
	})
	if err != nil {
		return domain.Admin{}, fmt.Errorf("store: create first admin: %w", err)
	}
	return a, nil
}

// CreateAdmin adds a user with role; ErrConflict if the email is taken.
func (db *DB) CreateAdmin(ctx context.Context, email, passwordHash string, role domain.Role) (domain.Admin, error) {
	var a domain.Admin
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = db.insertAdmin(ctx, tx, email, passwordHash, role)
		return err
	})
	if err != nil {
		return domain.Admin{}, fmt.Errorf("store: create admin: %w", err)
	}
	return a, nil
}

func (db *DB) insertAdmin(ctx context.Context, tx *sql.Tx, email, passwordHash string, role domain.Role) (domain.Admin, error) {
	now := db.now()
	res, err := tx.ExecContext(ctx,
		"INSERT INTO admins (email, password_hash, role, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)",
		email, passwordHash, string(role), now, now)
	if isUniqueViolation(err) {
		return domain.Admin{}, &domain.ValidationError{Fields: map[string]string{"email": "an admin with this email already exists"}, Conflict: true}
	}
	if err != nil {
		return domain.Admin{}, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return domain.Admin{}, err
	}
	return scanAdmin(tx.QueryRowContext(ctx, "SELECT "+adminColumns+" FROM admins WHERE id = ?", id))
}

// AdminByEmail finds an admin by email, case-insensitively.
func (db *DB) AdminByEmail(ctx context.Context, email string) (domain.Admin, error) {
	a, err := scanAdmin(db.r.QueryRowContext(ctx, "SELECT "+adminColumns+" FROM admins WHERE email = ?", email))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Admin{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Admin{}, fmt.Errorf("store: admin by email: %w", err)
	}
	return a, nil
}

// AdminByID finds an admin by id.
func (db *DB) AdminByID(ctx context.Context, id int64) (domain.Admin, error) {
	a, err := scanAdmin(db.r.QueryRowContext(ctx, "SELECT "+adminColumns+" FROM admins WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Admin{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Admin{}, fmt.Errorf("store: admin %d: %w", id, err)
	}
	return a, nil
}

// ListAdmins returns every admin, oldest first.
func (db *DB) ListAdmins(ctx context.Context) ([]domain.Admin, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+adminColumns+" FROM admins ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list admins: %w", err)
	}
	defer rows.Close()
	var out []domain.Admin
	for rows.Next() {
		a, err := scanAdmin(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list admins: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetAdminRole gives user id a new role; ErrLastAdmin (and no change) if that would leave no
// user with the admin role. A changed role ends the user's sessions, so a demotion takes
// effect at once rather than at the next login.
func (db *DB) SetAdminRole(ctx context.Context, id int64, role domain.Role) error {
	if !role.Valid() {
		return domain.Invalid("role", "choose viewer, editor or admin")
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, "SELECT role FROM admins WHERE id = ?", id).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil || old == string(role) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE admins SET role = ? WHERE id = ?", string(role), id); err != nil {
			return err
		}
		if err := lastAdminGuard(ctx, tx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE admin_id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set role of admin %d: %w", id, err)
	}
	return nil
}

// lastAdminGuard fails a change, inside its transaction (which is then rolled back), that
// left no user with the admin role. Checking after the change in the one write transaction
// makes two concurrent demotions unable to both pass.
func lastAdminGuard(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM admins WHERE role = 'admin'").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// SetAdminPassword replaces an admin's password hash and ends all of that admin's sessions, so
// a stolen cookie stops working the moment the password changes.
func (db *DB) SetAdminPassword(ctx context.Context, id int64, passwordHash string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE admins SET password_hash = ?, password_changed_at = ? WHERE id = ?",
			passwordHash, db.now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE admin_id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password of admin %d: %w", id, err)
	}
	return nil
}

// DeleteAdmin removes a user and their sessions; ErrLastAdmin if no user with the admin role
// would remain.
func (db *DB) DeleteAdmin(ctx context.Context, id int64) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM admins WHERE id = ?", id)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return domain.ErrNotFound
		}
		return lastAdminGuard(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("store: delete admin %d: %w", id, err)
	}
	return nil
}
