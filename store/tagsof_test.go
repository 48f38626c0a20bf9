package store_test

import (
	"context"
	"slices"
	"testing"
)

// TagsOf reads the tags of several pairs in one query, sorted, with an empty entry for a pair
// that has none or is gone.
func TestTagsOf(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	nk := newKey("billing", "ops@acme.com", "key-billing-0123456789")
	nk.Tags = []string{"payments", "ops"}
	tagged, err := db.CreateKey(ctx, nk)
	if err != nil {
		t.Fatal(err)
	}
	untagged := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")
	got, err := db.TagsOf(ctx, []int64{tagged.ID, untagged.ID, 999})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[tagged.ID], []string{"ops", "payments"}) {
		t.Errorf("tags of the tagged pair: %q, want [ops payments]", got[tagged.ID])
	}
	for _, id := range []int64{untagged.ID, 999} {
		if tags, ok := got[id]; !ok || tags == nil || len(tags) != 0 {
			t.Errorf("tags of %d: %#v (present %v), want an empty entry", id, tags, ok)
		}
	}
}
