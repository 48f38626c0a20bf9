package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
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

// TestExpectedDeadIncidentClosedWhenNoLongerDeadOrDeleted: a key expected dead that Stax.ai
// still accepts has its incident open on PagerDuty and Opsgenie. Set back to "should work"
// through the real key service, it is fine as it is, so nothing a check finds would resolve
// that incident: the change itself resolves it (one resolve, one close whose note says why)
// and the audit entry says so. A second such key, deleted, has its incident resolved too; a
// key with no open incident sends nothing when deleted.
func TestExpectedDeadIncidentClosedWhenNoLongerDeadOrDeleted(t *testing.T) {
	ctx := context.Background()
	pd, og := newPagerDutyFake(t, pdRoutingKey), newOpsgenieFake(t, ogAPIKey)
	f := newFleet(t, 3, staxfake.Options{}, onCall(pd, og))
	trail := audit.New(f.e.db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(f.e.vault, trail, nil, nil).WithIncidents(f.n)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	switched, deleted, quiet := f.pairs[0], f.pairs[1], f.pairs[2]
	dead, working := domain.ExpectRevoked, domain.ExpectValid
	for _, p := range []domain.Key{switched, deleted} {
		if _, err := svc.Update(ctx, ed, p.ID, keys.Edit{Expected: &dead}); err != nil {
			t.Fatal(err)
		}
	}
	f.runUntil(t, f.clk.Now().Add(time.Hour))
	f.deliver(t)
	opened := func(f *oncallFake, action string) map[string]int {
		m := map[string]int{}
		for _, e := range f.accepted() {
			if e.Action == action {
				m[e.DedupKey]++
			}
		}
		return m
	}
	for _, p := range []domain.Key{switched, deleted} {
		if k, _ := f.e.db.KeyByID(ctx, p.ID); k.Standing() != domain.StandingStillAccepted {
			t.Fatalf("%s is %s, want still accepted", p.Label, k.Standing())
		}
		if opened(pd, "trigger")[notify.KeyDedupKey(p.ID)] != 1 || opened(og, "create")[notify.KeyDedupKey(p.ID)] != 1 {
			t.Fatalf("no incident open for %s: PagerDuty %+v, Opsgenie %+v", p.Label, actions(pd), actions(og))
		}
	}

	if _, err := svc.Update(ctx, ed, switched.ID, keys.Edit{Expected: &working}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if n := opened(pd, "resolve")[notify.KeyDedupKey(switched.ID)]; n != 1 {
		t.Fatalf("PagerDuty after the switch back to should work: %d resolves of its incident, want 1: %v", n, actions(pd))
	}
	if n := opened(og, "close")[notify.KeyDedupKey(switched.ID)]; n != 1 {
		t.Fatalf("Opsgenie after the switch: %d closes, want 1: %v", n, actions(og))
	}
	for _, e := range og.accepted() {
		if e.Action == "close" && !strings.Contains(fmt.Sprint(e.Body["note"]), keys.WhyExpectedWorking) {
			t.Errorf("Opsgenie's close note %q does not say why", e.Body["note"])
		}
	}
	if n := opened(pd, "resolve")[notify.KeyDedupKey(deleted.ID)]; n != 0 {
		t.Fatalf("the other key's incident was resolved too")
	}
	entries, _, err := trail.List(ctx, store.AuditQuery{Target: string(audit.KeyTarget(switched.ID)), Action: string(audit.KeyEdit)})
	if err != nil || len(entries) == 0 || !strings.Contains(entries[0].Detail, keys.WhyExpectedWorking) {
		t.Errorf("the switch's audit entry %+v (%v) does not say the incident was resolved", entries, err)
	}

	// A check of it now (valid, should work) pages nobody, and repeats nothing.
	f.runUntil(t, f.clk.Now().Add(time.Hour))
	f.deliver(t)

	if _, err := svc.Delete(ctx, ed, deleted.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Delete(ctx, ed, quiet.ID); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if n := opened(pd, "resolve")[notify.KeyDedupKey(deleted.ID)]; n != 1 {
		t.Fatalf("PagerDuty after the delete: %d resolves of its incident, want 1: %v", n, actions(pd))
	}
	if got := pd.accepted(); len(got) != 4 { // two triggers, two resolves: nothing for the quiet key
		t.Errorf("PagerDuty got %d events, want 4: %v", len(got), actions(pd))
	}
	entries, _, err = trail.List(ctx, store.AuditQuery{Target: string(audit.KeyTarget(deleted.ID)), Action: string(audit.KeyDelete)})
	if err != nil || len(entries) != 1 || !strings.Contains(entries[0].Detail, keys.WhyDeleted) {
		t.Errorf("the delete's audit entry %+v (%v) does not say the incident was resolved", entries, err)
	}
	pd.check(t)
	og.check(t)
}

// actions lists what an on-call fake accepted, "trigger staxkeys-key-1" and so on.
func actions(f *oncallFake) []string {
	var out []string
	for _, e := range f.accepted() {
		out = append(out, e.Action+" "+e.DedupKey)
	}
	return out
}
