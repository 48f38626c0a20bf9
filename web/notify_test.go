package web_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/web"
)

// allowLoopback lets alerts reach the tests' local receivers, as STAXKEYS_ALERT_ALLOW does for
// an operator's internal ones; the default policy refuses loopback.
var allowLoopback = func() *notify.Policy {
	p, err := notify.ParsePolicy("127.0.0.1/32")
	if err != nil {
		panic(err)
	}
	return p
}()

// newRecordsEnv starts the server as serve.go builds it, with the audit trail on and the
// alerting wired in.
func newRecordsEnv(t *testing.T, env notify.Config) (*Env, *notify.Notifier) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	ring := secret.NewKeyring(mk)
	auditKey := make([]byte, 32)
	if _, err := rand.Read(auditKey); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &Env{
		DB: db, Vault: keys.New(db, ring), Ring: ring, AuditKey: auditKey, Clock: &Clock{t: start}, Log: &SyncBuffer{},
		Config: web.Config{
			SessionHashKey:  ring.DeriveKey("session cookie hash", 32),
			SessionBlockKey: ring.DeriveKey("session cookie block", 32),
			Version:         "test",
		},
	}
	db.Now = e.Clock.Now
	n := notify.New(db, ring, notify.Options{Allow: allowLoopback, Audit: audit.New(db, auditKey, nil), Env: env, Clock: clocktest.NewFake(start)})
	log := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.Server = web.New(e.Config, db, e.services(log, nil), log, web.WithNotifier(n))
	e.Server.Now = e.Clock.Now
	e.TS = httptest.NewServer(e.Server)
	t.Cleanup(e.TS.Close)
	return e, n
}

// auditEntries returns the trail's entries with the action (or family), newest first.
func (e *Env) auditEntries(t *testing.T, action string) []domain.AuditEntry {
	t.Helper()
	es, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// hook is a local webhook receiver.
func hook(t *testing.T, status int) (*httptest.Server, chan *http.Request) {
	t.Helper()
	got := make(chan *http.Request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		got <- r
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestAlertSettingsNeverShowSecrets(t *testing.T) {
	const (
		webhookSecret = "WEBHOOK-SECRET-0123456789"
		slackURL      = "https://hooks.slack.com/services/T0/B0/SLACK-TOKEN-XYZ"
		smtpPassword  = "SMTP-PASSWORD-42"
		envSecret     = "ENV-SECRET-0123456789abc"
		webhookURL    = "https://page.example.com/hook/WEBHOOK-TOKEN-123"
	)
	e, n := newRecordsEnv(t, notify.Config{WebhookURL: "https://env.example.com/hook", WebhookSecret: envSecret})
	c := e.LoggedIn(t)

	p := c.Get("/settings/notifications").Expect(http.StatusOK)
	if p.Value("webhook_url") != "" || !strings.HasPrefix(p.Text("webhook_url-state"), "set (env.example.com)") || p.TestID("from-env").Length() != 1 ||
		!strings.Contains(p.Text("webhook_secret-state"), "in the environment") || p.Text("slack_url-state") != "not set" {
		t.Fatalf("the page from the environment: %.2000s", p.HTML)
	}

	// An invalid form comes back with its errors and without the secrets typed.
	bad := c.Submit("/settings/notifications", url.Values{
		"webhook_url": {"file:///etc/passwd"}, "webhook_secret": {webhookSecret}, "slack_url": {slackURL},
		"smtp_host": {"smtp.example.com"}, "smtp_from": {"alerts@example.com"}, "smtp_to": {"ops@example.com"},
		"smtp_password": {smtpPassword}, "revoked_reminder": {"24h"}, "rotation_days": {"0"},
	}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("webhook_url") || bad.Value("smtp_host") != "smtp.example.com" || bad.Value("webhook_secret") != "" ||
		bad.Value("slack_url") != "" || bad.Value("smtp_password") != "" {
		t.Errorf("the failed form: %.2000s", bad.HTML)
	}

	form := url.Values{
		"webhook_url": {webhookURL}, "webhook_secret": {webhookSecret}, "slack_url": {slackURL},
		"smtp_host": {"smtp.example.com"}, "smtp_port": {"587"}, "smtp_username": {"alerts"}, "smtp_password": {smtpPassword},
		"smtp_from": {"alerts@example.com"}, "smtp_to": {"ops@example.com, sec@example.com"},
		"revoked_reminder": {"48h"}, "rotation_days": {"90"},
	}
	// Changing destinations and credentials needs the admin's password (issue 13, finding 4):
	// without it, or with a wrong one, nothing is stored.
	for _, pw := range []string{"", "not the password at all"} {
		form.Set("your_password", pw)
		refused := c.Submit("/settings/notifications", form)
		if refused.StatusCode != http.StatusUnprocessableEntity && refused.StatusCode != http.StatusUnauthorized || !refused.Marked("your_password") {
			t.Fatalf("password %q: status %d: %.1500s", pw, refused.StatusCode, refused.HTML)
		}
		if n.Config(context.Background()).SMTP.Host != "" {
			t.Fatalf("password %q: the settings were saved", pw)
		}
	}
	form.Set("your_password", AdminPassword)
	ok := c.Follow(c.Submit("/settings/notifications", form).ExpectRedirect("/settings/notifications"))
	if ok.Text("flash") != "Alert settings saved." || ok.TestID("from-env").Length() != 0 ||
		!strings.HasPrefix(ok.Text("slack_url-state"), "set (hooks.slack.com)") || ok.Value("revoked_reminder") != "2 days" ||
		!strings.HasPrefix(ok.Text("webhook_url-state"), "set (page.example.com)") {
		t.Errorf("after saving: %.3000s", ok.HTML)
	}
	for _, name := range []string{"webhook_url", "webhook_secret", "slack_url", "smtp_password"} {
		if in := ok.Find("#" + name); in.AttrOr("type", "") != "password" || in.AttrOr("value", "x") != "" {
			t.Errorf("%s is shown back: %v", name, in.Nodes)
		}
	}
	cfg := n.Config(context.Background())
	if cfg.WebhookSecret != webhookSecret || cfg.WebhookURL != webhookURL || cfg.SlackURL != slackURL || cfg.SMTP.Password != smtpPassword || cfg.RotationReminderDays != 90 {
		t.Errorf("stored config %+v", cfg)
	}
	es := e.auditEntries(t, "settings.change")
	if len(es) != 1 || es[0].Actor != AdminEmail || es[0].Target != "settings:notifications" ||
		!strings.Contains(es[0].Detail, "webhook secret") || !strings.Contains(es[0].Detail, "SMTP password") {
		t.Errorf("audit %+v", es)
	}
	for _, x := range es {
		for _, s := range []string{webhookSecret, slackURL, smtpPassword, "SLACK-TOKEN", "WEBHOOK-TOKEN"} {
			if strings.Contains(x.Detail, s) {
				t.Errorf("the audit trail holds a secret: %q", x.Detail)
			}
		}
	}
	// A reminder change alone asks for nothing: the password re-entry is fresh for 5 minutes, so
	// check from a new session.
	other := e.NewClient(t)
	other.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
	other.Get("/settings/notifications").Expect(http.StatusOK)
	other.Submit("/settings/notifications", url.Values{
		"smtp_host": {"smtp.example.com"}, "smtp_port": {"587"}, "smtp_username": {"alerts"},
		"smtp_from": {"alerts@example.com"}, "smtp_to": {"ops@example.com, sec@example.com"},
		"revoked_reminder": {"72h"}, "rotation_days": {"90"},
	}).ExpectRedirect("/settings/notifications")
	if cfg := n.Config(context.Background()); cfg.RevokedReminder != 72*time.Hour || cfg.SMTP.Password != smtpPassword || cfg.WebhookURL != webhookURL {
		t.Errorf("after a reminder change: %+v", cfg)
	}
	e.AssertNeverShown(t, webhookSecret, "SLACK-TOKEN-XYZ", smtpPassword, envSecret, "WEBHOOK-TOKEN")
	raw, err := e.DB.Setting(context.Background(), "notify_config")
	if err != nil || strings.Contains(string(raw), "WEBHOOK-TOKEN") || strings.Contains(string(raw), "page.example.com") {
		t.Errorf("the webhook URL is stored in clear (issue 13, finding 10): %s %v", raw, err)
	}
}

func TestAlertTestButtonAndDeliveryLog(t *testing.T) {
	good, got := hook(t, http.StatusOK)
	bad, _ := hook(t, http.StatusServiceUnavailable)
	const secret = "test-button-secret-0123456789"
	e, _ := newRecordsEnv(t, notify.Config{WebhookURL: good.URL, WebhookSecret: secret, SlackURL: bad.URL + "/services/x"})
	c := e.LoggedIn(t)
	p := c.Get("/settings/notifications").Expect(http.StatusOK)
	if _, disabled := p.TestID("test-email").Attr("disabled"); !disabled {
		t.Error("the email test is offered though email is not configured")
	}

	p = c.Follow(submitForm(t, c, p, `form:has([data-testid="test-webhook"])`, nil).ExpectRedirect("/settings/notifications"))
	if p.Text("flash") != "Test alert sent on the webhook." {
		t.Errorf("flash %q", p.Text("flash"))
	}
	select {
	case r := <-got:
		body, _ := io.ReadAll(r.Body)
		wh, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
		if err := wh.VerifyIgnoringTimestamp(body, r.Header); err != nil || r.Header.Get(notify.HeaderWebhookTimestamp) != "1740830400" {
			t.Errorf("the test webhook: %v, %v", err, r.Header)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the test webhook never arrived")
	}
	p = c.Follow(submitForm(t, c, p, `form:has([data-testid="test-slack"])`, nil))
	if f := p.Text("flash"); !strings.Contains(f, "failed: HTTP 503") || strings.Contains(f, "/services/x") {
		t.Errorf("flash %q", f)
	}
	if es := e.auditEntries(t, "notify.test"); len(es) != 2 || es[0].Target != "channel:slack" || !strings.HasPrefix(es[0].Detail, "failed") {
		t.Errorf("audit %+v", es)
	}

	log := c.Get("/deliveries").Expect(http.StatusOK)
	rows := log.TestID("delivery-row")
	if rows.Length() != 2 || rows.First().AttrOr("data-status", "") != "failed" || rows.Last().AttrOr("data-status", "") != "sent" {
		t.Fatalf("delivery log: %.2000s", log.HTML)
	}
	if n := c.Get("/deliveries?status=failed").TestID("delivery-row").Length(); n != 1 {
		t.Errorf("%d failed rows", n)
	}
	p = c.Follow(submitForm(t, c, log, `[data-testid="delivery-row"] form`, nil).ExpectRedirect("/deliveries"))
	if p.TestID("delivery-row").First().AttrOr("data-status", "") != "pending" {
		t.Errorf("after retry: %.1500s", p.HTML)
	}
}

// TestLegacySignatureCheckbox: the deprecated X-Staxkeys-* headers are a checkbox on the page,
// ticked when the environment turns them on, saved without the password (they move no
// destination), and sent beside the standard headers while ticked.
func TestLegacySignatureCheckbox(t *testing.T) {
	good, got := hook(t, http.StatusOK)
	const secret = "legacy-box-secret-0123456789"
	e, n := newRecordsEnv(t, notify.Config{WebhookURL: good.URL, WebhookSecret: secret, WebhookLegacySignature: true})
	c := e.LoggedIn(t)
	p := c.Get("/settings/notifications").Expect(http.StatusOK)
	if _, checked := p.Find("#webhook_legacy_signature").Attr("checked"); !checked {
		t.Fatalf("the box is not ticked though the environment turns the old headers on: %.1500s", p.HTML)
	}
	// The box unticked; the URL typed, as saving the page leaves the environment's behind.
	form := url.Values{"webhook_url": {good.URL}, "your_password": {AdminPassword}, "revoked_reminder": {"24h"}, "rotation_days": {"0"}}
	c.Submit("/settings/notifications", form).ExpectRedirect("/settings/notifications")
	if n.Config(context.Background()).WebhookLegacySignature {
		t.Error("unticking the box left the old headers on")
	}
	if es := e.auditEntries(t, "settings.change"); len(es) != 1 || !strings.Contains(es[0].Detail, "legacy webhook signature") {
		t.Errorf("audit %+v", es)
	}
	p = c.Get("/settings/notifications").Expect(http.StatusOK)
	if _, checked := p.Find("#webhook_legacy_signature").Attr("checked"); checked {
		t.Error("the box is ticked after saving it unticked")
	}
	p = c.Follow(submitForm(t, c, p, `form:has([data-testid="test-webhook"])`, nil).ExpectRedirect("/settings/notifications"))
	select {
	case r := <-got:
		if r.Header.Get(notify.HeaderSignature) != "" || r.Header.Get(notify.HeaderWebhookSignature) == "" {
			t.Errorf("headers %v", r.Header)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the test webhook never arrived")
	}
}

// TestOnCallOnAlertsPage: the PagerDuty and Opsgenie settings are on the page, their keys only
// as set, and "Send test" opens and resolves a test incident.
func TestOnCallOnAlertsPage(t *testing.T) {
	pd, got := hook(t, http.StatusAccepted)
	const routingKey, genieKey = "PDROUTINGKEY0123456789abcdefABCD", "0b7d1c5e-2f4a-4e8b-9c3d-6a1f2e3b4c5d"
	e, n := newRecordsEnv(t, notify.Config{PagerDutyRoutingKey: routingKey, PagerDutyURL: pd.URL})
	c := e.LoggedIn(t)
	p := c.Get("/settings/notifications").Expect(http.StatusOK)
	if !strings.Contains(p.Text("pagerduty_routing_key-state"), "in the environment") || p.Value("pagerduty_url") != pd.URL ||
		p.Text("opsgenie_api_key-state") != "not set" || strings.Contains(p.HTML, routingKey) {
		t.Fatalf("the page: %.3000s", p.HTML)
	}
	if _, disabled := p.TestID("test-opsgenie").Attr("disabled"); !disabled {
		t.Error("the Opsgenie test is offered though Opsgenie is not configured")
	}
	p = c.Follow(submitForm(t, c, p, `form:has([data-testid="test-pagerduty"])`, nil).ExpectRedirect("/settings/notifications"))
	if p.Text("flash") != "Test alert sent on PagerDuty." {
		t.Errorf("flash %q", p.Text("flash"))
	}
	for _, want := range []string{`"event_action":"trigger"`, `"event_action":"resolve"`} {
		select {
		case r := <-got:
			body, _ := io.ReadAll(r.Body)
			if r.URL.Path != "/v2/enqueue" || !strings.Contains(string(body), want) || !strings.Contains(string(body), `"routing_key":"`+routingKey+`"`) {
				t.Errorf("PagerDuty got %s %s", r.URL.Path, body)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("PagerDuty got nothing")
		}
	}

	form := url.Values{"pagerduty_url": {pd.URL}, "opsgenie_api_key": {genieKey}, "opsgenie_url": {"https://api.eu.opsgenie.com"},
		"revoked_reminder": {"24h"}, "rotation_days": {"0"}}
	if refused := c.Submit("/settings/notifications", form); !refused.Marked("your_password") {
		t.Fatalf("a new Opsgenie key saved without the password: %d", refused.StatusCode)
	}
	form.Set("your_password", AdminPassword)
	c.Submit("/settings/notifications", form).ExpectRedirect("/settings/notifications")
	cfg := n.Config(context.Background())
	if cfg.OpsgenieAPIKey != genieKey || cfg.OpsgenieURL != "https://api.eu.opsgenie.com" || cfg.PagerDutyRoutingKey != routingKey {
		t.Errorf("saved %v", cfg)
	}
	p = c.Get("/settings/notifications").Expect(http.StatusOK)
	if strings.Contains(p.HTML, genieKey) || !strings.HasPrefix(p.Text("opsgenie_api_key-state"), "set") {
		t.Errorf("the page after saving: %.3000s", p.HTML)
	}
}

// TestAlertsFormOnePass: one save names every faulty field, and the secrets typed are kept
// (sealed, never shown) for the next save. Before, the first save flagged only the port and
// the reminder, the URL, secret, sender and days only the second, and the secrets had to be
// typed again each time.
func TestAlertsFormOnePass(t *testing.T) {
	e, n := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	const slack = "http://127.0.0.1:9/services/T000/B000/slack-held-secret"
	const password = "smtp-password-held-secret"
	form := url.Values{
		"webhook_url":      {"hooks.example.com/staxkeys"},
		"webhook_secret":   {"short"},
		"slack_url":        {slack},
		"smtp_host":        {"127.0.0.1"},
		"smtp_port":        {"abc"},
		"smtp_password":    {password},
		"smtp_from":        {"alerts@"},
		"smtp_to":          {"ops@example.com"},
		"revoked_reminder": {"soon"},
		"rotation_days":    {"-5"},
		"your_password":    {AdminPassword},
	}
	bad := c.Submit("/settings/notifications", form).Expect(http.StatusUnprocessableEntity)
	for _, f := range []string{"webhook_url", "webhook_secret", "smtp_port", "smtp_from", "revoked_reminder", "rotation_days"} {
		if !bad.Marked(f) {
			t.Errorf("the first save did not mark %s", f)
		}
	}
	for _, f := range []string{"slack_url", "smtp_password", "smtp_host"} {
		if bad.Marked(f) {
			t.Errorf("%s marked, but it is fine", f)
		}
	}
	if strings.Contains(bad.HTML, slack) || strings.Contains(bad.HTML, password) {
		t.Fatal("a secret is shown back")
	}
	held := bad.Find(`input[name="held_secrets"]`).AttrOr("value", "")
	if held == "" || !strings.Contains(bad.Text("slack_url-state"), "kept") || !strings.Contains(bad.Text("smtp_password-state"), "kept") {
		t.Fatalf("the typed secrets are not held: held %q, states %q %q", held, bad.Text("slack_url-state"), bad.Text("smtp_password-state"))
	}

	// Fixed, with the secret fields left empty: the held ones are saved.
	fixed := url.Values{
		"held_secrets": {held}, "smtp_host": {"127.0.0.1"}, "smtp_port": {"587"}, "smtp_from": {"alerts@example.com"},
		"smtp_to": {"ops@example.com"}, "revoked_reminder": {"3 days"}, "rotation_days": {"90"}, "your_password": {AdminPassword},
	}
	c.Submit("/settings/notifications", fixed).ExpectRedirect("/settings/notifications")
	if got := c.Get("/settings/notifications").Value("revoked_reminder"); got != "3 days" {
		t.Errorf("the reminder period reads %q, want it in words", got)
	}
	cfg := n.Config(context.Background())
	if cfg.RevokedReminder != 72*time.Hour {
		t.Errorf("reminder %v, want 3 days", cfg.RevokedReminder)
	}
	if cfg.SlackURL != slack || cfg.SMTP.Password != password {
		t.Errorf("saved slack %v, password %v: the held secrets were not used", cfg.SlackURL == slack, cfg.SMTP.Password == password)
	}
	e.AssertNeverShown(t, slack, password)
}

// TestAlertsPageSaysWhenAlertsCannotLink: without STAXKEYS_PUBLIC_URL alerts carry no link
// back to the key; the page says so and how to fix it, rather than leaving it to be found out.
func TestAlertsPageSaysWhenAlertsCannotLink(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	p := e.LoggedIn(t).Get("/settings/notifications").Expect(http.StatusOK)
	if !strings.Contains(p.Text("no-public-url"), "STAXKEYS_PUBLIC_URL") {
		t.Errorf("no word on the missing public URL: %q", p.Text("no-public-url"))
	}
}
