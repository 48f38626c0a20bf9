package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// TestExpectedAddAndUpdate: what is expected of a key is set on add and edit, validated with
// the other fields (a bad value changes nothing), and in the audit trail.
func TestExpectedAddAndUpdate(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	svc := keys.NewService(v, audit.New(db, bytes.Repeat([]byte{7}, 32), nil), nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")

	var ve *domain.ValidationError
	if _, err := svc.Add(ctx, ed, keys.Input{Email: "ops@acme.com", Key: goodKey, Expected: "dead"}); !errors.As(err, &ve) || ve.Fields["expected"] == "" {
		t.Fatalf("add with expected dead: %v", err)
	}
	k, err := svc.Add(ctx, ed, keys.Input{Label: "leaked", Email: "ops@acme.com", Key: goodKey, Expected: domain.ExpectRevoked})
	if err != nil || k.Expected != domain.ExpectRevoked || k.ExpectedAt.IsZero() {
		t.Fatalf("add expected revoked: %+v, %v", k, err)
	}
	bad, label := domain.Expect("gone"), "renamed"
	if _, err := svc.Update(ctx, ed, k.ID, keys.Edit{Label: &label, Expected: &bad}); !errors.As(err, &ve) || ve.Fields["expected"] == "" {
		t.Fatalf("update with a bad expectation: %v", err)
	}
	if got, _ := svc.Get(ctx, k.ID); got.Label != "leaked" || got.Expected != domain.ExpectRevoked {
		t.Fatalf("a refused update changed the key: %+v", got)
	}
	valid := domain.ExpectValid
	up, err := svc.Update(ctx, ed, k.ID, keys.Edit{Expected: &valid})
	if err != nil || up.Expected != domain.ExpectValid {
		t.Fatalf("update to expected valid: %+v, %v", up, err)
	}
	entries, _, err := db.ListAudit(ctx, store.AuditQuery{Action: "pair.", Limit: 10})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit %+v, %v", entries, err)
	}
	if e := entries[0]; e.Action != "pair.edit" || e.Detail != "expected revoked (should be dead) → valid (should work)" {
		t.Errorf("edit entry %+v", e)
	}
	if e := entries[1]; e.Action != "pair.add" || e.Detail != "expected revoked (should be dead)" {
		t.Errorf("add entry %+v", e)
	}
}

// A tagged key whose expectation alone is edited keeps its tags, in the key returned and in
// the audit entry (which once read "tags [...] → []").
func TestExpectedEditKeepsTags(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	svc := keys.NewService(v, audit.New(db, bytes.Repeat([]byte{7}, 32), nil), nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	k, err := svc.Add(ctx, ed, keys.Input{Label: "billing", Email: "ops@acme.com", Key: goodKey, Tags: []string{"payments", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	dead := domain.ExpectRevoked
	up, err := svc.Update(ctx, ed, k.ID, keys.Edit{Expected: &dead})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(up.Tags, " ") != "payments prod" {
		t.Errorf("the key after the edit has tags %q, want [payments prod]", up.Tags)
	}
	entries, _, err := db.ListAudit(ctx, store.AuditQuery{Action: "pair.edit", Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit %+v, %v", entries, err)
	}
	if d := entries[0].Detail; d != "expected valid (should work) → revoked (should be dead)" {
		t.Errorf("edit entry detail %q, want only the expectation", d)
	}
}

// TestImportExpectedColumn: an optional expected column sets each key's expected state (empty
// is valid); any other value marks the row, by line.
func TestImportExpectedColumn(t *testing.T) {
	v, db := MustOpenVault(t)
	ctx := context.Background()
	file := "label,email,key,expected\n" +
		"one,a@example.com," + impKey1 + ",revoked\n" +
		"two,b@example.com," + impKey2 + ",\n" +
		"three,c@example.com," + impKey3 + ",dead\n"
	plan, err := v.PlanImport(ctx, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if got := problems(plan); strings.Join(got, "; ") != "4: expected" {
		t.Fatalf("bad rows %q", got)
	}
	if _, err := v.Import(ctx, plan, true); err != nil {
		t.Fatal(err)
	}
	all, err := db.AllKeys(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("imported %d keys, %v", len(all), err)
	}
	if all[0].Expected != domain.ExpectRevoked || all[1].Expected != domain.ExpectValid {
		t.Errorf("expected %q, %q", all[0].Expected, all[1].Expected)
	}
}
