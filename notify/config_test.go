package notify_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
)

// TestSettingsOverrideEnvAndSealSecrets: the environment supplies the settings until the page
// saves its own; secrets are stored sealed, never shown back, kept when left empty, removed
// on request, and follow a master-key rotation.
func TestSettingsOverrideEnvAndSealSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	env := notify.Config{WebhookURL: "https://env.example.com/hook", WebhookSecret: "env-secret-0123456789",
		RevokedReminder: 24 * time.Hour}
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: env, Clock: clocktest.NewFake(t0)})

	v := n.View(ctx)
	if v.Saved || v.Form.WebhookURL != "" || v.Form.WebhookSecret != "" || v.Form.RevokedReminder != "1 day" ||
		v.Secrets["webhook_secret"] != (notify.SecretState{Set: true, Source: notify.FromEnv}) || !v.Configured[notify.Webhook] ||
		v.Secrets["webhook_url"] != (notify.SecretState{Set: true, Source: notify.FromEnv, Hint: "env.example.com"}) {
		t.Fatalf("view from the environment: %+v", v)
	}

	const slackURL = "https://hooks.slack.com/services/T000/B000/SLACKTOKEN"
	const webhookURL = "https://page.example.com/hook/WEBHOOKTOKEN"
	const smtpPassword = "smtp-password-SEALED"
	changed, err := n.Save(ctx, notify.Form{
		WebhookURL: webhookURL, SlackURL: slackURL,
		SMTPHost: "smtp.example.com", SMTPUsername: "alerts", SMTPPassword: smtpPassword,
		SMTPFrom: "staxkeys@example.com", SMTPTo: "ops@example.com; sec@example.com",
		RevokedReminder: "72h", RotationDays: "90",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"webhook URL", "Slack webhook URL", "SMTP host", "SMTP port", "SMTP username", "SMTP password",
		"SMTP sender", "SMTP recipients", "revoked-key reminder", "rotation reminder"}
	if !slices.Equal(changed, want) {
		t.Errorf("changed %q, want %q", changed, want)
	}
	cfg := n.Config(ctx)
	if cfg.WebhookURL != webhookURL || cfg.WebhookSecret != env.WebhookSecret || cfg.SlackURL != slackURL ||
		cfg.SMTP.Port != notify.DefaultSMTPPort || cfg.SMTP.Password != smtpPassword || len(cfg.SMTP.To) != 2 ||
		cfg.RevokedReminder != 72*time.Hour || cfg.RotationReminderDays != 90 {
		t.Errorf("config after saving: %+v", cfg)
	}
	v = n.View(ctx)
	if !v.Saved || v.Form.SlackURL != "" || v.Form.SMTPPassword != "" ||
		v.Secrets["slack_url"] != (notify.SecretState{Set: true, Source: notify.FromSettings, Hint: "hooks.slack.com"}) ||
		v.Secrets["webhook_secret"].Source != notify.FromEnv || v.Form.WebhookURL != "" ||
		v.Secrets["webhook_url"] != (notify.SecretState{Set: true, Source: notify.FromSettings, Hint: "page.example.com"}) {
		t.Errorf("view after saving: %+v", v)
	}
	for _, name := range []string{"notify_slack_url", "notify_smtp_password", "notify_webhook_url", "notify_config"} {
		raw, err := e.db.Setting(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("SLACKTOKEN")) || bytes.Contains(raw, []byte(smtpPassword)) || bytes.Contains(raw, []byte("WEBHOOKTOKEN")) {
			t.Errorf("setting %s holds a secret in the clear", name)
		}
	}
	if s := cfg.String(); bytes.Contains([]byte(s), []byte("SLACKTOKEN")) || bytes.Contains([]byte(s), []byte(env.WebhookSecret)) {
		t.Errorf("Config.String shows a secret: %s", s)
	}

	// Saving again with the secrets left empty keeps them; Clear removes one, even the
	// environment's.
	if _, err := n.Save(ctx, notify.Form{ClearWebhookSecret: true,
		SMTPHost: "smtp.example.com", SMTPPort: "2525", SMTPFrom: "staxkeys@example.com", SMTPTo: "ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	cfg = n.Config(ctx)
	if cfg.WebhookSecret != "" || cfg.WebhookURL != webhookURL || cfg.SlackURL != slackURL || cfg.SMTP.Password != smtpPassword || cfg.SMTP.Port != 2525 ||
		cfg.RevokedReminder != 0 || cfg.RotationReminderDays != 0 {
		t.Errorf("config after the second save: %+v", cfg)
	}

	// Master-key rotation re-seals them; the old keyring no longer opens them.
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	newKeys := secret.NewKeyring(mk)
	if _, err := e.db.ResealAll(ctx, e.keys, newKeys); err != nil {
		t.Fatal(err)
	}
	if got := notify.New(e.db, newKeys, notify.Options{Allow: allowLoopback}).Config(ctx); got.SlackURL != slackURL || got.SMTP.Password != smtpPassword || got.WebhookURL != webhookURL {
		t.Errorf("after rotation: %+v", got)
	}
	if got := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback}).View(ctx); got.Secrets["slack_url"].Source != notify.FromUnreadable {
		t.Errorf("the old key still opens the Slack URL: %+v", got.Secrets)
	}
}

func TestSettingsValidation(t *testing.T) {
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback})
	tests := []struct {
		name  string
		form  notify.Form
		field string
	}{
		{"file URL", notify.Form{WebhookURL: "file:///etc/passwd"}, "webhook_url"},
		{"gopher URL", notify.Form{SlackURL: "gopher://127.0.0.1:25/"}, "slack_url"},
		{"relative URL", notify.Form{WebhookURL: "/hook"}, "webhook_url"},
		{"short secret", notify.Form{WebhookSecret: "short"}, "webhook_secret"},
		{"bad port", notify.Form{SMTPHost: "smtp.example.com", SMTPPort: "99999", SMTPFrom: "a@example.com", SMTPTo: "b@example.com"}, "smtp_port"},
		{"no recipient", notify.Form{SMTPHost: "smtp.example.com", SMTPFrom: "a@example.com"}, "smtp_to"},
		{"bad sender", notify.Form{SMTPHost: "smtp.example.com", SMTPFrom: "Alerts <a@example.com>\r\nBcc: x@example.com", SMTPTo: "b@example.com"}, "smtp_from"},
		{"host with port", notify.Form{SMTPHost: "smtp.example.com:25", SMTPFrom: "a@example.com", SMTPTo: "b@example.com"}, "smtp_host"},
		{"reminder too short", notify.Form{RevokedReminder: "5m"}, "revoked_reminder"},
		{"reminder not a duration", notify.Form{RevokedReminder: "three days"}, "revoked_reminder"},
		{"rotation not a number", notify.Form{RotationDays: "ninety"}, "rotation_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.Save(context.Background(), tt.form)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
				t.Errorf("Save: %v, want a message on %s", err, tt.field)
			}
		})
	}
	if _, err := e.db.Setting(context.Background(), "notify_config"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an invalid form was stored: %v", err)
	}
}
