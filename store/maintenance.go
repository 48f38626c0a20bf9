package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/staxkeys/staxkeys/domain"
)

// Reseal is what re-sealing one pair under a new master key produces.
type Reseal struct {
	KeySealed       []byte
	PairFingerprint []byte
	KeyFingerprint  []byte
}

// ResealAll rewrites every pair's sealed key and fingerprints, and the given settings (the
// canary and other sealed values), in one transaction: either every secret moves to the new
// master key or none does.
func (db *DB) ResealAll(ctx context.Context, settings map[string][]byte, reseal func(domain.Key) (Reseal, error)) (int, error) {
	n := 0
	err := db.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+pairColumns+" FROM pairs ORDER BY id")
		if err != nil {
			return err
		}
		var pairs []domain.Key
		for rows.Next() {
			p, err := scanPair(rows)
			if err != nil {
				rows.Close()
				return err
			}
			pairs = append(pairs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, "UPDATE pairs SET key_sealed = ?, pair_fingerprint = ?, key_fingerprint = ? WHERE id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range pairs {
			r, err := reseal(p)
			if err != nil {
				return fmt.Errorf("pair %d: %w", p.ID, err)
			}
			if _, err := stmt.ExecContext(ctx, r.KeySealed, r.PairFingerprint, r.KeyFingerprint, p.ID); err != nil {
				return err
			}
			n++
		}
		for name, value := range settings {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
				name, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: reseal: %w", err)
	}
	// Old ciphertexts may linger in free pages and the WAL; fold and wipe them.
	if err := db.Checkpoint(ctx); err != nil {
		return n, fmt.Errorf("store: reseal: checkpoint: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM"); err != nil {
		return n, fmt.Errorf("store: reseal: vacuum: %w", err)
	}
	return n, db.Checkpoint(ctx)
}

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
