package store

import (
	"context"
	"database/sql"
	"fmt"
)

// ChangeWatcher tells when another connection, in this process or another, committed to the
// database, by SQLite's PRAGMA data_version. The value is per connection, so the watcher holds
// one reader of its own.
type ChangeWatcher struct {
	conn *sql.Conn
	last int64
}

// WatchChanges returns a ChangeWatcher holding one read connection until Close.
func (db *DB) WatchChanges(ctx context.Context) (*ChangeWatcher, error) {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: watch changes: %w", err)
	}
	w := &ChangeWatcher{conn: conn}
	if w.last, err = w.version(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

func (w *ChangeWatcher) version(ctx context.Context) (int64, error) {
	var v int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: data version: %w", err)
	}
	return v, nil
}

// Changed reports whether another connection committed since the last call (or since
// WatchChanges). Commits of this process's own writer count too: that connection is another.
func (w *ChangeWatcher) Changed(ctx context.Context) (bool, error) {
	v, err := w.version(ctx)
	if err != nil {
		return false, err
	}
	changed := v != w.last
	w.last = v
	return changed, nil
}

// Close gives the watcher's connection back.
func (w *ChangeWatcher) Close() error { return w.conn.Close() }
