package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestTags: tags are written with the pair in the same step, come back sorted on every read
// that pages and the API use, filter ListKeys, are counted by ListTags and go with the pair.
func TestTags(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	nk := newKey("billing", "ops@acme.com", "key-billing-0123456789")
	nk.Tags = []string{"env:prod", "billing"}
	billing, err := db.CreateKey(ctx, nk)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"billing", "env:prod"}; !slices.Equal(billing.Tags, want) {
		t.Fatalf("CreateKey tags = %q, want %q", billing.Tags, want)
	}
	intake := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")
	if intake.Tags == nil || len(intake.Tags) != 0 {
		t.Fatalf("untagged pair's tags = %#v, want empty and loaded", intake.Tags)
	}
	if _, err := db.UpdateKey(ctx, intake.ID, store.KeyUpdate{Label: "intake", Email: "ops@beta.com", Tags: []string{"zapier", "env:prod"}}); err != nil {
		t.Fatal(err)
	}

	got, err := db.KeyByID(ctx, intake.ID)
	if err != nil || !slices.Equal(got.Tags, []string{"env:prod", "zapier"}) {
		t.Fatalf("KeyByID tags = %q, %v", got.Tags, err)
	}
	all, err := db.AllKeys(ctx)
	if err != nil || len(all) != 2 || !slices.Equal(all[0].Tags, billing.Tags) || !slices.Equal(all[1].Tags, got.Tags) {
		t.Fatalf("AllKeys = %+v, %v", all, err)
	}

	for _, tc := range []struct {
		tag  string
		want []int64
	}{
		{"", []int64{billing.ID, intake.ID}},
		{"env:prod", []int64{billing.ID, intake.ID}},
		{"billing", []int64{billing.ID}},
		{" ZAPIER ", []int64{intake.ID}},
		{"nobody", nil},
	} {
		page, err := db.ListKeys(ctx, domain.KeyQuery{Tag: tc.tag, Sort: "label"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, k := range page.Keys {
			ids = append(ids, k.ID)
			if k.Tags == nil {
				t.Errorf("ListKeys left pair %d's tags unloaded", k.ID)
			}
		}
		if !slices.Equal(ids, tc.want) || page.Total != len(tc.want) {
			t.Errorf("ListKeys(tag %q) = %v (total %d), want %v", tc.tag, ids, page.Total, tc.want)
		}
	}
	// With a search too, whose count comes from the same pass.
	page, err := db.ListKeys(ctx, domain.KeyQuery{Tag: "env:prod", Search: "intake"})
	if err != nil || page.Total != 1 || page.Keys[0].ID != intake.ID {
		t.Fatalf("ListKeys(tag, search) = %+v, %v", page, err)
	}

	tags, err := db.ListTags(ctx)
	want := []domain.TagCount{{Tag: "billing", Keys: 1}, {Tag: "env:prod", Keys: 2}, {Tag: "zapier", Keys: 1}}
	if err != nil || !slices.Equal(tags, want) {
		t.Fatalf("ListTags = %v, %v; want %v", tags, err, want)
	}

	// An update without tags clears them (the service passes the old ones to keep them).
	if _, err := db.UpdateKey(ctx, billing.ID, store.KeyUpdate{Label: "billing", Email: "ops@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteKey(ctx, intake.ID); err != nil {
		t.Fatal(err)
	}
	if tags, err := db.ListTags(ctx); err != nil || len(tags) != 0 {
		t.Fatalf("ListTags after clearing and deleting = %v, %v; want none", tags, err)
	}
}

// TestTagMutes: a tag's mute holds for every key carrying the tag, one that gets it later too,
// and for none that loses it; a key's own mute wins; the mute ends by someone or at its until,
// once.
func TestTagMutes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	nk := newKey("billing", "ops@acme.com", "key-billing-0123456789")
	nk.Tags = []string{"billing"}
	billing, err := db.CreateKey(ctx, nk)
	if err != nil {
		t.Fatal(err)
	}
	intake := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")

	m, replaced, expired, err := db.StartTagMute(ctx, domain.Mute{Tag: "billing", Until: t0.Add(time.Hour), Note: "invoice run", CreatedAt: t0, CreatedBy: "ann@acme.com"})
	if err != nil || m.ID == 0 || m.KeyID != 0 || replaced != nil || expired != nil {
		t.Fatalf("StartTagMute = %+v, %v, %v, %v", m, replaced, expired, err)
	}
	if got, ok, err := db.ActiveMute(ctx, billing.ID, t0.Add(time.Minute)); err != nil || !ok || got.Tag != "billing" || got.Note != "invoice run" {
		t.Fatalf("ActiveMute(billing) = %+v, %v, %v; want the tag's mute", got, ok, err)
	}
	if _, ok, _ := db.ActiveMute(ctx, intake.ID, t0.Add(time.Minute)); ok {
		t.Fatal("intake, without the tag, is muted")
	}
	// intake gets the tag while the mute lasts: muted too.
	if _, err := db.UpdateKey(ctx, intake.ID, store.KeyUpdate{Label: "intake", Email: "ops@beta.com", Tags: []string{"billing", "zapier"}}); err != nil {
		t.Fatal(err)
	}
	all, err := db.ActiveMutes(ctx, t0.Add(time.Minute))
	if err != nil || len(all) != 2 || all[billing.ID].Tag != "billing" || all[intake.ID].Tag != "billing" {
		t.Fatalf("ActiveMutes = %+v, %v; want both keys by the tag", all, err)
	}
	// A key's own mute wins over its tag's.
	own, _, _, err := db.StartMute(ctx, domain.Mute{KeyID: intake.ID, Note: "own", CreatedAt: t0, CreatedBy: "bob@acme.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.ActiveMute(ctx, intake.ID, t0.Add(time.Minute)); got.ID != own.ID {
		t.Errorf("ActiveMute(intake) = %+v, want its own mute", got)
	}
	if all, _ := db.ActiveMutes(ctx, t0.Add(time.Minute)); all[intake.ID].ID != own.ID || all[billing.ID].ID != m.ID {
		t.Errorf("ActiveMutes = %+v", all)
	}
	if _, err := db.EndMute(ctx, intake.ID, t0.Add(2*time.Minute), "bob@acme.com"); err != nil {
		t.Fatal(err)
	}
	if tm, err := db.ActiveTagMutes(ctx, t0.Add(time.Minute)); err != nil || len(tm) != 1 || tm[0].ID != m.ID {
		t.Fatalf("ActiveTagMutes = %+v, %v", tm, err)
	}
	// billing loses the tag: no longer muted.
	if _, err := db.UpdateKey(ctx, billing.ID, store.KeyUpdate{Label: "billing", Email: "ops@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.ActiveMute(ctx, billing.ID, t0.Add(3*time.Minute)); ok {
		t.Error("billing without the tag is still muted")
	}

	// Muting again replaces; unmuting ends it; a tag not muted is ErrNotFound.
	m2, replaced, _, err := db.StartTagMute(ctx, domain.Mute{Tag: "billing", Until: t0.Add(10 * time.Minute), CreatedAt: t0.Add(4 * time.Minute), CreatedBy: "ann@acme.com"})
	if err != nil || replaced == nil || replaced.ID != m.ID {
		t.Fatalf("second StartTagMute = %+v, %+v, %v", m2, replaced, err)
	}
	if _, err := db.EndTagMute(ctx, "zapier", t0.Add(5*time.Minute), "ann@acme.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("EndTagMute of an unmuted tag: %v", err)
	}
	ended, err := db.EndExpiredMutes(ctx, t0.Add(11*time.Minute))
	if err != nil || len(ended) != 1 || ended[0].ID != m2.ID || ended[0].Tag != "billing" {
		t.Fatalf("EndExpiredMutes = %+v, %v", ended, err)
	}
	if again, _ := db.EndExpiredMutes(ctx, t0.Add(12*time.Minute)); len(again) != 0 {
		t.Errorf("ended twice: %+v", again)
	}
	if _, ok, _ := db.ActiveMute(ctx, intake.ID, t0.Add(12*time.Minute)); ok {
		t.Error("intake muted after the tag's until")
	}
}

// TestTagMuteInActivity: a tag's mute is in the activity feed, with its tag and its end.
func TestTagMuteInActivity(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return t0.Add(time.Hour) }
	if _, _, _, err := db.StartTagMute(ctx, domain.Mute{Tag: "billing", Note: "invoice run", CreatedAt: t0, CreatedBy: "ann@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndTagMute(ctx, "billing", t0.Add(time.Minute), "bob@acme.com"); err != nil {
		t.Fatal(err)
	}
	feed, n, err := db.ListActivity(ctx, domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityMute}, Limit: 10})
	if err != nil || n != 1 || feed[0].Tag != "billing" || feed[0].KeyID != 0 || feed[0].By != "ann@acme.com" ||
		feed[0].EndedBy != "bob@acme.com" || !feed[0].Ended.Equal(t0.Add(time.Minute)) || feed[0].Detail != "invoice run" {
		t.Fatalf("feed = %+v, %d, %v", feed, n, err)
	}
}
