package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/migrations"
)

// TestMigrationDropsPairFingerprint upgrades a database written before migration 30, which
// rebuilds pairs without pair_fingerprint: every pair keeps its row, history and reminders,
// deleted ids stay unused, foreign keys still cascade, and (key, email) is still unique.
func TestMigrationDropsPairFingerprint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 20); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO pairs (id, label, email, key_sealed, key_hint, pair_fingerprint, key_fingerprint,
			created_at, updated_at, key_changed_at, verdict, last_outcome, flaps)
			VALUES (1, 'one', 'a@acme.com', x'01', '0001', x'a1', x'f1', 1, 2, 3, 'valid', 'valid', 2),
			       (2, 'two', 'b@acme.com', x'02', '0002', x'a2', x'f1', 1, 2, 3, 'revoked', 'revoked', 0),
			       (3, 'gone', 'c@acme.com', x'03', '0003', x'a3', x'f3', 1, 2, 3, 'pending', NULL, 0)`,
		`DELETE FROM pairs WHERE id = 3`,
		`INSERT INTO checks (pair_id, at, outcome, http_status) VALUES (1, 10, 'valid', 200), (2, 11, 'revoked', 401)`,
		`INSERT INTO events (pair_id, at, old_verdict, new_verdict) VALUES (2, 11, 'valid', 'revoked')`,
		`INSERT INTO reminders (pair_id, kind, anchor_at, period, queued_at) VALUES (2, 'verdict', 11, 60, 11)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := MustOpenAt(t, path)
	w, _ := db.Pools()
	var n int
	if err := w.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('pairs') WHERE name = 'pair_fingerprint'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("pair_fingerprint still there: %d, %v", n, err)
	}
	one, err := db.KeyByID(ctx, 1)
	if err != nil || one.Label != "one" || one.Email != "a@acme.com" || string(one.KeyFingerprint) != "\xf1" || one.Verdict != domain.Valid || one.Flaps != 2 {
		t.Fatalf("pair 1 after the migration: %+v, %v", one, err)
	}
	for _, c := range []struct {
		q    string
		want int
	}{
		{"SELECT count(*) FROM checks", 2},
		{"SELECT count(*) FROM events", 1},
		{"SELECT count(*) FROM reminders", 1},
		{"SELECT seq FROM sqlite_sequence WHERE name = 'pairs'", 3},
		// The indexes the rebuild recreated; later migrations add their own (00054: pairs_held).
		{"SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'pairs' AND sql IS NOT NULL AND name <> 'pairs_held'", 10},
		{"SELECT count(*) FROM pragma_foreign_key_check", 0},
	} {
		if err := w.QueryRowContext(ctx, c.q).Scan(&n); err != nil || n != c.want {
			t.Errorf("%s = %d, %v; want %d", c.q, n, err, c.want)
		}
	}
	// Foreign keys are on again: deleting a pair takes its history with it.
	if err := db.DeleteKey(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM checks) + (SELECT count(*) FROM events) + (SELECT count(*) FROM reminders)").Scan(&n); err != nil || n != 1 {
		t.Errorf("history left after deleting pair 2: %d rows, %v", n, err)
	}
	// A deleted id is not handed out again.
	created, err := db.CreateKey(ctx, newKey("new", "d@acme.com", "key-four-0123456789"))
	if err != nil || created.ID != 4 {
		t.Fatalf("new pair id = %d, %v; want 4", created.ID, err)
	}
	// The same key under the same email in another case is refused.
	dup := newKey("dup", "A@ACME.COM", "x")
	dup.KeyFingerprint = []byte("\xf1")
	if _, err := db.CreateKey(ctx, dup); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("duplicate (key, email) = %v, want ErrConflict", err)
	}
	dup.Email = "e@acme.com"
	if _, err := db.CreateKey(ctx, dup); err != nil {
		t.Fatalf("the same key under another email: %v", err)
	}
}
