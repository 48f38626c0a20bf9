package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/store"
)

// TestHeldKeysUseTheirIndex: the checker reads the held candidates at every start; the read
// goes through pairs_held, not over every pair (sealed keys included) of the table.
func TestHeldKeysUseTheirIndex(t *testing.T) {
	db := MustOpen(t)
	_, r := db.Pools()
	rows, err := r.Query("EXPLAIN QUERY PLAN SELECT id FROM pairs "+store.HeldKeysWhere, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "; ")
	}
	if p := b.String(); !strings.Contains(p, "USING INDEX pairs_held") {
		t.Errorf("held candidates are not read through pairs_held: %s", p)
	}
}

// TestTeamCountStopsAtItsLimit: teams are counted case-folded, and no further than asked.
func TestTeamCountStopsAtItsLimit(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	for i, email := range []string{"a@acme.com", "A@ACME.com", "b@acme.com", "c@acme.com", "d@acme.com"} {
		mustKey(t, db, fmt.Sprintf("Key %d", i), email, fmt.Sprintf("key-%02d-0123456789", i))
	}
	for _, tc := range []struct{ upTo, want int }{{1, 1}, {3, 3}, {4, 4}, {10, 4}} {
		got, err := db.TeamCount(ctx, tc.upTo)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("TeamCount(up to %d) = %d, want %d", tc.upTo, got, tc.want)
		}
	}
}
