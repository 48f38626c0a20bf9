package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
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
	pd.check(t)
}
