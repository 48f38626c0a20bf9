package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// newKey builds what the vault would hand the store, with stand-in fingerprints and sealing:
// the store never sees a plaintext key, only these bytes.
func newKey(label, email, key string) store.NewKey {
	return store.NewKey{
		Label: label, Email: email, KeyHint: key[max(0, len(key)-4):],
		KeyFingerprint: keyFP(key),
		Seal:           fakeSeal(key),
	}
}

func keyFP(key string) []byte {
	h := sha256.Sum256([]byte("key\x00" + key))
	return h[:]
}

func fakeSeal(key string) func(int64) ([]byte, error) {
	return func(id int64) ([]byte, error) { return fmt.Appendf(nil, "sealed(%d,%x)", id, keyFP(key)[:4]), nil }
}

func mustKey(t *testing.T, db *store.DB, label, email, key string) domain.Key {
	t.Helper()
	p, err := db.CreateKey(context.Background(), newKey(label, email, key))
	if err != nil {
		t.Fatalf("create pair %s: %v", email, err)
	}
	return p
}

// record stores one check of p that leaves it with verdict v.
func record(t *testing.T, db *store.DB, p domain.Key, v domain.Verdict, o domain.Outcome, at time.Time) {
	t.Helper()
	rec := store.CheckRecord{
		Check:        domain.Check{KeyID: p.ID, At: at, Outcome: o, HTTPStatus: 200, Latency: 42 * time.Millisecond, Reason: "test " + string(o)},
		KeyChangedAt: p.KeyChangedAt,
		Verdict:      v,
		NextCheckAt:  at.Add(15 * time.Minute),
	}
	if v != domain.Pending {
		rec.VerdictAt, rec.VerdictSince = at, at
	}
	if err := db.RecordCheck(context.Background(), rec); err != nil {
		t.Fatalf("record check of pair %d: %v", p.ID, err)
	}
}

func ids(ps []domain.Key) []int64 {
	out := []int64{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestCreateKey(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)

	var sealedFor int64
	in := newKey("Billing", "billing@acme.com", "sk_live_0123456789abcdef")
	seal := in.Seal
	in.Seal = func(id int64) ([]byte, error) { sealedFor = id; return seal(id) }
	p, err := db.CreateKey(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if sealedFor != p.ID || p.ID == 0 {
		t.Fatalf("Seal was called with id %d, pair has id %d", sealedFor, p.ID)
	}
	got, err := db.KeyByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSealed, _ := seal(p.ID)
	switch {
	case got.Label != "Billing" || got.Email != "billing@acme.com" || got.KeyHint != "cdef":
		t.Errorf("stored %q %q %q", got.Label, got.Email, got.KeyHint)
	case string(got.KeySealed) != string(wantSealed):
		t.Errorf("KeySealed = %q, want %q", got.KeySealed, wantSealed)
	case got.Verdict != domain.Pending || got.LastCheck != nil || !got.VerdictAt.IsZero():
		t.Errorf("a new pair is not pending: %+v", got)
	case !got.CreatedAt.Equal(clk.Now()) || !got.UpdatedAt.Equal(clk.Now()) || !got.KeyChangedAt.Equal(clk.Now()):
		t.Errorf("times = %v %v %v, want %v", got.CreatedAt, got.UpdatedAt, got.KeyChangedAt, clk.Now())
	case !got.NextCheckAt.IsZero():
		t.Errorf("a new pair is not due at once: next check %v", got.NextCheckAt)
	}

	t.Run("duplicate", func(t *testing.T) {
		_, err := db.CreateKey(ctx, newKey("other label", "BILLING@acme.com", "sk_live_0123456789abcdef"))
		if !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("error = %v, want ErrConflict", err)
		}
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Fields["key"] == "" {
			t.Fatalf("error = %#v, want a ValidationError marking key", err)
		}
	})
	t.Run("seal fails", func(t *testing.T) {
		boom := errors.New("boom")
		in := newKey("", "x@acme.com", "another-key-0123456789")
		in.Seal = func(int64) ([]byte, error) { return nil, boom }
		if _, err := db.CreateKey(ctx, in); !errors.Is(err, boom) {
			t.Fatalf("error = %v, want boom", err)
		}
	})
	if c, err := db.CountKeys(ctx); err != nil || c.Total != 1 {
		t.Fatalf("CountKeys = %+v, %v; want one pair (failed creates leave nothing)", c, err)
	}
	if _, err := db.KeyByID(ctx, 999); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("KeyByID(999) error = %v", err)
	}
}

func TestUpdateKey(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)
	p := mustKey(t, db, "old", "a@acme.com", "key-one-0123456789")
	mustKey(t, db, "", "b@acme.com", "key-two-0123456789")
	clk.Advance(time.Minute)
	record(t, db, p, domain.Valid, domain.OutcomeValid, clk.Now())
	p, _ = db.KeyByID(ctx, p.ID)

	t.Run("label only keeps key and verdict", func(t *testing.T) {
		clk.Advance(time.Minute)
		got, err := db.UpdateKey(ctx, p.ID, store.KeyUpdate{Label: "new", Email: p.Email})
		if err != nil {
			t.Fatal(err)
		}
		if got.Label != "new" || string(got.KeySealed) != string(p.KeySealed) || got.Verdict != domain.Valid ||
			!got.KeyChangedAt.Equal(p.KeyChangedAt) || !got.NextCheckAt.Equal(p.NextCheckAt) || !got.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("after label change: %+v", got)
		}
		p = got
	})
	t.Run("new email is checked again soon", func(t *testing.T) {
		clk.Advance(time.Minute)
		got, err := db.UpdateKey(ctx, p.ID, store.KeyUpdate{Label: p.Label, Email: "c@acme.com"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "c@acme.com" || string(got.KeySealed) != string(p.KeySealed) ||
			!got.KeyChangedAt.Equal(clk.Now()) || !got.NextCheckAt.IsZero() {
			t.Fatalf("after email change: %+v", got)
		}
		p = got
	})
	t.Run("new key resets the verdict", func(t *testing.T) {
		clk.Advance(time.Minute)
		record(t, db, p, domain.Valid, domain.OutcomeValid, clk.Now())
		var sealedFor int64
		got, err := db.UpdateKey(ctx, p.ID, store.KeyUpdate{
			Label: p.Label, Email: p.Email,
			KeyHint: "6789", KeyFingerprint: keyFP("key-three-0123456789"),
			Seal: func(id int64) ([]byte, error) { sealedFor = id; return []byte("resealed"), nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		if sealedFor != p.ID {
			t.Errorf("Seal called with id %d, want %d", sealedFor, p.ID)
		}
		if got.Verdict != domain.Pending || !got.VerdictAt.IsZero() || !got.VerdictSince.IsZero() ||
			string(got.KeySealed) != "resealed" || !got.NextCheckAt.IsZero() || got.Failures != 0 ||
			got.Candidate != "" || got.CandidateCount != 0 || !got.KeyChangedAt.Equal(clk.Now()) {
			t.Fatalf("after key change: %+v", got)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		// twin holds p's key (now key-three, under c@acme.com); taking p's email in another
		// case would register the same (key, email) twice.
		twin := mustKey(t, db, "", "d@acme.com", "key-three-0123456789")
		before, _ := db.KeyByID(ctx, twin.ID)
		_, err := db.UpdateKey(ctx, twin.ID, store.KeyUpdate{Email: "C@acme.com"})
		if !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("error = %v, want ErrConflict", err)
		}
		after, _ := db.KeyByID(ctx, twin.ID)
		if after.Email != before.Email || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("a refused update changed the pair: %+v", after)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		_, err := db.UpdateKey(ctx, 999, store.KeyUpdate{Email: "z@acme.com"})
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("error = %v, want ErrNotFound", err)
		}
	})
}

func TestDeleteKey(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	p := mustKey(t, db, "", "a@acme.com", "key-one-0123456789")
	keep := mustKey(t, db, "", "b@acme.com", "key-two-0123456789")
	record(t, db, p, domain.Valid, domain.OutcomeValid, time.Now())

	if err := db.DeleteKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.KeyByID(ctx, p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted pair: error = %v", err)
	}
	if checks, err := db.ListChecks(ctx, p.ID, 10); err != nil || len(checks) != 0 {
		t.Errorf("checks of a deleted pair: %v, %v", checks, err)
	}
	if err := db.DeleteKey(ctx, p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second delete: error = %v, want ErrNotFound", err)
	}
	if _, err := db.KeyByID(ctx, keep.ID); err != nil {
		t.Errorf("the other pair: %v", err)
	}
}

// listFixture registers five pairs whose orders differ under every sort.
func listFixture(t *testing.T) (*store.DB, []domain.Key) {
	t.Helper()
	db := MustOpen(t)
	clk := newClock(db)
	t0 := clk.Now()
	specs := []struct{ label, email, key string }{
		{"Prod billing", "billing@acme.com", "shared-key-0123456789"},
		{"100% uptime", "ops@acme.com", "shared-key-0123456789"},
		{"a_b", "x@other.org", "key-three-0123456789"},
		{"axb", "a@other.org", "key-four-0123456789"},
		{"", "z_z@acme.com", "key-five-0123456789"},
	}
	var ps []domain.Key
	for _, s := range specs {
		clk.Advance(time.Second)
		ps = append(ps, mustKey(t, db, s.label, s.email, s.key))
	}
	record(t, db, ps[0], domain.Valid, domain.OutcomeValid, t0.Add(10*time.Minute))
	record(t, db, ps[1], domain.Revoked, domain.OutcomeRevoked, t0.Add(5*time.Minute))
	record(t, db, ps[2], domain.Denied, domain.OutcomeDenied, t0.Add(20*time.Minute))
	record(t, db, ps[3], domain.Pending, domain.OutcomeUndecided, t0.Add(1*time.Minute))
	return db, ps
}

func TestListKeys(t *testing.T) {
	ctx := context.Background()
	db, ps := listFixture(t)
	id := func(i ...int) []int64 {
		out := []int64{}
		for _, n := range i {
			out = append(out, ps[n-1].ID)
		}
		return out
	}

	cases := []struct {
		name  string
		q     domain.KeyQuery
		want  []int64
		total int
	}{
		{"all, problems first", domain.KeyQuery{}, id(2, 3, 4, 5, 1), 5},
		{"status valid", domain.KeyQuery{Status: "valid"}, id(1), 1},
		{"status revoked", domain.KeyQuery{Status: "revoked"}, id(2), 1},
		{"status denied", domain.KeyQuery{Status: "denied"}, id(3), 1},
		{"status pending", domain.KeyQuery{Status: "pending", Sort: "added"}, id(4, 5), 2},
		{"status undecided", domain.KeyQuery{Status: "undecided"}, id(4), 1},

		{"search label ignores case", domain.KeyQuery{Search: "PROD"}, id(1), 1},
		{"search email", domain.KeyQuery{Search: "acme", Sort: "added"}, id(1, 2, 5), 3},
		{"search trimmed", domain.KeyQuery{Search: "  billing  "}, id(1), 1},
		{"search percent is literal", domain.KeyQuery{Search: "%"}, id(2), 1},
		{"search underscore is literal", domain.KeyQuery{Search: "_", Sort: "added"}, id(3, 5), 2},
		{"search a_b is not axb", domain.KeyQuery{Search: "a_b"}, id(3), 1},
		{"search backslash is literal", domain.KeyQuery{Search: `\`}, id(), 0},
		{"search no match", domain.KeyQuery{Search: "nomatch"}, id(), 0},
		{"search and status", domain.KeyQuery{Search: "acme", Status: "revoked"}, id(2), 1},

		{"sort status", domain.KeyQuery{Sort: "status"}, id(2, 3, 4, 5, 1), 5},
		{"sort -status", domain.KeyQuery{Sort: "-status"}, id(1, 5, 4, 3, 2), 5},
		{"sort label", domain.KeyQuery{Sort: "label"}, id(5, 2, 3, 4, 1), 5},
		{"sort -label", domain.KeyQuery{Sort: "-label"}, id(1, 4, 3, 2, 5), 5},
		{"sort email", domain.KeyQuery{Sort: "email"}, id(4, 1, 2, 3, 5), 5},
		{"sort -email", domain.KeyQuery{Sort: "-email"}, id(5, 3, 2, 1, 4), 5},
		{"sort added", domain.KeyQuery{Sort: "added"}, id(1, 2, 3, 4, 5), 5},
		{"sort -added", domain.KeyQuery{Sort: "-added"}, id(5, 4, 3, 2, 1), 5},
		{"sort checked", domain.KeyQuery{Sort: "checked"}, id(5, 4, 2, 1, 3), 5},
		{"sort -checked", domain.KeyQuery{Sort: "-checked"}, id(3, 1, 2, 4, 5), 5},

		{"page 1", domain.KeyQuery{Sort: "added", Limit: 2}, id(1, 2), 5},
		{"page 2", domain.KeyQuery{Sort: "added", Limit: 2, Offset: 2}, id(3, 4), 5},
		{"page 3", domain.KeyQuery{Sort: "added", Limit: 2, Offset: 4}, id(5), 5},
		{"past the end", domain.KeyQuery{Sort: "added", Limit: 2, Offset: 10}, id(), 5},
		{"page of a search", domain.KeyQuery{Search: "acme", Sort: "added", Limit: 1, Offset: 1}, id(2), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page, err := db.ListKeys(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Keys); !slices.Equal(got, tc.want) || page.Total != tc.total {
				t.Fatalf("got %v (total %d), want %v (total %d)", got, page.Total, tc.want, tc.total)
			}
		})
	}

	for _, q := range []domain.KeyQuery{{Status: "bogus"}, {Sort: "bogus"}, {Sort: "-bogus"}} {
		t.Run(fmt.Sprintf("invalid %+v", q), func(t *testing.T) {
			_, err := db.ListKeys(ctx, q)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || errors.Is(err, domain.ErrConflict) {
				t.Fatalf("error = %v, want a ValidationError", err)
			}
		})
	}

	t.Run("last check is loaded", func(t *testing.T) {
		p, err := db.KeyByID(ctx, ps[3].ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.LastCheck == nil || p.LastCheck.Outcome != domain.OutcomeUndecided || p.LastCheck.Latency != 42*time.Millisecond ||
			p.LastCheck.HTTPStatus != 200 || p.LastCheck.Reason != "test error" {
			t.Fatalf("LastCheck = %+v", p.LastCheck)
		}
	})
}

func TestCountKeys(t *testing.T) {
	db, _ := listFixture(t)
	got, err := db.CountKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := domain.StatusCounts{Pending: 2, Valid: 1, Revoked: 1, Denied: 1, Undecided: 1, Total: 5}
	if got != want {
		t.Fatalf("CountKeys = %+v, want %+v", got, want)
	}
}

// TestCountKeysTagged: the counts for a tag count the keys holding it alone (the dashboard's
// cards under ?tag=), the failed-last-check count too; "" counts every key, an unused tag none.
func TestCountKeysTagged(t *testing.T) {
	ctx := context.Background()
	db, ps := listFixture(t) // valid, revoked, denied, pending with a failed check, pending
	tag := func(p domain.Key, tags ...string) {
		t.Helper()
		if _, err := db.UpdateKey(ctx, p.ID, store.KeyUpdate{Label: p.Label, Email: p.Email, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	tag(ps[0], "payments")
	tag(ps[1], "payments", "ops")
	tag(ps[3], "payments")
	tag(ps[2], "ops")
	for tagName, want := range map[string]domain.StatusCounts{
		"":          {Pending: 2, Valid: 1, Revoked: 1, Denied: 1, Undecided: 1, Total: 5},
		"payments":  {Pending: 1, Valid: 1, Revoked: 1, Undecided: 1, Total: 3},
		" Payments": {Pending: 1, Valid: 1, Revoked: 1, Undecided: 1, Total: 3},
		"ops":       {Revoked: 1, Denied: 1, Total: 2},
		"nobody":    {},
	} {
		got, err := db.CountKeysTagged(ctx, tagName)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("CountKeysTagged(%q) = %+v, want %+v", tagName, got, want)
		}
	}
}

func TestSharedKeys(t *testing.T) {
	ctx := context.Background()
	db, ps := listFixture(t)
	got, err := db.SharedKeys(ctx, ids(ps))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]bool{ps[0].ID: true, ps[1].ID: true}
	if len(got) != len(want) || !got[ps[0].ID] || !got[ps[1].ID] {
		t.Fatalf("SharedKeys = %v, want %v", got, want)
	}
	// Only the asked-for ids are reported, even when their partner is elsewhere.
	if got, err := db.SharedKeys(ctx, []int64{ps[1].ID, ps[2].ID}); err != nil || len(got) != 1 || !got[ps[1].ID] {
		t.Fatalf("SharedKeys(2, 3) = %v, %v", got, err)
	}
	if got, err := db.SharedKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("SharedKeys(nil) = %v, %v", got, err)
	}
	same, err := db.KeysWithFingerprint(ctx, keyFP("shared-key-0123456789"))
	if err != nil || len(same) != 2 || same[0].ID != ps[0].ID || same[1].ID != ps[1].ID {
		t.Fatalf("KeysWithFingerprint = %v, %v", same, err)
	}
}

func TestListKeysSearchUnicode(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	p := mustKey(t, db, "Équipe Öl", "a@acme.com", "key-0123456789abcdef")
	mustKey(t, db, "equipe ol", "b@acme.com", "key-0123456789abcdef")
	for _, q := range []string{"Équipe", "équipe", "ÉQUIPE", "öl", "PE ÖL"} {
		t.Run(q, func(t *testing.T) {
			page, err := db.ListKeys(ctx, domain.KeyQuery{Search: q})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Keys); !slices.Equal(got, []int64{p.ID}) {
				t.Fatalf("found %v, want [%d]", got, p.ID)
			}
		})
	}
}
