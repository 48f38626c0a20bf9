package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

func TestMutes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	billing := mustKey(t, db, "billing", "ops@acme.com", "key-billing-0123456789")
	intake := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")

	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: 999, CreatedAt: t0}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("mute of a missing key: %v, want ErrNotFound", err)
	}
	m, replaced, expired, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Until: t0.Add(time.Hour), Note: "maintenance", CreatedAt: t0, CreatedBy: "ann@acme.com"})
	if err != nil || m.ID == 0 || replaced != nil || expired != nil {
		t.Fatalf("StartMute = %+v, %v, %v, %v", m, replaced, expired, err)
	}
	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: intake.ID, CreatedAt: t0, CreatedBy: "ann@acme.com"}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.ActiveMute(ctx, billing.ID, t0.Add(time.Minute))
	if err != nil || !ok || got.Note != "maintenance" || !got.Until.Equal(t0.Add(time.Hour)) || got.CreatedBy != "ann@acme.com" {
		t.Fatalf("ActiveMute = %+v, %v, %v", got, ok, err)
	}
	all, err := db.ActiveMutes(ctx, t0.Add(2*time.Hour))
	if err != nil || len(all) != 1 || all[intake.ID].ID == 0 {
		t.Fatalf("ActiveMutes after billing's until = %+v, %v; want intake's alone", all, err)
	}

	// Muting again replaces the open mute, ended now by whoever muted again.
	m2, replaced, expired, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Note: "longer", CreatedAt: t0.Add(10 * time.Minute), CreatedBy: "bob@acme.com"})
	if err != nil || replaced == nil || replaced.ID != m.ID || replaced.EndedBy != "bob@acme.com" || expired != nil {
		t.Fatalf("second StartMute = %+v, %+v, %+v, %v", m2, replaced, expired, err)
	}

	// Expiry: only mutes whose until passed, each returned once.
	m3, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Until: t0.Add(30 * time.Minute), CreatedAt: t0.Add(20 * time.Minute), CreatedBy: "bob@acme.com"})
	if err != nil {
		t.Fatal(err)
	}
	if ended, err := db.EndExpiredMutes(ctx, t0.Add(29*time.Minute)); err != nil || len(ended) != 0 {
		t.Fatalf("EndExpiredMutes before the until = %+v, %v", ended, err)
	}
	ended, err := db.EndExpiredMutes(ctx, t0.Add(31*time.Minute))
	if err != nil || len(ended) != 1 || ended[0].ID != m3.ID || !ended[0].EndedAt.Equal(t0.Add(30*time.Minute)) || ended[0].EndedBy != "" {
		t.Fatalf("EndExpiredMutes = %+v, %v", ended, err)
	}
	if again, err := db.EndExpiredMutes(ctx, t0.Add(32*time.Minute)); err != nil || len(again) != 0 {
		t.Fatalf("second EndExpiredMutes = %+v, %v; want none", again, err)
	}
	if _, err := db.EndMute(ctx, billing.ID, t0.Add(40*time.Minute), "bob@acme.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unmute of an unmuted key: %v, want ErrNotFound", err)
	}

	// A mute whose until passed unnoticed is ended at its until when the key is muted again.
	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Until: t0.Add(50 * time.Minute), CreatedAt: t0.Add(45 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, replaced, expired, err = db.StartMute(ctx, domain.Mute{KeyID: billing.ID, CreatedAt: t0.Add(time.Hour)})
	if err != nil || replaced != nil || expired == nil || !expired.EndedAt.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("StartMute over an expired mute = %+v, %+v, %v", replaced, expired, err)
	}

	// Unmute ends it, by whom.
	un, err := db.EndMute(ctx, intake.ID, t0.Add(time.Hour), "carl@acme.com")
	if err != nil || un.EndedBy != "carl@acme.com" || !un.EndedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("EndMute = %+v, %v", un, err)
	}
	if _, ok, _ := db.ActiveMute(ctx, intake.ID, t0.Add(time.Hour)); ok {
		t.Fatal("intake still muted after unmute")
	}

	// Deleting the key deletes its mutes.
	if err := db.DeleteKey(ctx, billing.ID); err != nil {
		t.Fatal(err)
	}
	if all, err := db.ActiveMutes(ctx, t0.Add(time.Hour)); err != nil || len(all) != 0 {
		t.Fatalf("mutes after the key's deletion = %+v, %v", all, err)
	}
}

// TestActivityFeedMutes: each mute is one feed entry at its start, with its note, who muted and
// unmuted, its until and its end; one whose until passed shows as ended then, sweep or not.
func TestActivityFeedMutes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(3 * time.Hour)
	db.Now = func() time.Time { return now }
	billing := mustKey(t, db, "billing", "ops@acme.com", "key-billing-0123456789")
	intake := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")
	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Note: "rotating", CreatedAt: t0, CreatedBy: "ann@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndMute(ctx, billing.ID, t0.Add(time.Hour), "bob@acme.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: intake.ID, Until: t0.Add(2 * time.Hour), CreatedAt: t0.Add(time.Minute), CreatedBy: "ann@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: billing.ID, Until: t0.Add(5 * time.Hour), CreatedAt: t0.Add(2 * time.Hour), CreatedBy: "carl@acme.com"}); err != nil {
		t.Fatal(err)
	}
	all, total, err := db.ListActivity(ctx, domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityMute}})
	if err != nil || total != 3 {
		t.Fatalf("mutes in the feed: %d, %v; want 3", total, err)
	}
	open, expired, unmuted := all[0], all[1], all[2]
	if open.KeyID != billing.ID || open.By != "carl@acme.com" || !open.Ended.IsZero() || !open.Until.Equal(t0.Add(5*time.Hour)) {
		t.Errorf("open mute %+v", open)
	}
	if expired.KeyLabel != "intake" || !expired.Ended.Equal(t0.Add(2*time.Hour)) || expired.EndedBy != "" {
		t.Errorf("expired mute %+v: want ended at its until", expired)
	}
	if unmuted.Detail != "rotating" || unmuted.By != "ann@acme.com" || unmuted.EndedBy != "bob@acme.com" ||
		!unmuted.Ended.Equal(t0.Add(time.Hour)) || !unmuted.Until.IsZero() {
		t.Errorf("unmuted mute %+v", unmuted)
	}
	if _, total, _ := db.ListActivity(ctx, domain.ActivityQuery{KeyID: intake.ID}); total != 1 {
		t.Errorf("intake's feed: %d entries, want its mute", total)
	}
	if _, total, _ := db.ListActivity(ctx, domain.ActivityQuery{Since: t0.Add(30 * time.Minute)}); total != 1 {
		t.Errorf("feed from +30m: %d entries, want the mute begun at +2h", total)
	}
}
