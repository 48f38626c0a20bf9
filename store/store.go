// Package store keeps staxkeys' records in SQLite: admins, sessions, key pairs with their checks
// and verdict history, and settings. It sees only sealed keys and hashes, never a plaintext secret.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/migrations"
)

// DB is the staxkeys database: one writer connection, so writes queue instead of failing with
// SQLITE_BUSY, beside a pool of read-only connections that WAL lets run alongside it.
type DB struct {
	w, r     *sql.DB
	path     string
	file     os.FileInfo // the file as opened, to tell when the path no longer leads to it
	migrator *goose.Provider
	warnings []string

	stripMu sync.Mutex
	strip   *sql.Stmt
	prep    prepared
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// ErrNoDatabase means there is no database file at the path: OpenExisting never creates one,
// so a mistyped data directory is an error rather than a new, empty installation.
var ErrNoDatabase = errors.New("store: no database")

// ErrFileGone means the database file was deleted or moved while open; ErrFileReplaced means the
// path now leads to another file. Either way the data staxkeys works on is no longer at its path.
var (
	ErrFileGone     = errors.New("store: the database file is gone from its path")
	ErrFileReplaced = errors.New("store: the database file was replaced by another file")
)

// BusyTimeout is how long a connection waits for a lock another process holds before giving
// up with SQLITE_BUSY. Litestream's documentation recommends 5 s: it takes the write lock for
// its short checkpoints. The old 10 s, together with a blocking checkpoint on close, made every
// command beside Litestream stall for 10 s.
const BusyTimeout = 5 * time.Second

// pragmas go in the DSN so that every pooled connection gets them, not just the first.
// journal_mode WAL and synchronous NORMAL are what Litestream requires and recommends.
var pragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()),
	"journal_mode(WAL)",
	"foreign_keys(ON)",
	"synchronous(NORMAL)",
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	// mode=rw: a connection the pool opens later must never create the file. Without it a
	// database deleted under a running server came back as a new empty file, and every query
	// answered "no such table" while the probes' SELECT 1 stayed green.
	q.Set("mode", "rw")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers share the OS page cache; a 1 MiB cache each (SQLite's default is 2 MiB)
		// keeps an idle server small without costing the dashboard (measured: no change).
		q.Add("_pragma", "cache_size(-1024)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed, mode 0600) the database at path and applies pending migrations.
// Only the first start of the server should create a database; everything else uses
// OpenExisting.
func Open(ctx context.Context, path string) (*DB, error) { return open(ctx, path, true) }

// OpenExisting opens the database at path like Open, but fails with ErrNoDatabase when there is
// none instead of creating it.
func OpenExisting(ctx context.Context, path string) (*DB, error) { return open(ctx, path, false) }

func open(ctx context.Context, path string, create bool) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	// SQLite gives its -wal and -shm files the database file's mode, so creating it 0600 first
	// keeps all three private.
	f, err := os.OpenFile(abs, flags, 0o600)
	if errors.Is(err, os.ErrNotExist) && !create {
		return nil, fmt.Errorf("%w at %s", ErrNoDatabase, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: open %s: not a regular file", abs)
	}
	warnings := privateModes(abs)

	w, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	readers := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(readers)
	// Bursts open up to readers connections; two stay open, the rest close (with their page
	// caches) after a quiet minute.
	r.SetMaxIdleConns(2)
	r.SetConnMaxIdleTime(time.Minute)

	db := &DB{w: w, r: r, path: abs, file: fi, warnings: warnings, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// SQLite creates -wal and -shm with the database's mode; force them too, now they exist.
	db.warnings = append(db.warnings, privateModes(abs)...)
	db.warnings = slices.Compact(db.warnings)
	return db, nil
}

// privateModes forces the database and its -wal and -shm files to mode 0600, since they hold
// sealed keys and hashes; it returns a warning for each file it could not change.
func privateModes(path string) []string {
	var warnings []string
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(name, 0o600); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s has mode %04o and could not be made 0600: %v", name, fi.Mode().Perm(), err))
		}
	}
	return warnings
}

// Warnings are the problems Open found but worked around or could not fix (a database file
// readable by others that could not be made private), for the caller to log.
func (db *DB) Warnings() []string { return db.warnings }

// CheckFile reports whether the path still leads to the file that was opened: ErrFileGone when
// it was deleted or moved, ErrFileReplaced when another file took its place (a restore copied
// over a running server's database, say). A stat, cheap enough for every liveness probe.
func (db *DB) CheckFile() error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ErrFileGone
	case err != nil:
		return fmt.Errorf("store: stat %s: %w", db.path, err)
	case !os.SameFile(fi, db.file):
		return ErrFileReplaced
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w, migrations.FS)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	db.migrator = p
	return nil
}

// Path is the database file's absolute path.
func (db *DB) Path() string { return db.path }

// MigrationsCurrent reports whether every embedded migration has been applied.
func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	pending, err := db.migrator.HasPending(ctx)
	return !pending, err
}

// Ping checks that the path still leads to the database opened and that it answers a query:
// the fast check of a liveness probe.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.CheckFile(); err != nil {
		return err
	}
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close folds what it can of the WAL into the database without waiting, and closes both pools.
// The checkpoint is PASSIVE: a TRUNCATE checkpoint waits (up to the busy timeout) for every
// reader, and Litestream always holds one, so each command and each shutdown took 10 s.
func (db *DB) Close() error {
	if db.strip != nil {
		db.strip.Close()
	}
	db.prep.close()
	_, _ = db.w.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	return errors.Join(db.r.Close(), db.w.Close())
}

// Checkpoint folds the whole WAL into the main database file and empties it, waiting for
// readers; only maintenance that must wipe old pages from the WAL (re-sealing) uses it.
func (db *DB) Checkpoint(ctx context.Context) error {
	_, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok" when sound).
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	var res string
	err := db.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res)
	return res, err
}

// write runs fn in a write transaction on the single writer connection.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// mustAffect runs one statement in a write transaction; it is ErrNotFound when no row matched,
// so "delete/update a row that must exist" reads as one call.
func (db *DB) mustAffect(ctx context.Context, query string, args ...any) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrNotFound
		}
		return nil
	})
}

func (db *DB) now() int64 { return ms(db.Now()) }

// ms converts a time to the stored Unix milliseconds; the zero time is stored as 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts stored Unix milliseconds back; 0 and NULL become the zero time.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
