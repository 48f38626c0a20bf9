package notify_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestMutedTagAlertsNobody: a key whose tag is muted changes verdict through the real checker,
// asking the fake Stax.ai, and nothing is queued for any channel; a key that gets the tag
// while the mute lasts is held back too. Once the tag is unmuted the next change alerts.
func TestMutedTagAlertsNobody(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	api, err := staxapi.New(staxapi.Config{BaseURL: fake.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	trail := audit.New(e.db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(e.vault, trail, nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	const keyA, keyB = "sk_live_TAGMUTE_alpha_0123456789", "sk_live_TAGMUTE_bravo_0123456789"
	a, err := svc.Add(ctx, ed, keys.Input{Label: "billing", Email: "a@acme.com", Key: keyA, Tags: []string{"billing"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Add(ctx, ed, keys.Input{Label: "late", Email: "b@acme.com", Key: keyB})
	if err != nil {
		t.Fatal(err)
	}
	fake.Set("a@acme.com", keyA, staxfake.Valid)
	fake.Set("b@acme.com", keyB, staxfake.Valid)

	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: "http://127.0.0.1:9/hook"}, Audit: trail})
	cfg := checker.DefaultConfig()
	cfg.ConfirmDelay = 10 * time.Millisecond // the confirming re-check comes at once
	c := checker.New(e.db, e.vault, api, cfg, nil, nil)
	c.AddObserver(n)
	check := func(k domain.Key, want domain.Verdict) {
		t.Helper()
		got, err := c.CheckNow(ctx, k.ID)
		if err != nil || got.Verdict != want {
			t.Fatalf("CheckNow(%s) = %s, %v; want %s", k.Label, got.Verdict, err, want)
		}
	}
	alerts := func() int {
		t.Helper()
		n := 0
		for _, d := range e.deliveries(t) {
			if d.Event == "verdict.changed" {
				n++
			}
		}
		return n
	}
	check(a, domain.Valid) // first verdicts: no alert
	check(b, domain.Valid)

	if _, err := svc.MuteTag(ctx, ed, "Billing", time.Time{}, "invoice run"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, ed, b.ID, keys.Edit{Tags: &[]string{"billing"}}); err != nil {
		t.Fatal(err)
	}
	fake.Set("a@acme.com", keyA, staxfake.Revoked)
	fake.Set("b@acme.com", keyB, staxfake.Denied)
	check(a, domain.Revoked)
	check(b, domain.Denied)
	if got := alerts(); got != 0 {
		t.Fatalf("%d alerts queued while the tag is muted, want none", got)
	}

	if _, err := svc.UnmuteTag(ctx, ed, "billing"); err != nil {
		t.Fatal(err)
	}
	fake.Set("a@acme.com", keyA, staxfake.Valid)
	check(a, domain.Valid)
	if got := alerts(); got != 1 {
		t.Fatalf("%d alerts after the unmute, want the one change", got)
	}
}
