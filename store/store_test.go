package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// MustOpen opens a fresh database in a temporary directory and closes it when the test ends.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return MustOpenAt(tb, filepath.Join(tb.TempDir(), "staxkeys.db"))
}

// MustOpenAt opens (or creates) the database at path and closes it when the test ends.
func MustOpenAt(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable time source for DB.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(db *store.DB) *clock {
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	db.Now = c.Now
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestOpenAppliesMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db := MustOpenAt(t, path)

	ok, err := db.MigrationsCurrent(ctx)
	if err != nil || !ok {
		t.Fatalf("MigrationsCurrent = %v, %v; want true, nil", ok, err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := db.IntegrityCheck(ctx); err != nil || got != "ok" {
		t.Fatalf("IntegrityCheck = %q, %v", got, err)
	}
	if db.Path() != path {
		t.Errorf("Path = %q, want %q", db.Path(), path)
	}
	w, _ := db.Pools()
	for _, table := range []string{"admins", "sessions", "pairs", "checks", "events", "settings", "goose_db_version"} {
		var n int
		if err := w.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: found %d, %v", table, n, err)
		}
	}

	// A second open of the same file finds nothing left to apply and keeps the data.
	if err := db.PutSetting(ctx, "kept", []byte("yes")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := MustOpenAt(t, path)
	if ok, err := db2.MigrationsCurrent(ctx); err != nil || !ok {
		t.Fatalf("reopened: MigrationsCurrent = %v, %v", ok, err)
	}
	if v, err := db2.Setting(ctx, "kept"); err != nil || string(v) != "yes" {
		t.Fatalf("reopened: setting = %q, %v", v, err)
	}
}

func TestFileModes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db := MustOpenAt(t, path)
	// A write makes SQLite create the -wal and -shm files beside the database.
	if err := db.PutSetting(ctx, "x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), perm)
		}
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	w, r := db.Pools()

	pragma := func(t *testing.T, conn *sql.Conn, name string) string {
		t.Helper()
		var v string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1"}

	for _, pool := range []struct {
		name     string
		db       *sql.DB
		conns    int
		readOnly string
	}{
		{"writer", w, 1, "0"},
		// Several connections held at once, so the pragmas are seen on more than the first.
		{"reader", r, 4, "1"},
	} {
		t.Run(pool.name, func(t *testing.T) {
			var held []*sql.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for i := range pool.conns {
				conn, err := pool.db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, conn)
				for name, v := range want {
					if got := pragma(t, conn, name); !strings.EqualFold(got, v) {
						t.Errorf("connection %d: %s = %s, want %s", i, name, got, v)
					}
				}
				if got := pragma(t, conn, "query_only"); got != pool.readOnly {
					t.Errorf("connection %d: query_only = %s, want %s", i, got, pool.readOnly)
				}
			}
		})
	}
	t.Run("reader refuses writes", func(t *testing.T) {
		if _, err := r.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES ('r', x'00')"); err == nil {
			t.Fatal("a write through the read pool succeeded")
		}
	})
	t.Run("foreign keys enforced", func(t *testing.T) {
		err := db.CreateSession(ctx, store.Session{IDHash: []byte("orphan"), AdminID: 999, CreatedAt: time.Now(), LastSeenAt: time.Now()})
		if err == nil {
			t.Fatal("a session for a missing admin was stored")
		}
	})
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if _, err := db.Setting(ctx, "missing"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Setting(missing) error = %v, want ErrNotFound", err)
	}
	for _, v := range []string{"one", "two"} {
		if err := db.PutSetting(ctx, "name", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Setting(ctx, "name"); err != nil || string(got) != v {
			t.Fatalf("Setting = %q, %v; want %q", got, err, v)
		}
	}

	calls := 0
	init := func() ([]byte, error) { calls++; return []byte(fmt.Sprint("init", calls)), nil }
	for range 2 {
		got, err := db.SettingOrInit(ctx, "canary", init)
		if err != nil || string(got) != "init1" {
			t.Fatalf("SettingOrInit = %q, %v; want init1", got, err)
		}
	}
	if calls != 1 {
		t.Errorf("init called %d times, want 1", calls)
	}
	boom := errors.New("boom")
	if _, err := db.SettingOrInit(ctx, "failing", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("SettingOrInit error = %v, want boom", err)
	}
	if _, err := db.Setting(ctx, "failing"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a failed init stored something: %v", err)
	}
}

// TestConcurrentWrites hammers one database from many goroutines, and from a second handle on the
// same file as `staxkeys admin create` does beside a running server: no write may fail with
// SQLITE_BUSY ("database is locked").
func TestConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	db := MustOpenAt(t, path)
	other := MustOpenAt(t, path)
	admin, err := db.CreateFirstAdmin(ctx, "a@example.com", "hash")
	if err != nil {
		t.Fatal(err)
	}

	const workers, each = 24, 15
	errs := make(chan error, workers*each*3)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := db
			if g%4 == 0 {
				h = other
			}
			for i := range each {
				email := fmt.Sprintf("team%d-%d@example.com", g, i)
				p, err := h.CreateKey(ctx, newKey("", email, "key"))
				if err != nil {
					errs <- err
					continue
				}
				if _, err := h.UpdateKey(ctx, p.ID, store.KeyUpdate{Label: "l", Email: email}); err != nil {
					errs <- err
				}
				if err := h.PutSetting(ctx, fmt.Sprint("s", g), []byte{byte(i)}); err != nil {
					errs <- err
				}
				sid := sha256.Sum256(fmt.Append(nil, g, i))
				if err := h.CreateSession(ctx, store.Session{IDHash: sid[:], AdminID: admin.ID, CreatedAt: time.Now(), LastSeenAt: time.Now()}); err != nil {
					errs <- err
				}
				if _, err := h.ListKeys(ctx, domain.KeyQuery{Limit: 5}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c, err := db.CountKeys(ctx); err != nil || c.Total != workers*each {
		t.Fatalf("CountKeys = %+v, %v; want %d in all", c, err, workers*each)
	}
}
