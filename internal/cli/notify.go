package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/notify"
)

// newNotifier builds the alerting from the configuration. The environment's settings are the
// starting point; what an admin saves on the alerts page overrides them.
func newNotifier(cfg config.Config, data *opened, log *slog.Logger) (*notify.Notifier, error) {
	env := notify.Config{
		WebhookURL:    cfg.WebhookURL,
		WebhookSecret: cfg.WebhookSecret,
		SlackURL:      cfg.SlackWebhookURL,
		SMTP: notify.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			From: cfg.SMTPFrom, To: notify.SplitAddresses(cfg.SMTPTo),
		},
		RevokedReminder:      cfg.RevokedReminder,
		RotationReminderDays: cfg.RotationReminderDays,
	}
	if err := env.Validate(); err != nil {
		var ve *domain.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		var msgs []string
		for field, msg := range ve.Fields {
			msgs = append(msgs, envNames[field]+": "+msg)
		}
		slices.Sort(msgs)
		return nil, configError(errors.New("config: " + strings.Join(msgs, "; ")))
	}
	allow, err := notify.ParsePolicy(cfg.AlertAllow)
	if err != nil {
		return nil, configError(err)
	}
	log.Info("alert destinations", "policy", allow.String())
	for _, d := range []struct{ env, target string }{
		{"STAXKEYS_WEBHOOK_URL", hostOf(env.WebhookURL)}, {"STAXKEYS_SLACK_WEBHOOK_URL", hostOf(env.SlackURL)},
		{"STAXKEYS_SMTP_HOST", env.SMTP.Host},
	} {
		if d.target != "" && allow.Check(d.target) != nil {
			// Named by variable only: a URL may carry a token.
			log.Warn("an alert destination is an internal address, which alerts may not reach; allow it with STAXKEYS_ALERT_ALLOW",
				"variable", d.env)
		}
	}
	return notify.New(data.db, data.keys, notify.Options{
		Env: env, Log: log, UserAgent: "staxkeys/" + version(), Allow: allow,
		GroupWindow: cfg.AlertGroupWindow, PublicURL: cfg.PublicURL, Audit: data.trail,
	}), nil
}

// hostOf is a URL's host, or "" when there is none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// envNames maps the alert settings' form fields to their variables, for error messages.
var envNames = map[string]string{
	"webhook_url": "STAXKEYS_WEBHOOK_URL", "webhook_secret": "STAXKEYS_WEBHOOK_SECRET",
	"slack_url": "STAXKEYS_SLACK_WEBHOOK_URL", "smtp_host": "STAXKEYS_SMTP_HOST", "smtp_port": "STAXKEYS_SMTP_PORT",
	"smtp_from": "STAXKEYS_SMTP_FROM", "smtp_to": "STAXKEYS_SMTP_TO",
	"revoked_reminder": "STAXKEYS_REVOKED_REMINDER", "rotation_days": "STAXKEYS_ROTATION_REMINDER_DAYS",
}

// runNotifier runs the delivery worker until ctx ends; done closes when it has.
func runNotifier(ctx context.Context, n *notify.Notifier, log *slog.Logger) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := n.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("alert delivery stopped", slog.String("error", err.Error()))
		}
	}()
	return ch
}
