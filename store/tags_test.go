package store_test

import (
	"context"
	"slices"
	"testing"

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
