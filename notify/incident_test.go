package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

const (
	pdRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF" // 32 characters, as PagerDuty's are
	ogAPIKey     = "0b7d1c5e-2f4a-4e8b-9c3d-6a1f2e3b4c5d"
)

func onCall(pd, og *oncallFake) func(*notify.Config) {
	return func(c *notify.Config) {
		if pd != nil {
			c.PagerDutyRoutingKey, c.PagerDutyURL = pd.key, pd.URL
		}
		if og != nil {
			c.OpsgenieAPIKey, c.OpsgenieURL = og.key, og.URL
		}
	}
}

// TestOnCallTriggerThenResolveThroughChecker drives one key through the real checker against
// the fake Stax.ai: revoked, then denied (the same state for an incident), then valid again.
// PagerDuty sees exactly one trigger and one resolve with the key's dedup key, Opsgenie one
// create and one close with it as alias, each checked against the providers' documented
// fields, carrying label, email, verdict, reason, since and link, never the key.
func TestOnCallTriggerThenResolveThroughChecker(t *testing.T) {
	pd, og := newPagerDutyFake(t, pdRoutingKey), newOpsgenieFake(t, ogAPIKey)
	f := newFleet(t, 4, staxfake.Options{}, onCall(pd, og))
	p := f.pairs[1]
	key := fmt.Sprintf("sk_live_FLEET%035d", 1) // as newFleet registers pair 1
	step := func(b staxfake.Behavior) map[string][]notify.Alert {
		f.fake.SetTeam(p.Email, b)
		f.runUntil(t, f.clk.Now().Add(time.Hour))
		return f.deliver(t)
	}

	got := step(staxfake.Revoked)
	if n := len(got[notify.EventVerdictChanged]); n != 1 {
		t.Fatalf("webhook alerts %v after the revocation, want one verdict change", eventCounts(got))
	}
	if ev := pd.accepted(); len(ev) != 1 || ev[0].Action != "trigger" || ev[0].DedupKey != notify.KeyDedupKey(p.ID) {
		t.Fatalf("PagerDuty after the revocation: %+v", ev)
	}
	trigger := pd.accepted()[0].Body
	payload := trigger["payload"].(map[string]any)
	details := payload["custom_details"].(map[string]any)
	summary := payload["summary"].(string)
	if !strings.Contains(summary, p.Label) || !strings.Contains(summary, p.Email) || !strings.Contains(summary, "revoked") ||
		payload["severity"] != "critical" {
		t.Errorf("trigger payload %v", payload)
	}
	if details["key_label"] != p.Label || details["team_email"] != p.Email || details["verdict"] != "revoked" ||
		details["previous_verdict"] != "valid" || details["reason"] == nil || details["since"] == nil || details["key_url"] != link(p.ID) {
		t.Errorf("custom_details %v", details)
	}
	if links := trigger["links"].([]any); len(links) != 1 || links[0].(map[string]any)["href"] != link(p.ID) {
		t.Errorf("links %v", trigger["links"])
	}
	if ev := og.accepted(); len(ev) != 1 || ev[0].Action != "create" || ev[0].DedupKey != notify.KeyDedupKey(p.ID) ||
		ev[0].Body["priority"] != "P1" || ev[0].Body["details"].(map[string]any)["team_email"] != p.Email {
		t.Fatalf("Opsgenie after the revocation: %+v", ev)
	}

	// Denied is another verdict but the same incident: the webhook hears of it, nobody is paged.
	got = step(staxfake.Denied)
	if len(pd.accepted()) != 1 || len(og.accepted()) != 1 {
		t.Errorf("revoked → denied paged again: PagerDuty %d, Opsgenie %d events", len(pd.accepted()), len(og.accepted()))
	}
	denied := false
	for _, a := range got[notify.EventVerdictChanged] {
		denied = denied || a.NewVerdict == "denied"
	}
	if !denied {
		t.Errorf("the webhook did not hear of the denial: %v", eventCounts(got))
	}

	step(staxfake.Valid)
	pev, oev := pd.accepted(), og.accepted()
	if len(pev) != 2 || pev[1].Action != "resolve" || pev[1].DedupKey != pev[0].DedupKey {
		t.Errorf("PagerDuty events %+v, want one trigger then one resolve of the same dedup key", pev)
	}
	if len(oev) != 2 || oev[1].Action != "close" || oev[1].DedupKey != oev[0].DedupKey {
		t.Errorf("Opsgenie requests %+v, want one create then one close of the same alias", oev)
	}
	for _, e := range append(pev, oev...) {
		if bytes.Contains(e.Raw, []byte(key)) || bytes.Contains(e.Raw, []byte(key[len(key)-8:])) {
			t.Errorf("an incident carries the key: %s", e.Raw)
		}
	}
	pd.check(t)
	og.check(t)
	for _, d := range f.e.deliveries(t) {
		if d.Status != domain.DeliverySent {
			t.Errorf("delivery %d on %s: %s, %q", d.ID, d.Channel, d.Status, d.LastError)
		}
	}
}

// TestOnCallRetryIsNotARepeat: a failed send is retried with the same dedup key and counts
// once; an outage announced again while it lasts opens nothing more; its end resolves it.
func TestOnCallRetryIsNotARepeat(t *testing.T) {
	e := newEnv(t)
	pd := newPagerDutyFake(t, pdRoutingKey)
	pd.fail = 1
	wclk := clocktest.NewFake(t0)
	env := notify.Config{}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: wclk})
	ctx := context.Background()
	n.OutageChanged(true, t0, t0, "HTTP 503")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(pd.accepted()) != 0 {
		t.Fatal("the first try was to fail")
	}
	wclk.Advance(time.Minute) // the first backoff
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	n.OutageChanged(true, t0, wclk.Now(), "HTTP 503") // the same state again
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	wclk.Advance(10 * time.Minute)
	n.OutageChanged(false, t0, wclk.Now(), "")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	ev := pd.accepted()
	if len(ev) != 2 || ev[0].Action != "trigger" || ev[1].Action != "resolve" ||
		ev[0].DedupKey != notify.OutageDedupKey || ev[1].DedupKey != notify.OutageDedupKey {
		t.Fatalf("PagerDuty events %+v, want the outage triggered once and resolved once", ev)
	}
	if sev := ev[0].Body["payload"].(map[string]any)["severity"]; sev != "error" {
		t.Errorf("an outage's severity %v", sev)
	}
	ds := e.deliveries(t)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2", len(ds))
	}
	for _, d := range ds {
		if d.Channel != "pagerduty" || d.Status != domain.DeliverySent {
			t.Errorf("delivery %+v", d)
		}
	}
	if ds[1].Attempts != 2 && ds[0].Attempts != 2 {
		t.Errorf("the trigger took %d and %d attempts, want 2 for one", ds[0].Attempts, ds[1].Attempts)
	}
	pd.check(t)
}

// TestOnCallSendTest opens a low-urgency test incident and resolves it at once, on each
// provider; a refused routing key is reported by its status code alone.
func TestOnCallSendTest(t *testing.T) {
	e := newEnv(t)
	pd, og := newPagerDutyFake(t, pdRoutingKey), newOpsgenieFake(t, ogAPIKey)
	env := notify.Config{}
	onCall(pd, og)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clocktest.NewFake(t0)})
	ctx := context.Background()
	for _, ch := range []notify.Channel{notify.PagerDuty, notify.Opsgenie} {
		if err := n.SendTest(ctx, ch); err != nil {
			t.Errorf("test on %s: %v", ch, err)
		}
	}
	if ev := pd.accepted(); len(ev) != 2 || ev[0].Action != "trigger" || ev[1].Action != "resolve" || ev[0].DedupKey != ev[1].DedupKey ||
		ev[0].Body["payload"].(map[string]any)["severity"] != "info" {
		t.Errorf("PagerDuty test %+v", ev)
	}
	if ev := og.accepted(); len(ev) != 2 || ev[0].Action != "create" || ev[1].Action != "close" || ev[0].Body["priority"] != "P5" {
		t.Errorf("Opsgenie test %+v", ev)
	}
	pd.check(t)
	og.check(t)

	wrong := newPagerDutyFake(t, "another-routing-key-000000000000")
	env.PagerDutyURL = wrong.URL
	n = notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clocktest.NewFake(t0)})
	err := n.SendTest(ctx, notify.PagerDuty)
	if err == nil || err.Error() != "HTTP 400 from the receiver" || strings.Contains(err.Error(), pdRoutingKey) {
		t.Errorf("a refused key: %v", err)
	}
}

// TestOnCallSettings: the keys are sealed, shown only as set, checked for shape; a base URL
// changed without typing the key again removes the key, which was given for the old one.
func TestOnCallSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback})
	base := notify.Form{RevokedReminder: "24h"}

	f := base
	f.PagerDutyRoutingKey, f.PagerDutyURL = "has a space", "file:///etc/passwd"
	f.OpsgenieAPIKey = strings.Repeat("k", 300)
	_, err := n.Save(ctx, f)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["pagerduty_routing_key"] == "" || ve.Fields["pagerduty_url"] == "" || ve.Fields["opsgenie_api_key"] == "" {
		t.Fatalf("bad on-call settings: %v", err)
	}
	if n.Config(ctx).Has(notify.PagerDuty) {
		t.Error("a refused form changed something")
	}

	f = base
	f.PagerDutyRoutingKey, f.OpsgenieAPIKey, f.OpsgenieURL = pdRoutingKey, ogAPIKey, "https://api.eu.opsgenie.com"
	changed, err := n.Save(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !notify.DestinationChange(changed) {
		t.Errorf("changes %v are not a destination change", changed)
	}
	cfg := n.Config(ctx)
	if !cfg.Has(notify.PagerDuty) || !cfg.Has(notify.Opsgenie) || cfg.PagerDutyRoutingKey != pdRoutingKey || cfg.OpsgenieURL != "https://api.eu.opsgenie.com" {
		t.Errorf("saved %v", cfg)
	}
	for _, name := range []string{"notify_pagerduty_routing_key", "notify_opsgenie_api_key", "notify_config"} {
		raw, err := e.db.Setting(ctx, name)
		if err != nil || bytes.Contains(raw, []byte(pdRoutingKey)) || bytes.Contains(raw, []byte(ogAPIKey)) {
			t.Errorf("setting %s holds a key in clear (%v)", name, err)
		}
	}
	v := n.View(ctx)
	if !v.Secrets["pagerduty_routing_key"].Set || !v.Secrets["opsgenie_api_key"].Set || v.Form.PagerDutyRoutingKey != "" ||
		!v.Configured[notify.PagerDuty] || v.Form.OpsgenieURL != "https://api.eu.opsgenie.com" {
		t.Errorf("view %+v", v)
	}
	if strings.Contains(cfg.String(), pdRoutingKey) || strings.Contains(cfg.String(), ogAPIKey) {
		t.Error("Config.String shows a key")
	}

	// The same form again keeps both keys; moving Opsgenie's URL without the key drops it.
	f = base
	f.OpsgenieURL = "https://api.eu.opsgenie.com"
	if _, err := n.Save(ctx, f); err != nil || !n.Config(ctx).Has(notify.Opsgenie) {
		t.Fatalf("keeping the settings lost the key: %v", err)
	}
	f.OpsgenieURL = "https://opsgenie.attacker.example"
	if _, err := n.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	if c := n.Config(ctx); c.Has(notify.Opsgenie) || !c.Has(notify.PagerDuty) {
		t.Errorf("after moving the Opsgenie URL: opsgenie %v, pagerduty %v", c.Has(notify.Opsgenie), c.Has(notify.PagerDuty))
	}
}

// TestOnCallSkipsWhatPagesNobody: a long pause of the checks (like reminders and suspicions)
// does not reach the on-call channels: it is for the other channels, not for paging.
func TestOnCallSkipsWhatPagesNobody(t *testing.T) {
	e := newEnv(t)
	pd := newPagerDutyFake(t, pdRoutingKey)
	env := notify.Config{}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clocktest.NewFake(t0)})
	n.PauseChanged(true, t0.Add(time.Hour), t0, "HTTP 429")
	n.PauseChanged(false, t0, t0.Add(time.Hour), "")
	if ds := e.deliveries(t); len(ds) != 0 {
		t.Errorf("%d deliveries for a pause", len(ds))
	}
}

// TestOnCallSuspicionResolution: the keys an upstream suspicion confirms as revoked open one
// incident each when it is resolved (its start pages nobody: nothing is confirmed yet); a key
// already open stays as it is.
func TestOnCallSuspicionResolution(t *testing.T) {
	e := newEnv(t)
	pd := newPagerDutyFake(t, pdRoutingKey)
	env := notify.Config{}
	onCall(pd, nil)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clocktest.NewFake(t0)})
	ctx := context.Background()
	k := []domain.Key{{ID: 1, Label: "a", Email: "a@x.example"}, {ID: 2, Label: "b", Email: "b@x.example"}, {ID: 3, Label: "c", Email: "c@x.example"}}
	n.CheckRecorded(k[0], store.CheckRecord{Event: &domain.Event{KeyID: 1, At: t0, Old: domain.Valid, New: domain.Revoked}}) // key 1 is open already
	s := domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0, At: t0, Members: k, Reason: "HTTP 401"}
	n.SuspicionChanged(s)
	s.Resolved, s.At, s.Confirmed, s.Cleared = true, t0.Add(10*time.Minute), k[:2], k[2:]
	n.SuspicionChanged(s)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	ev := pd.accepted()
	if len(ev) != 2 || ev[0].DedupKey != notify.KeyDedupKey(1) || ev[1].DedupKey != notify.KeyDedupKey(2) ||
		ev[0].Action != "trigger" || ev[1].Action != "trigger" {
		t.Errorf("PagerDuty events %+v, want keys 1 and 2 triggered once each", ev)
	}
	pd.check(t)
}
