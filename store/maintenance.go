package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrExists means the backup file is already there; a backup never overwrites.
var ErrExists = errors.New("store: file exists")

// Backup writes a consistent copy of the live database to path (mode 0600) with VACUUM INTO,
// which is safe while other connections read and write.
func (db *DB) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: backup to %s: %w", path, ErrExists)
	}
	// Create the file empty first (SQLite accepts an empty target) so that it is private from
	// its first byte.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	if _, err := db.w.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}
