package notify_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// TestMutedKeyAlertsNobody: while a key is muted its verdict changes and reminders queue
// nothing on any channel, PagerDuty's included; another key's alerts and an outage's are not
// held back. Unmuted, the key pages nobody for what happened meanwhile (its incident state is
// what PagerDuty was last told), and its next change alerts again.
func TestMutedKeyAlertsNobody(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	trail := audit.New(e.db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(e.vault, trail, nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	muted, err := e.vault.Add(ctx, keys.Input{Label: "muted", Email: "a@example.com", Key: "sk_live_MUTED_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.vault.Add(ctx, keys.Input{Label: "other", Email: "b@example.com", Key: "sk_live_OTHER_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	pd := newPagerDutyFake(t, pdRoutingKey)
	env := notify.Config{WebhookURL: "http://127.0.0.1:9/hook", RevokedReminder: time.Hour}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clk, Audit: trail})
	change := func(k domain.Key, old, new domain.Verdict) {
		n.CheckRecorded(k, store.CheckRecord{Event: &domain.Event{KeyID: k.ID, At: clk.Now(), Old: old, New: new, Reason: "why"}})
	}
	count := func() map[string]int {
		c := map[string]int{}
		for _, d := range e.deliveries(t) {
			c[d.Channel+" "+d.Event]++
		}
		return c
	}

	change(muted, domain.Valid, domain.Revoked) // paged before the mute
	if c := count(); c["pagerduty verdict.changed"] != 1 || c["webhook verdict.changed"] != 1 {
		t.Fatalf("before the mute: %v", c)
	}
	if _, err := svc.Mute(ctx, ed, muted.ID, time.Time{}, "rotating"); err != nil {
		t.Fatal(err)
	}
	change(muted, domain.Revoked, domain.Valid)
	change(muted, domain.Valid, domain.Denied)
	change(other, domain.Valid, domain.Revoked)
	n.OutageChanged(true, clk.Now(), clk.Now(), "HTTP 503")
	clk.Advance(3 * time.Hour)
	if err := e.db.RecordCheck(ctx, store.CheckRecord{
		Check:   domain.Check{KeyID: muted.ID, At: t0, Outcome: domain.OutcomeDenied, HTTPStatus: 403},
		Verdict: domain.Denied, VerdictAt: t0, VerdictSince: t0, KeyChangedAt: muted.KeyChangedAt, NextCheckAt: t0.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.CheckReminders(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"pagerduty verdict.changed": 2, "webhook verdict.changed": 2, // muted's before the mute, other's
		"pagerduty outage.started": 1, "webhook outage.started": 1,
	}
	if c := count(); !equalCounts(c, want) {
		t.Fatalf("while muted: %v, want %v", c, want)
	}

	// Unmuted: nothing is sent after the fact, and PagerDuty, still holding the incident open
	// from before the mute, is not paged again for the same state.
	if _, err := svc.Unmute(ctx, ed, muted.ID); err != nil {
		t.Fatal(err)
	}
	change(muted, domain.Valid, domain.Revoked)
	if c := count(); c["pagerduty verdict.changed"] != 2 || c["webhook verdict.changed"] != 3 {
		t.Fatalf("after the unmute, a revocation: %v; want webhook alerted, PagerDuty's open incident left alone", c)
	}
	change(muted, domain.Revoked, domain.Valid)
	if c := count(); c["pagerduty verdict.changed"] != 3 || c["webhook verdict.changed"] != 4 {
		t.Fatalf("after the unmute, the key valid: %v; want the incident resolved", c)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMutedKeyLeftOutOfSuspicion: an upstream suspicion's resolution still goes out, but a
// muted key it confirms opens no incident.
func TestMutedKeyLeftOutOfSuspicion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	svc := keys.NewService(e.vault, nil, nil, nil)
	var ks []domain.Key
	for _, l := range []string{"a", "b"} {
		k, err := e.vault.Add(ctx, keys.Input{Label: l, Email: l + "@example.com", Key: "sk_live_SUSPECT_" + l + "_0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	if _, err := svc.Mute(ctx, domain.CLIPrincipal, ks[0].ID, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	pd := newPagerDutyFake(t, pdRoutingKey)
	env := notify.Config{WebhookURL: "http://127.0.0.1:9/hook"}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clk})
	n.SuspicionChanged(domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0, At: t0, Members: ks, Confirmed: ks, Resolved: true})
	var pds, hooks int
	for _, d := range e.deliveries(t) {
		switch d.Channel {
		case "pagerduty":
			pds++
			if !bytes.Contains(d.Payload, []byte(`"label":"b"`)) {
				t.Errorf("incident %s, want key b's", d.Payload)
			}
		case "webhook":
			hooks++
		}
	}
	if pds != 1 || hooks != 1 {
		t.Errorf("%d incidents and %d webhooks, want 1 and 1", pds, hooks)
	}
}

// TestExpiredMuteEndsOnce: the worker's sweep ends a mute whose until passed and records it in
// the audit trail once; the key alerts again from the until on, sweep or not.
func TestExpiredMuteEndsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	trail := audit.New(e.db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(e.vault, trail, nil, nil)
	k, err := e.vault.Add(ctx, keys.Input{Label: "k", Email: "k@example.com", Key: "sk_live_EXPIRE_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Mute(ctx, domain.CLIPrincipal, k.ID, t0.Add(time.Hour), "deploy"); err != nil {
		t.Fatal(err)
	}
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: "http://127.0.0.1:9/hook"}, Clock: clk, Audit: trail})
	clk.Advance(time.Hour)
	n.CheckRecorded(k, store.CheckRecord{Event: &domain.Event{KeyID: k.ID, At: clk.Now(), Old: domain.Valid, New: domain.Revoked}})
	if ds := e.deliveries(t); len(ds) != 1 {
		t.Fatalf("%d deliveries once the until passed, want 1", len(ds))
	}
	n.EndExpiredMutes(ctx)
	n.EndExpiredMutes(ctx)
	svc.EndExpiredMutes(ctx)
	entries, _, err := e.db.ListAudit(ctx, store.AuditQuery{Action: string(audit.KeyMuteEnd), Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].Actor != "staxkeys" {
		t.Fatalf("expiry entries %+v, %v; want one by staxkeys", entries, err)
	}
}

// TestGroupLeavesMutedKeysOut: a group of verdict changes lists the unmuted keys' changes only:
// a muted key's change never enters the queue.
func TestGroupLeavesMutedKeysOut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	wclk := clocktest.NewFake(t0)
	e.db.Now = wclk.Now
	var ks []domain.Key
	for _, l := range []string{"a", "b", "c"} {
		k, err := e.vault.Add(ctx, keys.Input{Label: l, Email: l + "@example.com", Key: "sk_live_GROUP_" + l + "_0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	if _, err := keys.NewService(e.vault, nil, nil, nil).Mute(ctx, domain.CLIPrincipal, ks[1].ID, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	hook := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: wclk, GroupWindow: 30 * time.Second,
		Env: notify.Config{WebhookURL: hook.URL + "/hook", WebhookSecret: webhookSecret}})
	for _, k := range ks {
		n.CheckRecorded(k, store.CheckRecord{Event: &domain.Event{KeyID: k.ID, At: wclk.Now(), Old: domain.Valid, New: domain.Revoked}})
	}
	wclk.Advance(30 * time.Second)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	a := verify(t, hook.next(t), wclk.Now())
	if len(a.Changes) != 2 || a.Changes[0].Key.Label != "a" || a.Changes[1].Key.Label != "c" {
		t.Errorf("grouped changes %+v, want a's and c's", a.Changes)
	}
	if got := len(hook.all()); got != 1 {
		t.Errorf("%d messages, want one", got)
	}
}
