package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/store"
)

// TestOpenExistingRefusesToCreate: a mistyped data directory must not become a new, empty
// database; OpenExisting says there is none and leaves nothing behind.
func TestOpenExistingRefusesToCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db, err := store.OpenExisting(context.Background(), path)
	if !errors.Is(err, store.ErrNoDatabase) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("OpenExisting of a missing file = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenExisting left a file behind: %v", err)
	}
	MustOpenAt(t, path).Close()
	db, err = store.OpenExisting(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenExisting of an existing database: %v", err)
	}
	db.Close()
}

// TestDeletedDatabaseIsNoticed: with the file deleted under an open DB, the probe fails naming
// the cause and new pooled connections do not create an empty file in its place.
func TestDeletedDatabaseIsNoticed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db := MustOpenAt(t, path)
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(name)
	}
	if err := db.Ping(ctx); !errors.Is(err, store.ErrFileGone) {
		t.Fatalf("Ping after deleting the file = %v, want ErrFileGone", err)
	}
	// Force new connections in both pools, as a busy server would open.
	w, r := db.Pools()
	var held []*sql.Conn
	for range 4 { // the read pool holds at least 4; two idle ones at most, so new ones open
		c, err := r.Conn(ctx)
		if err != nil {
			break
		}
		held = append(held, c)
		var n int
		_ = c.QueryRowContext(ctx, "SELECT count(*) FROM pairs").Scan(&n)
	}
	for _, c := range held {
		c.Close()
	}
	w.SetMaxIdleConns(0) // the writer's next use opens a new connection
	_, _ = w.ExecContext(ctx, "SELECT 1")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a pooled connection re-created the deleted database: %v", err)
	}
}

// TestReplacedDatabaseIsNoticed: another file moved over the path (a restore onto a running
// server) is not the database that was opened.
func TestReplacedDatabaseIsNoticed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "staxkeys.db")
	db := MustOpenAt(t, path)
	other := filepath.Join(dir, "other.db")
	MustOpenAt(t, other).Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckFile(); !errors.Is(err, store.ErrFileReplaced) {
		t.Fatalf("CheckFile after replacing the file = %v, want ErrFileReplaced", err)
	}
	if err := db.Ping(context.Background()); !errors.Is(err, store.ErrFileReplaced) {
		t.Fatalf("Ping = %v, want ErrFileReplaced", err)
	}
}

func TestCheckSchemaAndWrite(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckWrite(ctx); err != nil {
		t.Fatal(err)
	}
	w, _ := db.Pools()
	if _, err := w.ExecContext(ctx, "DROP TABLE checks"); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema passed without the checks table")
	}
	// The write lock held elsewhere: the probe gives up at its deadline instead of hanging.
	other, err := sql.Open("sqlite", "file:"+db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := db.CheckWrite(short); err == nil {
		t.Fatal("CheckWrite passed while another process held the write lock")
	}
}

// TestOpenMakesFilesPrivate: a database left readable by others (copied in by hand, restored
// by a tool) is made 0600 when opened.
func TestOpenMakesFilesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	MustOpenAt(t, path).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db := MustOpenAt(t, path)
	if err := db.PutSetting(context.Background(), "x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o after Open, want 0600", filepath.Base(name), perm)
		}
	}
	if w := db.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q for files it could fix", w)
	}
}

// TestChangeWatcher: a commit by another process (here another DB on the same file) is seen.
func TestChangeWatcher(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db := MustOpenAt(t, path)
	other := MustOpenAt(t, path)
	w, err := db.WatchChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if changed, err := w.Changed(ctx); err != nil || changed {
		t.Fatalf("Changed with no write = %v, %v", changed, err)
	}
	if err := other.PutSetting(ctx, "x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Changed(ctx); err != nil || !changed {
		t.Fatalf("Changed after another process wrote = %v, %v; want true", changed, err)
	}
	if changed, err := w.Changed(ctx); err != nil || changed {
		t.Fatalf("Changed a second time = %v, %v; want false", changed, err)
	}
}

// TestLongReaderDoesNotStall holds a read transaction from another connection for the whole
// test, as Litestream does, and times what a command does: open, write, read, close. With the
// old 10 s busy timeout and a TRUNCATE checkpoint on close, Close alone took 10 s. The bound is
// far from both the old figure and a healthy one, so a slow machine cannot fail it.
func TestLongReaderDoesNotStall(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	seed := MustOpenAt(t, path)
	if err := seed.PutSetting(ctx, "seed", []byte("1")); err != nil {
		t.Fatal(err)
	}
	seed.Close()

	reader, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	conn, err := reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM settings").Scan(&n); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	for i := range 3 {
		start := time.Now()
		db, err := store.OpenExisting(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PutSetting(ctx, "x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Setting(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("open, write, read, close beside a long reader: %v", took)
		if took > 3*time.Second {
			t.Fatalf("a command beside a long reader took %v, want well under the old 10 s stall", took)
		}
	}
}

// BenchmarkCommandBesideLongReader is what one CLI command costs the database while another
// connection holds a read transaction, as Litestream always does: open, one write, close.
// Before the PASSIVE checkpoint on close it was 10 s (the busy timeout) per operation.
func BenchmarkCommandBesideLongReader(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "staxkeys.db")
	MustOpenAt(b, path).Close()
	reader, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer reader.Close()
	conn, err := reader.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		b.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM settings").Scan(&n); err != nil {
		b.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	for i := 0; b.Loop(); i++ {
		db, err := store.OpenExisting(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.PutSetting(ctx, "x", []byte{byte(i)}); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
