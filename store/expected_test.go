package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestExpectedStandings: a pair declared dead is stamped and due at once, is counted apart from
// the keys that should work, is filtered by its standing, and (still accepted) leads "Problems
// first" while a retired one goes among the working keys.
func TestExpectedStandings(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)
	ok := mustKey(t, db, "b working", "ok@acme.com", "key-ok-0123456789")
	gone := mustKey(t, db, "c revoked", "gone@acme.com", "key-gone-0123456789")
	leaked := mustKey(t, db, "d leaked", "leak@acme.com", "key-leak-0123456789")
	retired := mustKey(t, db, "a retired", "old@acme.com", "key-old-0123456789")
	if leaked.Expected != domain.ExpectValid || !leaked.ExpectedAt.IsZero() {
		t.Fatalf("a new pair expects %q since %v; want valid, never set", leaked.Expected, leaked.ExpectedAt)
	}
	at := clk.Now()
	record(t, db, ok, domain.Valid, domain.OutcomeValid, at)
	record(t, db, gone, domain.Revoked, domain.OutcomeRevoked, at)
	record(t, db, leaked, domain.Valid, domain.OutcomeValid, at)
	record(t, db, retired, domain.Revoked, domain.OutcomeRevoked, at)
	clk.Advance(time.Minute)
	for _, p := range []domain.Key{leaked, retired} {
		got, err := db.SetExpected(ctx, p.ID, domain.ExpectRevoked)
		if err != nil {
			t.Fatal(err)
		}
		if got.Expected != domain.ExpectRevoked || !got.ExpectedAt.Equal(clk.Now()) || !got.NextCheckAt.Before(clk.Now()) {
			t.Fatalf("after SetExpected: expected %q at %v, next check %v", got.Expected, got.ExpectedAt, got.NextCheckAt)
		}
	}
	clk.Advance(time.Minute)
	again, err := db.SetExpected(ctx, leaked.ID, domain.ExpectRevoked)
	if err != nil || !again.ExpectedAt.Equal(clk.Now().Add(-time.Minute)) {
		t.Fatalf("setting the same expectation again moved its time: %v, %v", again.ExpectedAt, err)
	}
	if s := again.Standing(); s != domain.StandingStillAccepted {
		t.Fatalf("leaked key stands %q", s)
	}
	if _, err := db.SetExpected(ctx, 999, domain.ExpectRevoked); err == nil {
		t.Fatal("SetExpected of a missing pair: no error")
	}

	c, err := db.CountKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Valid != 2 || c.StillAccepted != 1 || c.Revoked != 2 || c.RetiredRevoked != 1 || c.Problems() != 2 {
		t.Fatalf("counts %+v, problems %d", c, c.Problems())
	}
	sum := 0
	for _, n := range c.Standings() {
		sum += n
	}
	if sum != c.Total {
		t.Fatalf("standings add up to %d of %d", sum, c.Total)
	}

	labels := func(q domain.KeyQuery) []string {
		t.Helper()
		page, err := db.ListKeys(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range page.Keys {
			out = append(out, k.Label)
		}
		return out
	}
	for status, want := range map[string]string{"valid": "b working", "revoked": "c revoked", "still_accepted": "d leaked", "retired": "a retired"} {
		if got := labels(domain.KeyQuery{Status: status}); len(got) != 1 || got[0] != want {
			t.Errorf("status %s lists %q; want %q", status, got, want)
		}
	}
	if got, want := labels(domain.KeyQuery{Sort: "status"}), []string{"d leaked", "c revoked", "a retired", "b working"}; !slices.Equal(got, want) {
		t.Errorf("problems first: %q; want %q", got, want)
	}

	// The feed: a change since the key was declared dead says what it meant.
	clk.Advance(time.Minute)
	leaked, _ = db.KeyByID(ctx, leaked.ID)
	rec := store.CheckRecord{
		Check: domain.Check{KeyID: leaked.ID, At: clk.Now(), Outcome: domain.OutcomeRevoked}, KeyChangedAt: leaked.KeyChangedAt,
		FromVerdict: domain.Valid, Verdict: domain.Revoked, VerdictAt: clk.Now(), VerdictSince: clk.Now(), NextCheckAt: clk.Now().Add(time.Hour),
		Event: &domain.Event{KeyID: leaked.ID, At: clk.Now(), Old: domain.Valid, New: domain.Revoked},
	}
	if err := db.RecordCheck(ctx, rec); err != nil {
		t.Fatal(err)
	}
	feed, _, err := db.ListActivity(ctx, domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityVerdict}, KeyID: leaked.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 1 || feed[0].Standing != domain.StandingRetired {
		t.Errorf("feed of the leaked key: %+v", feed)
	}
}
