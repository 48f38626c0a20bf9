package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/staxkeys/staxkeys/domain"
)

// Setting reads a named setting; ErrNotFound if it was never set.
func (db *DB) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: setting %s: %w", name, err)
	}
	return v, nil
}

// PutSetting writes a named setting.
func (db *DB) PutSetting(ctx context.Context, name string, value []byte) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put setting %s: %w", name, err)
	}
	return nil
}

// SettingOrInit returns the stored setting, or stores and returns init() when there is none,
// in one transaction so two processes starting at once agree on one value.
func (db *DB) SettingOrInit(ctx context.Context, name string, init func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if v, err = init(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)", name, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: setting %s: %w", name, err)
	}
	return v, nil
}
