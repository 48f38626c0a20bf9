package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// TestMuteAndUnmute: a mute's start, its replacement, its end by someone and its end by its
// until passing are each in the audit trail once; bad input is a field error and changes
// nothing.
func TestMuteAndUnmute(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	trail := audit.New(db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(v, trail, nil, nil)
	k := mustAdd(t, v, "billing", "ops@acme.com", goodKey)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")

	for name, tc := range map[string]struct {
		until time.Time
		note  string
		field string
	}{
		"until in the past": {now.Add(-time.Minute), "", "until"},
		"until now":         {now, "", "until"},
		"long note":         {time.Time{}, strings.Repeat("é", 501), "note"},
		"line break":        {time.Time{}, "a\nb", "note"},
		"bidi override":     {time.Time{}, "a\u202eb", "note"},
	} {
		_, err := svc.Mute(ctx, ed, k.ID, tc.until, tc.note)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
			t.Errorf("%s: %v, want a field error on %s", name, err, tc.field)
		}
	}
	if _, err := svc.Mute(ctx, ed, 999, time.Time{}, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("mute of a missing key: %v", err)
	}
	if _, muted, _ := svc.MuteOf(ctx, k.ID); muted {
		t.Fatal("bad input muted the key")
	}
	if entries, _, _ := db.ListAudit(ctx, store.AuditQuery{Action: "pair.", Limit: 100}); len(entries) != 0 {
		t.Fatalf("bad input was audited: %+v", entries)
	}

	m, err := svc.Mute(ctx, ed, k.ID, now.Add(time.Hour), strings.Repeat("é", 500))
	if err != nil || m.CreatedBy != "ed@acme.com" {
		t.Fatalf("Mute = %+v, %v", m, err)
	}
	if _, err := svc.Mute(ctx, ed, k.ID, time.Time{}, " rotating the key "); err != nil {
		t.Fatal(err)
	}
	got, muted, _ := svc.MuteOf(ctx, k.ID)
	if !muted || !got.Until.IsZero() || got.Note != "rotating the key" {
		t.Fatalf("after muting again: %+v, %v", got, muted)
	}
	if _, err := svc.Unmute(ctx, ed, k.ID); err != nil {
		t.Fatal(err)
	}
	// Unmuting an unmuted key changes nothing and records nothing.
	if m, err := svc.Unmute(ctx, ed, k.ID); err != nil || m.ID != 0 {
		t.Fatalf("second Unmute = %+v, %v", m, err)
	}
	if _, err := svc.Mute(ctx, ed, k.ID, now.Add(10*time.Minute), "deploy"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * time.Minute)
	if _, muted, _ := svc.MuteOf(ctx, k.ID); muted {
		t.Fatal("still muted after the until")
	}
	svc.EndExpiredMutes(ctx)
	svc.EndExpiredMutes(ctx)

	entries, _, err := db.ListAudit(ctx, store.AuditQuery{Action: "pair.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got2 []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Action != string(audit.KeyAdd) {
			got2 = append(got2, e.Actor+" "+e.Action+" "+e.Target+" "+e.Detail)
		}
	}
	want := []string{
		"ed@acme.com pair.mute pair:1 until 2026-12-01T13:00:00Z; note \"" + strings.Repeat("é", 500) + "\"",
		"ed@acme.com pair.mute pair:1 until unmuted; note \"rotating the key\"; replaces the mute until 2026-12-01T13:00:00Z; note \"" + strings.Repeat("é", 500) + "\"",
		"ed@acme.com pair.unmute pair:1 was until unmuted; note \"rotating the key\"",
		"ed@acme.com pair.mute pair:1 until 2026-12-01T12:10:00Z; note \"deploy\"",
		"staxkeys pair.mute_expired pair:1 until 2026-12-01T12:10:00Z; note \"deploy\"; ended 2026-12-01T12:10:00Z",
	}
	if strings.Join(got2, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got2, "\n"), strings.Join(want, "\n"))
	}
}
