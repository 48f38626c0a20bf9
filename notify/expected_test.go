package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestExpectedDeadKeyAlerts drives a key declared dead (deleted at Stax.ai after a leak)
// through the real checker against the fake Stax.ai. While Stax.ai still accepts it: exactly
// one key.still_accepted on the webhook (label, email, since, link, never the key) and one
// PagerDuty trigger, however often it is confirmed. Once Stax.ai revokes it: one resolve and one
// "retired as expected" message, and no revoked-problem alert.
func TestExpectedDeadKeyAlerts(t *testing.T) {
	pd := newPagerDutyFake(t, pdRoutingKey)
	f := newFleet(t, 4, staxfake.Options{}, onCall(pd, nil))
	p := f.pairs[1]
	key := fmt.Sprintf("sk_live_FLEET%035d", 1) // as newFleet registers pair 1
	declared := f.clk.Now()
	if _, err := f.e.db.SetExpected(context.Background(), p.ID, domain.ExpectRevoked); err != nil {
		t.Fatal(err)
	}

	f.runUntil(t, f.clk.Now().Add(time.Hour)) // several checks, each still valid
	got := f.deliver(t)
	if n := len(got[notify.EventStillAccepted]); n != 1 || len(got) != 1 {
		t.Fatalf("webhook alerts %v while the dead key is accepted, want one %s", eventCounts(got), notify.EventStillAccepted)
	}
	a := got[notify.EventStillAccepted][0]
	if a.Key == nil || a.Key.ID != p.ID || a.Key.Label != p.Label || a.Key.Email != p.Email || a.Key.URL != link(p.ID) ||
		a.Since == nil || !a.Since.Equal(declared.UTC().Truncate(time.Millisecond)) {
		t.Errorf("still accepted alert %+v", a)
	}
	if !strings.Contains(a.Message, p.Label) || !strings.Contains(a.Message, "should be dead") || strings.Contains(a.Message, key[len(key)-8:]) {
		t.Errorf("message %q", a.Message)
	}
	if ev := pd.accepted(); len(ev) != 1 || ev[0].Action != "trigger" || ev[0].DedupKey != notify.KeyDedupKey(p.ID) {
		t.Fatalf("PagerDuty while the dead key is accepted: %+v", ev)
	}

	// Another hour of confirmations and a reminder pass (the period, 0 here, is off): nothing new.
	f.runUntil(t, f.clk.Now().Add(time.Hour))
	if err := f.n.CheckReminders(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.deliver(t); len(got[notify.EventStillAccepted]) != 1 || len(pd.accepted()) != 1 {
		t.Fatalf("repeated: webhook %v, PagerDuty %d events", eventCounts(got), len(pd.accepted()))
	}

	f.fake.SetTeam(p.Email, staxfake.Revoked)
	f.runUntil(t, f.clk.Now().Add(time.Hour))
	got = f.deliver(t)
	if n := len(got[notify.EventKeyRetired]); n != 1 || len(got[notify.EventVerdictChanged]) != 0 || len(got[notify.EventVerdictReminder]) != 0 {
		t.Fatalf("webhook alerts %v after the revocation, want one %s and no problem alert", eventCounts(got), notify.EventKeyRetired)
	}
	if r := got[notify.EventKeyRetired][0]; !strings.Contains(r.Message, "retired as expected") || r.NewVerdict != "revoked" {
		t.Errorf("retired alert %+v", r)
	}
	ev := pd.accepted()
	if len(ev) != 2 || ev[1].Action != "resolve" || ev[1].DedupKey != notify.KeyDedupKey(p.ID) {
		t.Fatalf("PagerDuty after the revocation: %+v, want the trigger then one resolve", ev)
	}
	for _, e := range ev {
		if strings.Contains(string(e.Raw), key) {
			t.Errorf("an incident carries the key: %s", e.Raw)
		}
	}

	// Revoked → denied is the same retirement: nothing more.
	f.fake.SetTeam(p.Email, staxfake.Denied)
	f.runUntil(t, f.clk.Now().Add(time.Hour))
	got = f.deliver(t)
	if len(got[notify.EventKeyRetired]) != 1 || len(got[notify.EventVerdictChanged]) != 0 || len(pd.accepted()) != 2 {
		t.Errorf("after revoked → denied: webhook %v, PagerDuty %d events", eventCounts(got), len(pd.accepted()))
	}
	if k, _ := f.e.db.KeyByID(context.Background(), p.ID); k.Verdict != domain.Denied {
		t.Errorf("the key is %s, want denied", k.Verdict)
	}
	pd.check(t)
}

// TestExpectedDeadKeyMutedAndReminded: a muted key expected dead alerts nobody while Stax.ai
// still accepts it; unmuted, the reminder pass sends its first alert (and pages), then one
// reminder per STAXKEYS_REVOKED_REMINDER period that pages nobody.
func TestExpectedDeadKeyMutedAndReminded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	svc := keys.NewService(e.vault, nil, nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	k, err := svc.Add(ctx, ed, keys.Input{Label: "leaked", Email: "a@example.com", Key: "sk_live_LEAKED_0123456789", Expected: domain.ExpectRevoked})
	if err != nil {
		t.Fatal(err)
	}
	pd := newPagerDutyFake(t, pdRoutingKey)
	env := notify.Config{WebhookURL: "http://127.0.0.1:9/hook", RevokedReminder: time.Hour}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clk})
	count := func() map[string]int {
		c := map[string]int{}
		for _, d := range e.deliveries(t) {
			c[d.Channel+" "+d.Event]++
		}
		return c
	}
	if _, err := svc.Mute(ctx, ed, k.ID, time.Time{}, "rotating"); err != nil {
		t.Fatal(err)
	}
	valid := func() {
		t.Helper()
		rec := store.CheckRecord{Check: domain.Check{KeyID: k.ID, At: clk.Now(), Outcome: domain.OutcomeValid, HTTPStatus: 200},
			FromVerdict: domain.Pending, Verdict: domain.Valid, VerdictAt: clk.Now(), VerdictSince: clk.Now(),
			KeyChangedAt: k.KeyChangedAt, NextCheckAt: clk.Now().Add(time.Hour),
			Event: &domain.Event{KeyID: k.ID, At: clk.Now(), Old: domain.Pending, New: domain.Valid}}
		if err := e.db.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
		n.CheckRecorded(k, rec)
	}
	valid()
	if err := n.CheckReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if c := count(); len(c) != 0 {
		t.Fatalf("while muted: %v", c)
	}
	if _, err := svc.Unmute(ctx, ed, k.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if err := n.CheckReminders(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"webhook key.still_accepted": 1, "pagerduty key.still_accepted": 1}
	if c := count(); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("unmuted: %v, want %v", c, want)
	}
	clk.Advance(55 * time.Minute) // a whole period since it was still accepted
	for range 2 {
		if err := n.CheckReminders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want["webhook key.still_accepted"] = 2
	if c := count(); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("after a period: %v, want %v", c, want)
	}
}

// TestExpectedDeadKeysInAnUpstreamChange: most keys, some of them expected dead, are revoked
// at once and it holds. The suspicion's resolution names them all, but only the keys that
// should work are paged for; each key expected dead is retired as expected, with no trigger.
func TestExpectedDeadKeysInAnUpstreamChange(t *testing.T) {
	pd := newPagerDutyFake(t, pdRoutingKey)
	f := newFleet(t, 8, staxfake.Options{}, onCall(pd, nil))
	dead := map[string]bool{}
	for _, p := range f.pairs[:3] {
		if _, err := f.e.db.SetExpected(context.Background(), p.ID, domain.ExpectRevoked); err != nil {
			t.Fatal(err)
		}
		dead[notify.KeyDedupKey(p.ID)] = true
	}
	f.runUntil(t, f.clk.Now().Add(20*time.Minute)) // the next round: due at once, asked when the checker wakes
	if got := f.deliver(t); len(got[notify.EventStillAccepted]) != len(dead) || len(pd.accepted()) != len(dead) {
		t.Fatalf("before: alerts %v, %d PagerDuty events; want each key expected dead still accepted, paged", eventCounts(got), len(pd.accepted()))
	}
	before := len(pd.accepted())
	f.fake.SetAll(staxfake.Revoked)
	f.runUntil(t, f.clk.Now().Add(60*time.Minute))
	got := f.deliver(t)
	if len(got[notify.EventUpstreamResolved]) != 1 || len(got[notify.EventKeyRetired]) != len(dead) {
		t.Fatalf("alerts %v, want one resolution and %d retired", eventCounts(got), len(dead))
	}
	for _, a := range got[notify.EventKeyRetired] {
		if !dead[notify.KeyDedupKey(a.Key.ID)] {
			t.Errorf("key %d retired, but it should work", a.Key.ID)
		}
	}
	triggers, resolves := 0, 0
	for _, ev := range pd.accepted()[before:] {
		switch {
		case dead[ev.DedupKey] && ev.Action == "resolve":
			resolves++
		case !dead[ev.DedupKey] && ev.Action == "trigger":
			triggers++
		default:
			t.Errorf("PagerDuty %s for %s", ev.Action, ev.DedupKey)
		}
	}
	if triggers != len(f.pairs)-len(dead) || resolves != len(dead) {
		t.Errorf("%d triggers and %d resolves, want %d and %d", triggers, resolves, len(f.pairs)-len(dead), len(dead))
	}
}
