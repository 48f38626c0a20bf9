package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// schemaTables are tables every staxkeys database has since its first migration; a file at the
// path without them is not a staxkeys database (an empty file, another application's).
var schemaTables = []string{"admins", "pairs", "checks", "events", "settings"}

// CheckSchema reports whether the database holds staxkeys' tables: readiness wants "the
// database we opened, with our schema", not merely one that answers SELECT 1.
func (db *DB) CheckSchema(ctx context.Context) error {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table'
		AND name IN (?, ?, ?, ?, ?)`, schemaTables[0], schemaTables[1], schemaTables[2], schemaTables[3], schemaTables[4]).Scan(&n)
	if err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	if n != len(schemaTables) {
		return fmt.Errorf("store: check schema: %d of staxkeys' %d tables present", n, len(schemaTables))
	}
	return nil
}

// CheckWrite takes the write lock and runs a write statement, then rolls back: it proves within
// ctx's deadline that the database accepts a write now, without adding to the WAL (Litestream
// would replicate a real write made by every readiness probe).
func (db *DB) CheckWrite(ctx context.Context) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM settings WHERE name = ''"); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return fmt.Errorf("store: check write: %w", err)
}

var errRollback = errors.New("store: roll back")
