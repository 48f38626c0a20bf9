package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestDashboardOrdersUseIndexes guards the pact between keySorts and the indexes of
// migrations/00004: every order the dashboard offers, each way round, and the status order
// under a verdict filter, reads a page off an index instead of sorting every pair.
func TestDashboardOrdersUseIndexes(t *testing.T) {
	db := MustOpen(t)
	_, r := db.Pools()
	plan := func(t *testing.T, query string) string {
		t.Helper()
		rows, err := r.Query("EXPLAIN QUERY PLAN " + query)
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
		return b.String()
	}
	for name, terms := range store.KeySorts {
		for _, desc := range []bool{false, true} {
			order := slices.Clone(terms)
			if desc {
				for i := range order {
					order[i] += " DESC"
				}
			}
			t.Run(fmt.Sprintf("%s desc=%v", name, desc), func(t *testing.T) {
				if p := plan(t, "SELECT id FROM pairs ORDER BY "+strings.Join(order, ", ")+" LIMIT 50"); strings.Contains(p, "TEMP B-TREE") {
					t.Errorf("sorts every pair: %s", p)
				}
			})
		}
	}
	t.Run("status within a verdict", func(t *testing.T) {
		q := "SELECT id FROM pairs WHERE verdict = 'valid' ORDER BY " + store.OutcomeOrder + ", lower(label), id LIMIT 50"
		if p := plan(t, q); strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("sorts every valid pair: %s", p)
		}
	})
}

// TestListKeysVerdictFilterKeepsTheOrder: under a verdict filter ListKeys drops the status
// order's first term (constant there) to use pairs_verdict_order; the order must not change.
func TestListKeysVerdictFilterKeepsTheOrder(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)
	for i := range 12 {
		clk.Advance(time.Second)
		p := mustKey(t, db, fmt.Sprintf("Key %c", 'L'-i), fmt.Sprintf("k%d@acme.com", i), fmt.Sprintf("key-%02d-0123456789", i))
		o := domain.OutcomeValid
		if i%4 == 1 {
			o = domain.OutcomeUndecided // still valid, but its last check failed: listed first
		}
		record(t, db, p, domain.Valid, o, clk.Now())
	}
	mustKey(t, db, "Pending", "p@acme.com", "key-pending-0123456789")
	all, err := db.ListKeys(ctx, domain.KeyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, p := range all.Keys {
		if p.Verdict == domain.Valid {
			want = append(want, p.ID)
		}
	}
	for _, tc := range []struct {
		limit, offset int
		want          []int64
	}{
		{0, 0, want},
		{5, 5, want[5:10]},
		{5, 10, want[10:]},
	} {
		page, err := db.ListKeys(ctx, domain.KeyQuery{Status: "valid", Limit: tc.limit, Offset: tc.offset})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page.Keys); !slices.Equal(got, tc.want) || page.Total != 12 {
			t.Errorf("limit %d offset %d: %v of %d, want %v of 12", tc.limit, tc.offset, got, page.Total, tc.want)
		}
	}
}

func TestListKeysSearchCounts(t *testing.T) {
	ctx := context.Background()
	db, _ := listFixture(t)
	for _, tc := range []struct {
		q     domain.KeyQuery
		n     int
		total int
	}{
		{domain.KeyQuery{Search: "acme", Limit: 2}, 2, 3},
		{domain.KeyQuery{Search: "acme", Limit: 2, Offset: 2}, 1, 3},
		{domain.KeyQuery{Search: "acme", Limit: 2, Offset: 10}, 0, 3}, // past the end, still counted
		{domain.KeyQuery{Search: "ACME", Status: "revoked", Limit: 2, Offset: 4}, 0, 1},
		{domain.KeyQuery{Search: "nomatch", Limit: 2, Offset: 4}, 0, 0},
	} {
		page, err := db.ListKeys(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Keys) != tc.n || page.Total != tc.total {
			t.Errorf("%+v: %d pairs of %d, want %d of %d", tc.q, len(page.Keys), page.Total, tc.n, tc.total)
		}
	}
}

func TestRecentOutcomes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)
	a := mustKey(t, db, "A", "a@acme.com", "key-a-0123456789")
	b := mustKey(t, db, "B", "b@acme.com", "key-b-0123456789")
	c := mustKey(t, db, "C", "c@acme.com", "key-c-0123456789")
	t0 := clk.Now()
	for i := range 8 {
		o := domain.OutcomeValid
		if i%3 == 0 {
			o = domain.OutcomeUndecided
		}
		record(t, db, a, domain.Valid, o, t0.Add(time.Duration(i)*time.Minute))
	}
	record(t, db, b, domain.Revoked, domain.OutcomeRevoked, t0)
	got, err := db.RecentOutcomes(ctx, []int64{a.ID, b.ID, c.ID}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got[a.ID]) != 5 || len(got[b.ID]) != 1 || len(got[c.ID]) != 0 {
		t.Fatalf("got %d, %d, %d checks", len(got[a.ID]), len(got[b.ID]), len(got[c.ID]))
	}
	var outcomes []string
	for i, ch := range got[a.ID] {
		if want := t0.Add(time.Duration(3+i) * time.Minute); !ch.At.Equal(want) || ch.KeyID != a.ID {
			t.Errorf("check %d at %v of pair %d, want the last five, oldest first", i, ch.At, ch.KeyID)
		}
		outcomes = append(outcomes, string(ch.Outcome))
	}
	if want := []string{"error", "valid", "valid", "error", "valid"}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
	if got, err := db.RecentOutcomes(ctx, nil, 5); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v, %v", got, err)
	}
}
