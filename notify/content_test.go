package notify_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// TestEveryChannelCarriesTheFacts: one revocation of a tagged key reaches the webhook, Slack,
// email, PagerDuty, Opsgenie and a URL channel (ntfy), and each message names the key's
// label, team email, tags, verdict, Stax.ai's reason, when, and links to the key's page;
// none holds the key. A group of two changes then lists both keys, each with its link, on
// every channel that groups.
func TestEveryChannelCarriesTheFacts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	hook, slack, ntfy := newReceiver(t, nil), newReceiver(t, nil), newServiceReceiver(t)
	srv := startSMTP(t, nil, "", "")
	pd, og := newPagerDutyFake(t, pdRoutingKey), newOpsgenieFake(t, ogAPIKey)
	clk := clocktest.NewFake(t0)
	env := notify.Config{WebhookURL: hook.URL + "/hook", SlackURL: slack.URL + "/services/T0/B0/X",
		SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "staxkeys@example.com", To: []string{"ops@example.com"}}}
	onCall(pd, og)(&env)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clk, PublicURL: publicURL})
	if _, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "ntfy", URL: "ntfy://" + ntfy.hostPort() + "/alerts?scheme=http", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	const secretKey = "sk_live_CONTENT_SECRET_zQ7wX9vK"
	p, err := e.vault.Add(ctx, keys.Input{Label: "Invoices prod", Email: "billing@acme.com", Key: secretKey, Tags: []string{"billing", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	const reason = "Invalid authorization (HTTP 401)"
	n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{KeyID: p.ID, At: t0, Old: domain.Valid, New: domain.Revoked, Reason: reason}})
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	email := func() string {
		t.Helper()
		m, err := mail.ReadMessage(strings.NewReader(srv.next(t).Data))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	texts := map[string]string{
		"webhook":   string(hook.next(t).Body),
		"slack":     string(slack.next(t).Body),
		"email":     email(),
		"ntfy":      ntfy.requests()[0].Body,
		"pagerduty": string(pd.accepted()[0].Raw),
		"opsgenie":  string(og.accepted()[0].Raw),
	}
	for ch, text := range texts {
		for _, want := range []string{"Invoices prod", "billing@acme.com", "billing", "prod", "revoked", reason, link(p.ID)} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", ch, want, text)
			}
		}
		// When: the webhook and the incidents in RFC 3339, the texts for people to the minute.
		if !strings.Contains(text, "2026-03-02T09:00:00Z") && !strings.Contains(text, "2026-03-02 09:00 UTC") {
			t.Errorf("%s does not say when:\n%s", ch, text)
		}
		if strings.Contains(text, secretKey) || strings.Contains(text, secretKey[len(secretKey)-8:]) {
			t.Errorf("%s holds the key:\n%s", ch, text)
		}
	}
	pd.check(t)
	og.check(t)

	// A group: both keys, each linked, on every channel that groups.
	n2 := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clk, PublicURL: publicURL, GroupWindow: 30 * time.Second})
	q, err := e.vault.Add(ctx, keys.Input{Label: "CI runner", Email: "ci@acme.com", Key: "sk_live_CI_SECRET_pL4mN8rT", Tags: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	n2.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{KeyID: p.ID, At: clk.Now(), Old: domain.Revoked, New: domain.Valid}})
	n2.CheckRecorded(q, store.CheckRecord{Event: &domain.Event{KeyID: q.ID, At: clk.Now(), Old: domain.Valid, New: domain.Denied, Reason: "Forbidden (HTTP 403)"}})
	clk.Advance(31 * time.Second)
	if _, err := n2.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	grouped := map[string]string{
		"webhook": string(hook.next(t).Body),
		"slack":   string(slack.next(t).Body),
		"email":   email(),
		"ntfy":    ntfy.requests()[1].Body,
	}
	for ch, text := range grouped {
		for _, want := range []string{"Invoices prod", "CI runner", "ci@acme.com", link(p.ID), link(q.ID), "Forbidden (HTTP 403)", "ci"} {
			if !strings.Contains(text, want) {
				t.Errorf("grouped %s lacks %q:\n%s", ch, want, text)
			}
		}
	}
}
