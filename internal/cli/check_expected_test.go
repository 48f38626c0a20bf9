package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
)

// TestCheckExitByStanding: `check` exits by what each verdict means for its key. A key expected
// dead that is still accepted fails the run (exit 1) although it is valid; a retired one
// (revoked, as expected) passes; a key that should work fails when revoked, as before.
func TestCheckExitByStanding(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	key := func(v domain.Verdict, e domain.Expect) checker.KeyResult {
		o := domain.Outcome(v)
		return checker.KeyResult{Key: domain.Key{ID: 1, Label: "k", Email: "a@acme.com", Verdict: v, Expected: e,
			LastCheck: &domain.Check{At: at, Outcome: o}}}
	}
	for _, tc := range []struct {
		name string
		keys []checker.KeyResult
		want int
	}{
		{"valid, should work", []checker.KeyResult{key(domain.Valid, domain.ExpectValid)}, exitOK},
		{"revoked, should work", []checker.KeyResult{key(domain.Revoked, domain.ExpectValid)}, exitBadKey},
		{"valid, should be dead", []checker.KeyResult{key(domain.Valid, domain.ExpectRevoked)}, exitBadKey},
		{"revoked, should be dead", []checker.KeyResult{key(domain.Revoked, domain.ExpectRevoked)}, exitOK},
		{"denied, should be dead", []checker.KeyResult{key(domain.Denied, domain.ExpectRevoked)}, exitOK},
	} {
		rep := checkReport{}
		for _, k := range tc.keys {
			rep.Rows = append(rep.Rows, rowOf(k))
		}
		if got := rep.code(); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
	var b strings.Builder
	if err := printCheckTable(&b, []checkRow{rowOf(key(domain.Valid, domain.ExpectRevoked))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "valid (still accepted, should be dead)") {
		t.Errorf("table:\n%s", b.String())
	}
}
