package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
)

// TestRoutesPickKindsAfterGrouping: three changes inside one window (revoked, denied, valid
// again) go to four channels routed four ways. Each routed channel gets one message listing
// only the keys it hears of; the channel hearing reminders alone gets nothing; an outage goes
// only where outages are heard.
func TestRoutesPickKindsAfterGrouping(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	hook, slack := newReceiver(t, nil), newReceiver(t, nil)
	bad, good := newServiceReceiver(t), newServiceReceiver(t)
	clk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clk, GroupWindow: 30 * time.Second,
		Env: notify.Config{WebhookURL: hook.URL + "/hook", SlackURL: slack.URL + "/services/T0/B0/X"}})
	badCh, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Bad news", URL: "ntfy://" + bad.hostPort() + "/bad?scheme=http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	goodCh, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Good news", URL: "generic+http://" + good.hostPort() + "/good", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for ch, kinds := range map[notify.Channel][]string{
		notify.URLChannelOf(badCh.ID):  {notify.KindRevoked, notify.KindDenied},
		notify.URLChannelOf(goodCh.ID): {notify.KindRecovered},
		notify.Webhook:                 {notify.KindReminders},
	} {
		if err := n.SetRoute(ctx, admin, ch, notify.Route{Events: kinds}); err != nil {
			t.Fatal(err)
		}
	}
	change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
	change(n, groupKeys[1], t0.Add(time.Second), domain.Valid, domain.Denied)
	change(n, groupKeys[2], t0.Add(2*time.Second), domain.Revoked, domain.Valid)
	clk.Advance(31 * time.Second)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bad.requests(); len(got) != 1 || !strings.Contains(got[0].Body, "ops@team.example.com") ||
		!strings.Contains(got[0].Body, "ci@team.example.com") || strings.Contains(got[0].Body, "data@team.example.com") {
		t.Errorf("the revoked-or-denied channel got %+v, want one message about keys 11 and 12 only", got)
	}
	if got := good.requests(); len(got) != 1 || !strings.Contains(got[0].Body, "data@team.example.com") ||
		strings.Contains(got[0].Body, "ops@team.example.com") {
		t.Errorf("the recovered channel got %+v, want one message about key 13 only", got)
	}
	if got := slack.all(); len(got) != 1 || !strings.Contains(string(got[0].Body), "3 Stax.ai keys changed verdict") {
		t.Errorf("Slack (all alerts) got %d messages, want one listing the three", len(got))
	}
	if got := hook.all(); len(got) != 0 {
		t.Errorf("the webhook (reminders only) got %d messages", len(got))
	}

	n.OutageChanged(true, clk.Now(), clk.Now(), "HTTP 503")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if b, g, s := len(bad.requests()), len(good.requests()), len(slack.all()); b != 1 || g != 1 || s != 2 {
		t.Errorf("after the outage: %d, %d and %d messages, want 1, 1 and 2 (only Slack hears outages)", b, g, s)
	}
}

// TestRouteValidation: an unknown kind names the field, a non-admin cannot route, and an
// unknown channel is not found.
func TestRouteValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	var ve *domain.ValidationError
	if err := n.SetRoute(ctx, admin, notify.Slack, notify.Route{Events: []string{"everything"}}); !errors.As(err, &ve) || ve.Fields["events"] == "" {
		t.Errorf("unknown kind: %v", err)
	}
	// A tag no key could carry (keys' tags have no spaces) is refused, naming it.
	ve = nil
	if err := n.SetRoute(ctx, admin, notify.Slack, notify.Route{Tags: []string{"billing team"}}); !errors.As(err, &ve) || !strings.Contains(ve.Fields["tags"], `"billing team"`) {
		t.Errorf("a tag with a space: %v", err)
	}
	editor := domain.AdminPrincipal(domain.Admin{ID: 2, Email: "e@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	if err := n.SetRoute(ctx, editor, notify.Slack, notify.Route{Events: []string{notify.KindRevoked}}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("as an editor: %v", err)
	}
	if err := n.SetRoute(ctx, admin, notify.URLChannelOf(99), notify.Route{Events: []string{notify.KindRevoked}}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown channel: %v", err)
	}
	if got := n.Routes(ctx); len(got) != 0 {
		t.Errorf("routes saved: %+v", got)
	}
}

// TestRoutesPickKeysByTag: the billing team's channel hears only of keys tagged billing,
// from a group of changes as from a reminder; a group with no billing key sends it nothing.
func TestRoutesPickKeysByTag(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	billing, everyone := newServiceReceiver(t), newServiceReceiver(t)
	clk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clk, GroupWindow: 30 * time.Second})
	bc, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Billing team", URL: "ntfy://" + billing.hostPort() + "/billing?scheme=http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Everyone", URL: "generic+http://" + everyone.hostPort() + "/all", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := n.SetRoute(ctx, admin, notify.URLChannelOf(bc.ID), notify.Route{Tags: []string{"Billing"}}); err != nil {
		t.Fatal(err)
	}
	inv, err := e.vault.Add(ctx, keys.Input{Label: "invoices", Email: "billing@acme.com", Key: "sk_live_INVOICES_0123456789", Tags: []string{"billing", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := e.vault.Add(ctx, keys.Input{Label: "ci", Email: "ci@acme.com", Key: "sk_live_CI_0123456789", Tags: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	inv.Tags, ci.Tags = nil, nil // as the checker may hand them over: the notifier reads them
	change(n, inv, t0, domain.Valid, domain.Revoked)
	change(n, ci, t0.Add(time.Second), domain.Valid, domain.Denied)
	clk.Advance(31 * time.Second)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	got := billing.requests()
	if len(got) != 1 || !strings.Contains(got[0].Body, "invoices") || strings.Contains(got[0].Body, "ci@acme.com") {
		t.Fatalf("the billing channel got %+v, want one message about invoices alone", got)
	}
	if !strings.Contains(got[0].Body, "Tags:     billing, prod") {
		t.Errorf("the message does not name the key's tags:\n%s", got[0].Body)
	}
	if all := everyone.requests(); len(all) != 1 || !strings.Contains(all[0].Body, "invoices") || !strings.Contains(all[0].Body, "ci@acme.com") {
		t.Errorf("the channel hearing everything got %+v, want one message about both", all)
	}
	change(n, ci, clk.Now(), domain.Denied, domain.Valid)
	clk.Advance(31 * time.Second)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(billing.requests()) != 1 || len(everyone.requests()) != 2 {
		t.Errorf("after ci recovered: %d and %d messages, want 1 and 2", len(billing.requests()), len(everyone.requests()))
	}
}

// TestRoutesOfASuspicion: an upstream suspicion reaches a channel routed to billing keys
// listing only its billing members, one hearing outages of any key listing all, and none at
// all on a channel hearing only revocations (suspicions are of the outage kind); a suspicion
// with no billing member skips the billing channel.
func TestRoutesOfASuspicion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	billing, all, revoked := newServiceReceiver(t), newServiceReceiver(t), newServiceReceiver(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	add := func(name string, r *serviceReceiver, route notify.Route) {
		t.Helper()
		c, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: name, URL: "generic+http://" + r.hostPort() + "/" + name, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.SetRoute(ctx, admin, notify.URLChannelOf(c.ID), route); err != nil {
			t.Fatal(err)
		}
	}
	add("billing", billing, notify.Route{Tags: []string{"billing"}})
	add("all", all, notify.Route{Events: []string{notify.KindOutage}})
	add("revoked", revoked, notify.Route{Events: []string{notify.KindRevoked}})
	members := []domain.Key{
		{ID: 21, Label: "invoices", Email: "billing@acme.com", Tags: []string{"billing"}},
		{ID: 22, Label: "ci", Email: "ci@acme.com", Tags: []string{"ci"}},
	}
	n.SuspicionChanged(domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0, At: t0, Count: 2, Members: members})
	n.SuspicionChanged(domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0, At: t0, Count: 1, Members: members[1:]})
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := billing.requests(); len(got) != 1 || !strings.Contains(got[0].Body, "invoices") || strings.Contains(got[0].Body, "ci@acme.com") {
		t.Errorf("billing channel: %+v, want one message naming invoices alone", got)
	}
	if got := all.requests(); len(got) != 2 || !strings.Contains(got[0].Body, "ci@acme.com") {
		t.Errorf("outage channel: %d messages, want 2 naming every member", len(got))
	}
	if got := revoked.requests(); len(got) != 0 {
		t.Errorf("revocations-only channel: %d messages, want none", len(got))
	}
}
