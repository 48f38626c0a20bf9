package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/migrations"
	"github.com/staxkeys/staxkeys/store"
)

// TestMigrationAddsOnCallChannels upgrades a database written before migration 45, which
// rebuilds deliveries to accept the on-call channels: every delivery keeps its row and its
// grouping columns, and an id deleted before is not handed out again.
func TestMigrationAddsOnCallChannels(t *testing.T) {
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
	if _, err := p.UpTo(ctx, 30); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO deliveries (id, created_at, event, channel, payload, status, attempts, next_attempt_at, group_until)
			VALUES (1, 10, 'verdict.changed', 'webhook', '{}', 'sent', 1, 10, 40),
			       (2, 11, 'outage.started', 'slack', '{}', 'pending', 0, 11, NULL),
			       (3, 12, 'test', 'email', '{}', 'failed', 1, 12, NULL)`,
		`DELETE FROM deliveries WHERE id = 3`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := MustOpenAt(t, path)
	ds, total, err := db.ListDeliveries(ctx, store.DeliveryQuery{})
	if err != nil || total != 2 || len(ds) != 2 {
		t.Fatalf("deliveries after the migration: %d, %v", total, err)
	}
	now := time.UnixMilli(100).UTC()
	ok, err := db.EnqueueIncident(ctx, now, store.Incident{Channel: "pagerduty", DedupKey: "staxkeys-key-1", Action: "trigger"},
		store.NewDelivery{Event: "verdict.changed", Channel: "pagerduty", Payload: []byte("{}")})
	if err != nil || !ok {
		t.Fatalf("an on-call delivery: %v, %v", ok, err)
	}
	ds, _, _ = db.ListDeliveries(ctx, store.DeliveryQuery{})
	if ds[0].ID != 4 || ds[0].Channel != "pagerduty" || ds[0].Status != domain.DeliveryPending {
		t.Errorf("the new delivery %+v, want id 4 (3 was used)", ds[0])
	}
	w, _ := db.Pools()
	var n int
	if err := w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'deliveries' AND sql IS NOT NULL").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d indexes on deliveries, %v; want 2", n, err)
	}
}

// TestEnqueueIncidentSkipsRepeats: the same action on the same channel and dedup key again
// queues nothing; the other action does, and so does another channel or key.
func TestEnqueueIncidentSkipsRepeats(t *testing.T) {
	ctx := context.Background()
	db := MustOpenAt(t, filepath.Join(t.TempDir(), "t.db"))
	now := time.UnixMilli(1000).UTC()
	for i, c := range []struct {
		channel, key, action string
		want                 bool
	}{
		{"pagerduty", "staxkeys-key-1", "trigger", true},
		{"pagerduty", "staxkeys-key-1", "trigger", false},
		{"opsgenie", "staxkeys-key-1", "trigger", true},
		{"pagerduty", "staxkeys-key-2", "trigger", true},
		{"pagerduty", "staxkeys-key-1", "resolve", true},
		{"pagerduty", "staxkeys-key-1", "resolve", false},
		{"pagerduty", "staxkeys-key-1", "trigger", true},
	} {
		ok, err := db.EnqueueIncident(ctx, now, store.Incident{Channel: c.channel, DedupKey: c.key, Action: c.action},
			store.NewDelivery{Event: "verdict.changed", Channel: c.channel, Payload: []byte("{}")})
		if err != nil || ok != c.want {
			t.Errorf("step %d %+v: queued %v, %v", i, c, ok, err)
		}
	}
	if _, total, _ := db.ListDeliveries(ctx, store.DeliveryQuery{}); total != 5 {
		t.Errorf("%d deliveries, want 5", total)
	}
}
